"""Outside text at the door: valid Unicode scalar text, and JSON parsed to a bounded depth.

Whatever enters from outside (the model's output, a web page in any charset, a search
API's JSON, a task file, a corpus line, a recorded store) passes through one of these
before anything downstream (caches, the store, exports, the viewer, tokenizers) sees it:

- :func:`scalar_text` replaces what UTF-8 cannot carry (lone surrogates, which a JSON
  ``\\ud800`` escape or a ``utf-7`` page produces) and NUL, which C strings, SQLite keys
  and tokenizers treat as an end, with U+FFFD. Every other character is kept.
- :func:`loads_json` parses JSON with a depth bound and no Python recursion, and applies
  :func:`scalar_text` to every string in the result, keys included.

Both run in linear time.
"""

from __future__ import annotations

import contextlib
import gc
import json
import re
from collections.abc import Iterator
from typing import Any

import numpy as np

from webresearch.errors import InputTooDeep

__all__ = ["MAX_JSON_DEPTH", "REPLACEMENT", "embedded_object", "loads_json", "scalar_fields",
           "scalar_text"]

MAX_JSON_DEPTH = 64
"""How deeply outside JSON may nest. Search APIs nest about 5 deep, corpora and task files
about 3; a deeper document is refused, not walked."""

REPLACEMENT = "\ufffd"
"""What stands in for a character that cannot be carried."""

_SURROGATE = re.compile("[\ud800-\udfff]")


def scalar_text(text: str) -> str:
    """``text`` with lone surrogates and NUL replaced by U+FFFD, and a surrogate pair held
    as two code points (``"\\ud83d\\ude00"`` built by hand, or decoded from JSON's
    escapes by a lax reader) joined into the one character it encodes, as JSON reads it
    back; the same object if clean.

    Example:
        >>> scalar_text("a \\ud800 b\\x00c")
        'a \\ufffd b\\ufffdc'
        >>> scalar_text("\\ud83d\\ude00 \\ude00\\ud83d")
        '\U0001f600 \\ufffd\\ufffd'
        >>> scalar_text("café 🙂").encode("utf-8")
        b'caf\\xc3\\xa9 \\xf0\\x9f\\x99\\x82'
    """
    if not text.isascii() and _SURROGATE.search(text) is not None:  # rare
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text if "\x00" not in text else text.replace("\x00", REPLACEMENT)


def scalar_fields(value: object, texts: tuple[str, ...], tuples: tuple[str, ...] = ()) -> None:
    """Make the named text fields (and tuples of text) of a frozen dataclass ``value``
    scalar text, in place, from its ``__post_init__``; what is not text is left alone.

    Example:
        >>> import dataclasses
        >>> @dataclasses.dataclass(frozen=True)
        ... class Hit:
        ...     title: str
        ...     links: tuple[str, ...] = ()
        ...     def __post_init__(self) -> None:
        ...         scalar_fields(self, ("title",), ("links",))
        >>> Hit("a\\x00", ("\\ud800",))
        Hit(title='a\\ufffd', links=('\\ufffd',))
    """
    for name in texts:
        text = getattr(value, name)
        if text.__class__ is str and not (text.isascii() and "\x00" not in text):  # rare
            object.__setattr__(value, name, scalar_text(text))
    for name in tuples:
        items = getattr(value, name)
        if isinstance(items, tuple) and any(
                isinstance(i, str) and scalar_text(i) is not i for i in items):
            object.__setattr__(value, name, tuple(
                scalar_text(i) if isinstance(i, str) else i for i in items))


