"""A key echoed in another spelling is redacted: cut short, any case, spaced out, encoded.

The oracle decodes the output with the standard library (``unquote`` and
``html.unescape`` up to four times, ``base64`` also with line breaks taken out,
``bytes.fromhex``, bytes read as UTF-16 too), every second, third and fourth character
and the letters and digits alone, and looks for any 12-character run of the key in
every decoding.
"""

from __future__ import annotations

import base64
import binascii
import html
import logging
import re
import string
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import quote, unquote

import pytest
from aiohttp import web
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import webresearch.net.secrets as secrets_module
from webresearch.net.secrets import redact, register_secret

WINDOW = 12
KEYS = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=12, max_size=48)
SHORT_KEYS = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=8,
                     max_size=11).filter(lambda k: sum(c.isalnum() for c in k) >= 8)
SEPARATORS = " -._:/|,;+~*\t\n"


@contextmanager
def only_secrets(*values: str) -> Iterator[None]:
    """Redact exactly ``values`` inside (the process's other secrets set aside)."""
    saved = secrets_module._REGISTRY
    secrets_module._REGISTRY = secrets_module._Registry()
    try:
        for value in values:
            register_secret(value)
        yield
    finally:
        secrets_module._REGISTRY = saved


# the oracle ---------------------------------------------------------------------------

def _unescape(text: str) -> str:
    """JSON's and JavaScript's ``\\uXXXX`` and ``\\xHH`` escapes decoded."""
    return re.sub(r"\\u([0-9A-Fa-f]{4})|\\x([0-9A-Fa-f]{2})",
                  lambda m: chr(int(m[1] or m[2], 16)), text)


def _b64_runs(text: str) -> Iterator[str]:
    for found in re.findall(r"[A-Za-z0-9+/_-]{8,}=*", text):  # '=' pads a run's end only
        run = found.replace("-", "+").replace("_", "/").rstrip("=")
        for offset in range(4):
            chars = run[offset:]
            chars = chars[:len(chars) - (len(chars) % 4 == 1)]
            try:
                yield base64.b64decode(chars + "=" * (-len(chars) % 4)).decode("latin-1")
            except binascii.Error:
                continue


