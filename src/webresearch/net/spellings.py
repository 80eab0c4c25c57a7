"""Where a secret shows in a text in another spelling: decoded views mapped back to characters.

A server that echoes an API key may echo it changed: cut short, upper-cased, spaced
out, percent-encoded, as HTML entities or JSON escapes, in hex, or in base64 (of the
key alone or of a whole header, so at any of the three byte alignments). Each such
spelling, decoded, is the key again. :func:`secret_spans` builds views of a text, each
a decoding of it whose every character remembers the span of the text it came from:

- the text itself, and its percent / HTML-entity / JSON-escape decoding (up to
  :data:`DEPTH` times, for a key encoded again and again; leading zeros of a numeric
  entity any number);
- every second, third and fourth character of the decoding (a key spaced out by
  separators of one to three characters);
- its ASCII letters and digits alone (a key split by any separators);
- the bytes of every hex run (of the decoding, and of its letters and digits and the
  text's) and of every base64 run (standard or URL-safe, at each of the four
  character offsets; also with white space taken out, for base64 wrapped over lines),
  each read as UTF-8 and as UTF-16 in either byte order.

Each view is searched, ASCII case folded, for any run of a secret at least
:data:`WINDOW` characters long (the whole secret when it is shorter), as the set of the
secret's windows of that width: a view whose text holds none of a secret's *anchors*
(its aligned half-width pieces, one of which every window contains) is skipped at C
speed, so the work is linear in the text for a handful of secrets, and no regular
expression here can backtrack.
"""

from __future__ import annotations

import binascii
import html.entities
import re
import string
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

__all__ = ["WINDOW", "Needles", "secret_spans"]

WINDOW = 12
"""A run of a secret this long, in any spelling, is redacted; a shorter secret whole."""

_MIN_LENGTH = 8
"""The shortest needle: shorter runs (a secret's letters and digits alone) are skipped."""

DEPTH = 6
"""How many times the text is decoded (percent, entities, escapes) in turn."""

_STEPS = (2, 3, 4)
"""Views of every n-th character: separators of one to three characters between."""

_ALNUM = frozenset(string.ascii_letters + string.digits)
_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_TOKEN = re.compile(
    r"%(?:u([0-9A-Fa-f]{4})|([0-9A-Fa-f]{2}))"  # %XX, %uXXXX
    r"|&#(?:[xX]0*([0-9A-Fa-f]{1,8})|0*([0-9]{1,10}));?"  # &#xHH; &#NN; &#x0000041;
    r"|&([A-Za-z][A-Za-z0-9]{1,31};?)"  # &lowbar;
    r"|\\(?:u([0-9A-Fa-f]{4})|x([0-9A-Fa-f]{2})|([\\/\"']))")  # \u0041 \x41 \/
_WORD = re.compile(r"[A-Za-z0-9]+")
_HEX_RUN = re.compile(f"[0-9A-Fa-f]{{{2 * _MIN_LENGTH},}}")
_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{11,}")
_NOT_SPACE = re.compile(r"\S+")
_URLSAFE = str.maketrans("-_", "+/")


def _fold(text: str) -> str:
    """ASCII letters in lower case; the length (and so every index) unchanged."""
    return text.lower() if text.isascii() else text.translate(_LOWER)


# needles ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Group:
    """The windows of one width, and the anchors one of which each window contains."""

    width: int
    windows: frozenset[str]
    anchors: tuple[str, ...]


def _group(width: int, texts: Iterable[str]) -> _Group:
    step, windows, anchors = width // 2, set[str](), set[str]()
    for text in texts:
        windows.update(text[i:i + width] for i in range(len(text) - width + 1))
        anchors.update(text[a:a + step] for a in range(0, len(text) - step + 1, step))
    return _Group(width, frozenset(windows), tuple(sorted(anchors)))


