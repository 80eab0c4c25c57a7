"""Bodies to text: charsets, HTML, plain text, PDF, and what cannot be read."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webresearch.crawlers.content import convert, decode, media_type
from webresearch.sim.faults import _pdf_bytes

TEXT = "Café Zoë naïve — “quoted”"


@pytest.mark.parametrize(("body", "charset"), [
    (TEXT.encode("utf-8"), "utf-8"),
    (TEXT.encode("cp1252"), "windows-1252"),
    (TEXT.encode("cp1252"), "utf-8"),  # declared wrong: falls back
    (TEXT.encode("utf-8"), None),
    (TEXT.encode("cp1252"), None),
    (TEXT.encode("utf-8"), "x-unknown"),
    (b"\xef\xbb\xbf" + TEXT.encode("utf-8"), None),
    (TEXT.encode("utf-16"), None),
], ids=["utf8", "cp1252", "wrong", "none-utf8", "none-cp1252", "unknown", "bom8", "bom16"])
def test_decode(body: bytes, charset: str | None) -> None:
    assert decode(body, charset) == TEXT


def test_meta_charset_wins_over_guessing() -> None:
    body = b'<html><head><meta charset="windows-1252"></head><p>' + TEXT.encode("cp1252")
    assert TEXT in decode(body)


def test_convert_dispatches_on_type_and_content() -> None:
    assert convert(b"<p>Hi <b>there</b></p>", "text/html; charset=utf-8").text == "Hi there"
    assert convert(b"<!doctype html><p>sniffed</p>", None).text == "sniffed"
    assert convert(b"a <b> plain\n", "text/plain").text == "a <b> plain"
    assert convert(b'{"a": 1}', "application/json").text == '{"a": 1}'
    assert convert(_pdf_bytes("Hi PDF"), "application/pdf").text == "Hi PDF"
    assert convert(_pdf_bytes("Hi PDF"), "application/octet-stream").text == "Hi PDF"
    assert (convert(b"%PDF-1.4 garbage", None).error or "").startswith("the PDF could not be read")
    assert convert(b"\x89PNG\r\n", "image/png").error == (
        "pages of type 'image/png' cannot be read as text")
    assert convert(bytes(range(256)), "text/html").error == "the response is binary data, not text"
    assert media_type("Text/Plain;charset=UTF-8") == ("text/plain", "UTF-8")


@given(st.binary(max_size=300), st.none() | st.text(max_size=20))
def test_decode_never_raises(body: bytes, charset: str | None) -> None:
    assert isinstance(decode(body, charset), str)  # a NUL in the name included


@given(st.binary(max_size=300), st.none() | st.text(max_size=40))
def test_convert_never_raises(body: bytes, content_type: str | None) -> None:
    out = convert(body, content_type)
    assert out.error is None or not out.text
