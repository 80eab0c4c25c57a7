"""Decoding response bodies: the declared charset, a BOM, a meta tag, UTF-8, then cp1252.

Only the encodings that browsers read web pages in (the WHATWG Encoding Standard's, as
Python names them) are honoured: a page that declares ``utf-7``, ``unicode_escape`` or
``rot13`` is read as if it had declared nothing, since those decoders turn a page's
bytes into surrogates, NULs or text the page did not send.
"""

from __future__ import annotations

import codecs
import re

__all__ = ["WEB_ENCODINGS", "decode"]

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.I)
WEB_ENCODINGS = frozenset({
    "ascii", "utf-8", "utf-16", "utf-16-le", "utf-16-be", "cp866", "koi8-r", "koi8-u",
    "mac-roman", "mac-cyrillic", "cp874", "gbk", "gb2312", "gb18030", "big5", "big5hkscs",
    "euc_jp", "iso2022_jp", "shift_jis", "cp932", "euc_kr", "cp949",
    *(f"iso8859-{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 14, 15, 16)),
    *(f"cp{n}" for n in range(1250, 1259)),
})
"""Python's names of the encodings a declared charset may select (``codecs.lookup(label)
.name``); any other label falls through to the next guess."""

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
        >>> decode(b"+2AA-", "utf-7")  # a lone surrogate in UTF-7: not a web encoding
        '+2AA-'
    """
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body.decode(name, errors="replace")
    meta = _META_CHARSET.search(body[:4096])
    guesses = [charset, meta.group(1).decode("ascii", "ignore") if meta else None, "utf-8"]
    for guess in guesses:
        if guess and _is_web_encoding(guess):
            try:
                return body.decode(guess)
            except ValueError:  # the wrong guess
                continue
    return body.decode("cp1252", errors="replace")


def _is_web_encoding(label: str) -> bool:
    """Whether ``label`` names one of :data:`WEB_ENCODINGS`.

    Example:
        >>> _is_web_encoding("Shift_JIS"), _is_web_encoding("utf-7"), _is_web_encoding("x")
        (True, False, False)
    """
    try:
        return codecs.lookup(label).name in WEB_ENCODINGS
    except (LookupError, ValueError):  # unknown or malformed name
        return False