def _groups(texts: Iterable[str], per_char: int = 1) -> tuple[_Group, ...]:
    """Needle groups of texts that spell each character in ``per_char`` characters."""
    by_width: dict[int, list[str]] = {}
    for text in texts:
        if len(text) >= _MIN_LENGTH * per_char:
            by_width.setdefault(min(WINDOW * per_char, len(text)), []).append(text)
    return tuple(_group(width, group) for width, group in sorted(by_width.items()))


@dataclass(frozen=True, slots=True)
class Needles:
    """What :func:`secret_spans` looks for, built once per set of secrets.

    Example:
        >>> needles = Needles.of(["sk-live-abcdef123456"])
        >>> [group.width for group in needles.chars]
        [12]
    """

    chars: tuple[_Group, ...] = ()
    """Runs of the secrets, ASCII case folded."""
    alnum: tuple[_Group, ...] = ()
    """Runs of the secrets' letters and digits alone."""
    octets: tuple[_Group, ...] = ()
    """Runs of the secrets' UTF-8 bytes (as Latin-1 text), for hex and base64; then
    runs of their UTF-16 bytes in either order, twice as wide."""

    @classmethod
    def of(cls, secrets: Iterable[str]) -> Needles:
        values = [_fold(secret) for secret in secrets]
        return cls(chars=_groups(values),
                   alnum=_groups("".join(c for c in v if c in _ALNUM) for v in values),
                   octets=(_groups(_bytes(v, "utf-8") for v in values)
                           + _groups((_bytes(v, order) for v in values
                                      for order in ("utf-16-le", "utf-16-be")), per_char=2)))


def _bytes(value: str, encoding: str) -> str:
    """``value`` encoded, as Latin-1 text (one character a byte), ASCII case folded."""
    return _fold(value.encode(encoding, "surrogatepass").decode("latin-1"))


# views -----------------------------------------------------------------------------


class _View:
    """A decoding of the text; :meth:`span` maps its characters back to the text's."""

    text: str

    def span(self, i: int, j: int) -> tuple[int, int]:
        raise NotImplementedError


class _Mapped(_View):
    """Each character's span in the text, one by one."""

    def __init__(self, text: str, starts: Sequence[int], ends: Sequence[int]) -> None:
        self.text, self.starts, self.ends = text, starts, ends

    def span(self, i: int, j: int) -> tuple[int, int]:
        return self.starts[i], self.ends[j - 1]


class _Stepped(_View):
    """Every ``step``-th character of another view, from ``offset``."""

    def __init__(self, parent: _View, offset: int, step: int) -> None:
        self.parent, self.offset, self.step = parent, offset, step
        self.text = parent.text[offset::step]

    def span(self, i: int, j: int) -> tuple[int, int]:
        o, s = self.offset, self.step
        return self.parent.span(o + i * s, o + (j - 1) * s + 1)