def _hex_runs(text: str) -> Iterator[str]:
    for run in re.findall(r"[0-9A-Fa-f]{8,}", text):
        for phase in (0, 1):
            digits = run[phase:]
            yield bytes.fromhex(digits[:len(digits) // 2 * 2]).decode("latin-1")


def _as_utf16(octets: str) -> list[str]:
    """Latin-1 text of bytes read as UTF-16 in either order, at either byte phase."""
    data = octets.encode("latin-1")
    return [data[phase:].decode(order, "ignore") for phase in (0, 1)
            for order in ("utf-16-le", "utf-16-be")]


def _unwrapped(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9+/_=-]", "", text)


def decodings(text: str) -> list[str]:
    """``text`` as every spelling the redaction must see through would decode it."""
    plain = {text, _unescape(text)}
    for _ in range(4):
        plain |= {f(d) for d in plain for f in (unquote, html.unescape)}
    alnum = {"".join(c for c in d if c.isascii() and c.isalnum()) for d in plain}
    spaced = {d[phase::step] for d in plain for step in (2, 3, 4) for phase in range(step)}
    packed = {b for d in plain for b in (*_b64_runs(d), *_b64_runs(_unwrapped(d)))}
    packed |= {h for d in plain | alnum for h in _hex_runs(d)}
    packed |= {u for b in packed for u in _as_utf16(b)}
    return [*plain, *alnum, *spaced, *packed]


def leaks(text: str, key: str) -> list[str]:
    """The runs of ``key`` (12 characters, or all of a shorter key) in any decoding."""
    width = min(WINDOW, len(key))
    runs = {key.lower()[i:i + width] for i in range(len(key) - width + 1)}
    alnum_key = "".join(c for c in key.lower() if c.isalnum())
    alnum_width = min(WINDOW, len(alnum_key))
    runs |= {alnum_key[i:i + alnum_width] for i in range(len(alnum_key) - alnum_width + 1)
             if alnum_width >= 8}
    return sorted({run for decoded in decodings(text) for run in runs if run in decoded.lower()})


# spellings of a key --------------------------------------------------------------------

def _entities(text: str, draw: st.DrawFn) -> str:
    form = draw(st.sampled_from(["&#{d};", "&#{d}", "&#x{x};", "&#X{X};", "&#00{d};",
                                 "&#x00{x};", "mixed"]))
    if form == "mixed":
        return "".join(c if draw(st.booleans()) else f"&#{ord(c)};" for c in text)
    out = "".join(form.format(d=ord(c), x=format(ord(c), "x"), X=format(ord(c), "X"))
                  for c in text)
    return out + ";" if form == "&#{d}" else out  # else a digit after it would join the last


def _spaced(text: str, draw: st.DrawFn) -> str:
    width = draw(st.integers(1, 3))
    separator = st.text(alphabet=SEPARATORS, min_size=width, max_size=width)
    if draw(st.booleans()):
        return draw(separator).join(text)
    seps = draw(st.lists(separator, min_size=len(text), max_size=len(text)))
    return "".join(c + s for c, s in zip(text, seps, strict=True))[:-width]


def _b64(text: str, draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from([b"", b"Bearer ", b"X-API-KEY: ", b"user:", b"a", b"ab"]))
    data = prefix + text.encode() + draw(st.sampled_from([b"", b"\n", b"xyz"]))
    encode = draw(st.sampled_from([base64.b64encode, base64.urlsafe_b64encode]))
    out = encode(data).decode()
    out = out.rstrip("=") if draw(st.booleans()) else out
    if draw(st.booleans()):  # wrapped over lines, as MIME and PEM write it
        width, newline = draw(st.integers(4, 76)), draw(st.sampled_from(["\n", "\r\n", " "]))
        out = newline.join(out[i:i + width] for i in range(0, len(out), width))
    return out


def _utf16_packed(text: str, draw: st.DrawFn) -> str:
    data = text.encode(draw(st.sampled_from(["utf-16", "utf-16-le", "utf-16-be"])))
    return data.hex() if draw(st.booleans()) else base64.b64encode(data).decode()


def _entities_padded(text: str, draw: st.DrawFn) -> str:
    zeros = "0" * draw(st.integers(8, 40))
    hexa = draw(st.booleans())
    return "".join(f"&#x{zeros}{ord(c):x};" if hexa else f"&#{zeros}{ord(c)};" for c in text)


SPELLINGS: dict[str, Callable[[str, st.DrawFn], str]] = {
    "raw": lambda k, d: k,
    "upper": lambda k, d: k.upper(),
    "swapcase": lambda k, d: k.swapcase(),
    "quote": lambda k, d: quote(k, safe=""),
    "percent-every-char": lambda k, d: "".join(f"%{b:02X}" for b in k.encode()),
    "percent-every-char-lower": lambda k, d: "".join(f"%{b:02x}" for b in k.encode()),
    "percent-twice": lambda k, d: "".join(f"%25{b:02X}" for b in k.encode()),
    "percent-thrice": lambda k, d: "".join(f"%2525{b:02X}" for b in k.encode()),
    "percent-four": lambda k, d: "".join(f"%252525{b:02X}" for b in k.encode()),
    "entities-padded": _entities_padded,
    "utf16": _utf16_packed,
    "json-escapes": lambda k, d: "".join(f"\\u{ord(c):04x}" for c in k),
    "entities": _entities,
    "spaced": _spaced,
    "spaced-upper": lambda k, d: _spaced(k.upper(), d),
    "base64": _b64,
    "hex": lambda k, d: k.encode().hex(),
    "HEX": lambda k, d: k.encode().hex().upper(),
    "hex-separated": lambda k, d: d(st.sampled_from(": -")).join(f"{b:02x}" for b in k.encode()),
}


@st.composite
def echoes(draw: st.DrawFn, keys: st.SearchStrategy[str] = KEYS) -> tuple[str, str, str]:
    """A key, a spelling's name and a text that echoes (a run of) the key in it."""
    key = draw(keys)
    part = key
    if len(key) > WINDOW and draw(st.booleans()):  # the key minus a few characters
        start = draw(st.integers(0, len(key) - WINDOW))
        part = key[start:draw(st.integers(start + WINDOW, len(key)))]
    name = draw(st.sampled_from(sorted(SPELLINGS)))
    echoed = SPELLINGS[name](part, draw)
    before, after = draw(st.text(max_size=20)), draw(st.text(max_size=20))
    return key, name, before + echoed + after


# tests -----------------------------------------------------------------------------

@settings(max_examples=1500, deadline=None)
@given(echo=echoes())
def test_no_spelling_of_a_key_survives_redaction(echo: tuple[str, str, str]) -> None:
    key, name, text = echo
    assert leaks(text, key)  # the oracle sees the echo
    with only_secrets(key):
        out = redact(text)
    assert leaks(out, key) == [], (name, out)


@settings(max_examples=400, deadline=None)
@given(echo=echoes(SHORT_KEYS))
def test_a_short_key_is_redacted_whole_in_every_spelling(echo: tuple[str, str, str]) -> None:
    key, name, text = echo
    with only_secrets(key):
        out = redact(text)
    assert leaks(out, key) == [], (name, out)


@settings(max_examples=500, deadline=None)
@given(key=KEYS, text=st.text(max_size=200))
def test_text_without_the_key_comes_back_unchanged(key: str, text: str) -> None:
    assume(not leaks(text, key))
    with only_secrets(key):
        assert redact(text) == text


BODIES = [
    '{{"error": {{"code": 401, "message": "invalid token {other}"}}}}',
    "<html><body><h1>403</h1><p>Key &#39;{other}&#39; is not allowed</p></body></html>",
    "GET /search?q=caf%C3%A9&api_key={other}&page=2 HTTP/1.1",
    "Authorization: Basic {b64}\nX-Request-Id: {hex}",
]


@settings(max_examples=300, deadline=None)
@given(key=st.binary(min_size=9, max_size=32).map(lambda b: base64.urlsafe_b64encode(b).decode()),
       other=st.binary(min_size=9, max_size=32), body=st.sampled_from(BODIES))
def test_error_bodies_without_the_key_come_back_unchanged(key: str, other: bytes,
                                                          body: str) -> None:
    text = body.format(other=base64.urlsafe_b64encode(other).decode(),
                       b64=base64.b64encode(b"user:" + other).decode(), hex=other.hex())
    assume(not leaks(text, key))
    with only_secrets(key):
        assert redact(text) == text


def test_an_echo_in_a_search_error_body_is_redacted() -> None:
    key = "sk-live-0123456789abcdef"
    body = (f'{{"error": "bad key {key[:-3]}", "echo": "{base64.b64encode(key.encode()).decode()}",'
            f' "html": "{"".join(f"&#x{ord(c):x};" for c in key)}", "hex": "{key.encode().hex()}",'
            f' "spaced": "{" ".join(key.upper())}", "url": "{quote(key, safe="")}"}}')
    with only_secrets(key):
        out = redact(body)
    assert leaks(out, key) == []
    assert out.startswith('{"error": "bad key ***", "echo": "***')


def test_redaction_stays_linear_in_the_text() -> None:
    key = "sk-live-0123456789abcdef"
    texts = {"prose": "the quick brown fox jumps over the lazy dog " * 6000,
             "near-misses": "sk-live-0123456789abcdeX " * 10000,
             "entities": "&#115;&#107;&#45;" * 15000,
             "base64": "QUJD" * 60000, "hex": "0123456789abcdef" * 15000,
             "repeats": "s" * 250000}
    with only_secrets(key, "another-secret-value-42"):
        for name, text in texts.items():
            started = time.perf_counter()
            redact(text)
            assert time.perf_counter() - started < 20.0, name  # about 1 s on a loaded laptop


def test_a_search_server_echoing_the_key_in_every_spelling_leaks_none(
        caplog: pytest.LogCaptureFixture) -> None:
    from tests.conftest import serve_app
    from tests.crawlers.conftest import FAST_RETRY, LOOPBACK
    from webresearch.crawlers.live import LiveWeb, LiveWebConfig
    from webresearch.net.http import HttpConfig

    caplog.set_level(logging.DEBUG)
    key = "sk-echoed-0123456789-abcdef"

    async def echo(request: web.Request) -> web.Response:
        got = request.headers["X-API-KEY"]
        spellings = [got[2:-2], got.upper(), " ".join(got), quote(got, safe=""),
                     "".join(f"%{b:02X}" for b in got.encode()),
                     "".join(f"&#{ord(c)};" for c in got), "".join(f"&#x{ord(c):x};" for c in got),
                     base64.b64encode(f"X-API-KEY: {got}".encode()).decode(),
                     base64.urlsafe_b64encode(f"Bearer {got}".encode()).decode(),
                     got.encode().hex(), got.encode().hex().upper()]
        return web.json_response({"message": "bad key: " + " | ".join(spellings)}, status=401)

    app = web.Application()
    app.add_routes([web.post("/v1/search", echo)])

    async def scenario(base_url: str) -> str:
        live = LiveWeb(LiveWebConfig(endpoint=base_url, api_key=key, cache_dir=None,
                                     http=HttpConfig(url_policy=LOOPBACK, retry=FAST_RETRY)))
        try:
            return (await live.search("q")).error or ""
        finally:
            await live.aclose()

    with only_secrets():
        error = serve_app(app, scenario)
    assert error.startswith("serper rejected the API key") and "bad key: ***" in error
    assert leaks(error, key) == [] and leaks(caplog.text, key) == []
