"""Response bodies to text: charset detection, and dispatch on HTML, plain text, PDF or other."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from webresearch.crawlers.charset import decode
from webresearch.crawlers.extract import html_to_text

__all__ = ["Converted", "convert", "decode", "media_type"]

_HTML_SNIFF = re.compile(rb"\s*(<!doctype html|<html|<head|<body|<title|<p\b|<div|<!--)", re.I)
_TEXT_TYPES = ("text/plain", "text/markdown", "text/csv", "application/json", "text/xml",
               "application/xml")
_HTML_TYPES = ("text/html", "application/xhtml+xml")


@dataclass(frozen=True, slots=True)
class Converted:
    """A body turned into text, or the reason it could not be (``error``)."""

    title: str = ""
    text: str = ""
    links: tuple[str, ...] = ()
    error: str | None = None


def media_type(content_type: str | None) -> tuple[str, str | None]:
    """Split a Content-Type header into the lower-case media type and its charset.

    Example:
        >>> media_type('text/HTML; Charset="ISO-8859-1"')
        ('text/html', 'ISO-8859-1')
        >>> media_type(None)
        ('', None)
    """
    if not content_type:
        return "", None
    kind, _, params = content_type.partition(";")
    match = re.search(r"charset\s*=\s*[\"']?([^\"';\s]+)", params, re.I)
    return kind.strip().lower(), match.group(1) if match else None


_CONTROLS = bytes([*range(9), *range(14, 32)])


def _is_binary(body: bytes) -> bool:
    head = body[:2048]
    if b"\x00" in head:
        return True
    controls = len(head) - len(head.translate(None, _CONTROLS))
    return bool(head) and controls / len(head) > 0.1


def convert(body: bytes, content_type: str | None, *, url: str = "") -> Converted:
    """Turn a response body into readable text, according to its type and content.

    Example:
        >>> convert(b"<title>T</title><p>Hello</p>", "text/html").text
        'Hello'
        >>> convert(b"\\x00\\x01\\x02", "text/html").error
        'the response is binary data, not text'
        >>> convert(b"GIF89a...", "image/gif").error
        "pages of type 'image/gif' cannot be read as text"
    """
    kind, charset = media_type(content_type)
    if kind == "application/pdf" or body.startswith(b"%PDF-"):
        return _pdf(body)
    textual = not kind or kind in _HTML_TYPES or kind.startswith((*_TEXT_TYPES, "text/"))
    if not textual:
        return Converted(error=f"pages of type {kind!r} cannot be read as text")
    if _is_binary(body):
        return Converted(error="the response is binary data, not text")
    if kind in _HTML_TYPES or (not kind and _HTML_SNIFF.match(body)):
        out = html_to_text(decode(body, charset), base_url=url)
        return Converted(out.title, out.text, out.links)
    return Converted(text=decode(body, charset).strip())


def _pdf(body: bytes) -> Converted:
    try:
        from pypdf import PdfReader  # noqa: PLC0415 - optional dependency
        from pypdf.errors import PyPdfError  # noqa: PLC0415
    except ImportError:
        return Converted(error="this is a PDF; reading PDFs needs `pip install -e '.[pdf]'` "
                               "(from the checkout)")
    try:
        reader = PdfReader(io.BytesIO(body))
        metadata = reader.metadata
        title = str(metadata.get("/Title") or "") if metadata is not None else ""
        text = "\n".join((page.extract_text() or "").strip() for page in reader.pages)
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        return Converted(error=f"the PDF could not be read ({type(exc).__name__})")
    return Converted(title=title, text=text.strip())