class _Packed(_View):
    """The bytes that a run of another view encodes, ``per`` bytes in ``chars`` characters."""

    def __init__(self, parent: _View, text: str, start: int, end: int, *, chars: int,
                 per: int) -> None:
        self.parent, self.text, self.start, self.end = parent, text, start, end
        self.chars, self.per = chars, per

    def span(self, i: int, j: int) -> tuple[int, int]:
        first = self.start + (i // self.per) * self.chars
        last = self.start + ((j - 1) // self.per + 1) * self.chars
        return self.parent.span(first, min(last, self.end))


def _token(match: re.Match[str]) -> str | None:
    """The text one escape stands for, or ``None`` when it stands for nothing."""
    code_hex = match[1] or match[3] or match[6] or match[7] or match[2]
    if code_hex is not None or match[4] is not None:
        code = int(code_hex, 16) if code_hex is not None else int(match[4])
        return chr(code) if code <= 0x10FFFF else None
    if match[5] is not None:
        return html.entities.html5.get(match[5])
    return match[8]


def _decoded(view: _Mapped) -> _Mapped | None:
    """``view`` with percent, HTML-entity and JSON escapes decoded, or ``None`` if it has none."""
    text, parts, starts, ends, done = view.text, list[str](), list[int](), list[int](), 0
    for match in _TOKEN.finditer(text):
        value = _token(match)
        if not value:
            continue
        a, b = match.span()
        parts += (text[done:a], value)
        starts += [*view.starts[done:a], *[view.starts[a]] * len(value)]
        ends += [*view.ends[done:a], *[view.ends[b - 1]] * len(value)]
        done = b
    if not parts:
        return None
    parts.append(text[done:])
    return _Mapped("".join(parts), [*starts, *view.starts[done:]], [*ends, *view.ends[done:]])


def _only(view: _Mapped, kept: re.Pattern[str] = _WORD) -> _Mapped:
    """Only the characters of ``view`` that ``kept`` matches (ASCII letters and digits)."""
    parts, starts, ends = list[str](), list[int](), list[int]()
    for match in kept.finditer(view.text):
        a, b = match.span()
        parts.append(match[0])
        starts += view.starts[a:b]
        ends += view.ends[a:b]
    return _Mapped("".join(parts), starts, ends)


def _hex(view: _View) -> Iterator[_Packed]:
    for match in _HEX_RUN.finditer(view.text):
        for phase in (0, 1):
            digits = match[0][phase:]
            data = bytes.fromhex(digits[:len(digits) // 2 * 2])
            yield _Packed(view, data.decode("latin-1"), match.start() + phase, match.end(),
                          chars=2, per=1)


def _base64(view: _View) -> Iterator[_Packed]:
    for match in _B64_RUN.finditer(view.text):
        run = match[0].translate(_URLSAFE)
        for offset in range(4):
            data = _b64decode(run[offset:])
            yield _Packed(view, data.decode("latin-1"), match.start() + offset, match.end(),
                          chars=4, per=3)


def _b64decode(chars: str) -> bytes:
    """The bytes of base64 characters without padding, a last partial group included."""
    whole = len(chars) // 4 * 4
    data = binascii.a2b_base64(chars[:whole])
    rest = chars[whole:]
    if len(rest) >= 2:
        data += binascii.a2b_base64(rest + "=" * (4 - len(rest)))
    return data


# search ----------------------------------------------------------------------------


def _find(view: _View, groups: Sequence[_Group]) -> Iterator[tuple[int, int]]:
    folded = None
    for group in groups:
        if len(view.text) < group.width:
            continue
        folded = _fold(view.text) if folded is None else folded
        if not any(anchor in folded for anchor in group.anchors):
            continue
        width, windows = group.width, group.windows
        for i in range(len(folded) - width + 1):
            if folded[i:i + width] in windows:
                yield view.span(i, i + width)


def secret_spans(text: str, needles: Needles) -> list[tuple[int, int]]:
    """The spans of ``text`` that spell a run of a secret, in any view, sorted and merged.

    Example:
        >>> needles = Needles.of(["sk-live-abcdef123456"])
        >>> text = "echo: c2stbGl2ZS1hYmNkZWYxMjM0NTY= / S K - L I V E - A B C D E F"
        >>> [text[a:b] for a, b in secret_spans(text, needles)]
        ['c2stbGl2ZS1hYmNkZWYxMjM0NTY', 'S K - L I V E - A B C D E F']
    """
    raw = _Mapped(text, range(len(text)), range(1, len(text) + 1))
    views: list[_View] = [raw]
    decoded = raw
    for _ in range(DEPTH):
        deeper = _decoded(decoded)
        if deeper is None:
            break
        views.append(deeper)
        decoded = deeper
    views += [_Stepped(decoded, offset, step) for step in _STEPS for offset in range(step)]
    alnums = [_only(decoded)] + ([_only(raw)] if decoded is not raw else [])
    spans = [span for view in views for span in _find(view, needles.chars)]
    spans += _find(alnums[0], needles.alnum)
    packed = [*_hex(decoded), *(p for a in alnums for p in _hex(a)), *_base64(decoded),
              *_base64(_only(decoded, _NOT_SPACE))]
    for view in packed:
        spans += _find(view, needles.octets)
    return _merged(spans)


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching spans as one."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
