"""Decoding response bodies: the declared charset, a BOM, a meta tag, UTF-8, then cp1252."""

from __future__ import annotations

import codecs
import re

__all__ = ["decode"]

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.I)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


def decode(body: bytes, charset: str | None = None) -> str:
    """Decode ``body``: the declared charset, a BOM, a ``<meta charset>``, UTF-8, then cp1252.

    An unknown or wrong declared charset falls through to the next guess; the last
    guess decodes anything, so this never raises.

    Example:
        >>> decode("café".encode("latin-1"), "iso-8859-1")
        'café'
        >>> decode(b'<meta charset="windows-1252"><p>\\x93hi\\x94</p>')[-8:]
        '“hi”</p>'
        >>> decode("naïve".encode(), "no-such-charset")
        'naïve'
    """
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body.decode(name, errors="replace")
    meta = _META_CHARSET.search(body[:4096])
    guesses = [charset, meta.group(1).decode("ascii", "ignore") if meta else None, "utf-8"]
    for guess in guesses:
        if guess:
            try:
                return body.decode(guess)
            except (LookupError, ValueError):  # unknown or malformed name, or wrong guess
                continue
    return body.decode("cp1252", errors="replace")