def loads_json(text: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse outside JSON: nested at most ``max_depth`` deep, every string scalar text.

    Raises ``ValueError`` for text that is not JSON (``json.JSONDecodeError`` as
    ``json.loads`` does) and :class:`~webresearch.errors.InputTooDeep`, itself a
    ``ValueError``, for JSON nested deeper than ``max_depth``.

    Example:
        >>> loads_json('{"q": ["a \\\\ud800"]}')
        {'q': ['a \\ufffd']}
        >>> loads_json("[" * 100_000)
        Traceback (most recent call last):
        ...
        webresearch.errors.InputTooDeep: Expects JSON nested at most 64 deep, actual: deeper
    """
    if not isinstance(text, str | bytes | bytearray):
        raise ValueError(f"expects JSON text, actual: {type(text).__name__}")
    if isinstance(text, bytes | bytearray):  # as json.loads reads bytes, minus surrogatepass
        text = bytes(text).decode(json.detect_encoding(text), errors="replace")
    text = scalar_text(text)  # only escapes can still make a surrogate or NUL
    try:
        with _collector_paused() if len(text) > _LARGE else contextlib.nullcontext():
            value = json.loads(text)
    except RecursionError:  # the C decoder's own guard, about 1,000 deep
        raise _too_deep(max_depth) from None
    _check_depth(text, max_depth)
    return _clean(value) if _BAD_ESCAPE.search(text) else value


def embedded_object(text: str) -> str | None:
    """The span from the first ``{`` to the last ``}`` of a model's answer, or ``None``.

    What ``re.search(r"\\{.*\\}", text, re.DOTALL)`` finds, in linear time (that regex is
    quadratic on ``"{" * n``).

    Example:
        >>> embedded_object('Sure! {"a": {"b": 1}} Done.')
        '{"a": {"b": 1}}'
        >>> embedded_object("{{{ no closing") is None
        True
    """
    start, end = text.find("{"), text.rfind("}")
    return text[start:end + 1] if start != -1 and end > start else None


_LARGE = 1 << 16
"""Documents longer than this (64 KiB) are decoded with the garbage collector paused; a
tool call or a record is decoded as is (pausing it is process-wide: not for the hot path)."""


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while JSON is decoded: the collector's passes over the
    containers a large document makes grow with their number, so a megabyte of ``[],``
    decoded 4-12x slower per doubling, not 2x. Decoded JSON holds no cycles to collect."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# ---- depth: brackets outside strings, innermost pairs dropped a level at a time ---------

_STEPS = np.zeros(256, dtype=np.int8)
_STEPS[[ord("["), ord("{")]], _STEPS[[ord("]"), ord("}")]] = 1, -1
"""Each byte's change to the depth: +1 for an opening bracket, -1 for a closing one."""
_BAD_ESCAPE = re.compile(r"\\u(?:[dD][89abcdefABCDEF]|0000)")


def _check_depth(text: str, max_depth: int) -> None:
    """Raise :class:`InputTooDeep` if valid JSON ``text`` nests deeper than ``max_depth``.

    Strings are cut out: the text parsed, so once escaped backslashes and quotes are
    gone, the quotes left alternate between opening and closing a string. What is left
    is brackets and punctuation; the depth is the highest running sum of +1 per opening
    bracket and -1 per closing one. Each step is a linear pass in C.
    """
    if text.count("[") + text.count("{") <= max_depth:
        return  # too few brackets to nest that deep
    unescaped = text.replace("\\\\", "").replace('\\"', "")  # escapes read left to right
    outside = "".join(unescaped.split('"')[0::2]).encode("utf-8")  # what no string holds
    steps = _STEPS[np.frombuffer(outside, dtype=np.uint8)]
    if steps.size and int(np.cumsum(steps, dtype=np.int64).max()) > max_depth:
        raise _too_deep(max_depth)


def _too_deep(max_depth: int) -> InputTooDeep:
    return InputTooDeep(f"Expects JSON nested at most {max_depth} deep, actual: deeper")


# ---- strings: every one made scalar text, iteratively -----------------------------------

def _clean(value: Any) -> Any:
    """``value`` with :func:`scalar_text` applied to each string, keys included.

    Containers are changed in place; the walk keeps its own stack (the depth is already
    bounded, but nothing here recurses either way).
    """
    if isinstance(value, str):
        return scalar_text(value)
    stack = [value] if isinstance(value, list | dict) else []
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            for i, item in enumerate(node):
                if isinstance(item, str):
                    node[i] = scalar_text(item)
                elif isinstance(item, list | dict):
                    stack.append(item)
        else:
            for key in [k for k in node if not _is_scalar(k)]:
                node[scalar_text(key)] = node.pop(key)
            for key, item in node.items():
                if isinstance(item, str):
                    node[key] = scalar_text(item)
                elif isinstance(item, list | dict):
                    stack.append(item)
    return value


def _is_scalar(text: str) -> bool:
    return scalar_text(text) is text
