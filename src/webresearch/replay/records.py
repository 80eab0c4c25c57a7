"""How the store encodes a record (compressed JSON) and checks one it reads back.

What the store writes is valid Unicode scalar text (:func:`stored_text`: a surrogate
pair held as two code points is the character it encodes, as JSON reads it back; lone
surrogates and NUL become U+FFFD), at most :data:`MAX_WRITE_BYTES`
of JSON nested at most :data:`MAX_RECORD_DEPTH` deep; what it reads passes through
:func:`~webresearch.untrusted.loads_json` with the same bounds, so whatever was written
reads back, and a garbled record cannot make the reader's text invalid.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import zlib
from collections.abc import Callable
from typing import Any

from webresearch.errors import InputTooDeep
from webresearch.untrusted import loads_json, scalar_text

__all__ = [
    "MAX_RECORD_BYTES",
    "MAX_RECORD_DEPTH",
    "MAX_WRITE_BYTES",
    "check_summary",
    "checked_content",
    "compress",
    "content_key",
    "decode",
    "inflate",
    "join_contents",
    "parse",
    "reason",
    "serialize",
    "split_contents",
    "stored_text",
]

MAX_RECORD_BYTES = 1 << 28
"""The largest record the store inflates (256 MiB): a garbled few bytes can claim gigabytes."""
MAX_WRITE_BYTES = 1 << 26
"""The largest record the store writes: 64 MiB of JSON (an episode without its pages, or one
page or search). A quarter of :data:`MAX_RECORD_BYTES`, the most a reader inflates (a
270 MB episode was once written and never readable again), and far below SQLite's 1 GB
value limit; a record over it is refused at write with
:class:`~webresearch.errors.RecordTooLarge`."""
MAX_RECORD_DEPTH = 64
"""How deeply a record may nest: an episode nests 8 deep; a run's free-form config is
checked against this bound when it is written."""

_SUSPECT = re.compile(r"\\u0000"  # NUL
                      r"|\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])"  # a high surrogate alone
                      r"|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f]")  # a low surrogate alone
"""An escape that ``json.dumps`` writes for NUL or a lone surrogate (a pair, as it writes
every character past U+FFFF, is left alone: the JSON is then parsed back only for text
that needs it)."""

_SUMMARY_FIELDS: dict[str, tuple[type, ...]] = {
    "episode_id": (str,), "run_id": (str,), "task_id": (str,), "dataset": (str,),
    "group": (int,), "status": (str,), "reward": (int, float, type(None))}
"""The summary fields that queries and the viewer read, with their types (an episode
broken from outside has no reward: ``None``)."""


stored_text = scalar_text
"""``text`` as the store writes it and reads it back (:func:`~webresearch.untrusted.scalar_text`).
Keys (run and episode ids, content hashes) are made of this text, so that what a record
says of itself, read back, is what it is stored under."""


def serialize(data: Any, *, check_depth: bool = False) -> bytes:
    """``data`` as the store's JSON: ASCII, every string scalar text.

    ``check_depth`` also refuses (``InputTooDeep``, a ``ValueError``) data nested deeper
    than :data:`MAX_RECORD_DEPTH`, for records whose shape the schema does not fix.

    Example:
        >>> serialize({"a": "x\\ud800\\x00"})
        b'{"a":"x\\\\ufffd\\\\ufffd"}'
    """
    # ASCII-escaped JSON encodes ~15% faster in CPython.
    text = json.dumps(data, separators=(",", ":"))
    suspect = ("\\u0000" in text or "\\ud" in text) and _SUSPECT.search(text)  # C first
    if check_depth or suspect:  # parsed back only when it may be needed
        text = json.dumps(loads_json(text, max_depth=MAX_RECORD_DEPTH), separators=(",", ":"))
    return text.encode()


def compress(raw: bytes) -> bytes:
    """Serialized JSON as stored (zlib level 1: level 6 doubles the time for 16% less)."""
    return zlib.compress(raw, 1)


def decode(blob: object) -> dict[str, Any]:
    """A stored record back as a dict; ``ValueError`` that says what is wrong with it.

    Example:
        >>> decode(b"garbage")
        Traceback (most recent call last):
        ...
        ValueError: expects zlib-compressed JSON, actual: not zlib data (incorrect header check)
    """
    return parse(inflate(blob))


def inflate(blob: object) -> bytes:
    """A stored record's JSON bytes (at most :data:`MAX_RECORD_BYTES`); else ``ValueError``."""
    if not isinstance(blob, bytes):
        raise ValueError(f"expects zlib-compressed JSON, actual: {type(blob).__name__}")
    stream = zlib.decompressobj()
    try:
        raw = stream.decompress(blob, MAX_RECORD_BYTES)
    except zlib.error as exc:
        detail = str(exc).rsplit(": ", 1)[-1]
        raise ValueError(f"expects zlib-compressed JSON, actual: not zlib data ({detail})"
                         ) from None
    if stream.unconsumed_tail:
        raise ValueError(f"expects a record under {MAX_RECORD_BYTES} bytes, actual: more")
    if not stream.eof:
        raise ValueError("expects zlib-compressed JSON, actual: truncated data")
    return raw


def parse(raw: bytes | str) -> dict[str, Any]:
    """A record's JSON as a dict of scalar text; ``ValueError`` that says what is wrong.

    Example:
        >>> parse(b'{"a": "\\\\ud800"}')
        {'a': '\\ufffd'}
    """
    try:
        data = loads_json(raw, max_depth=MAX_RECORD_DEPTH)
    except (RecursionError, InputTooDeep):
        raise ValueError(f"expects JSON, actual: nested too deep (over {MAX_RECORD_DEPTH} "
                         "levels)") from None
    except ValueError as exc:  # JSON
        raise ValueError(f"expects JSON, actual: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"expects a JSON object, actual: {type(data).__name__}")
    return data


def check_summary(data: object) -> dict[str, Any]:
    """``data`` if it is an episode summary with the fields queries read; else ``ValueError``.

    Example:
        >>> check_summary({"episode_id": "e", "run_id": "r", "task_id": "t", "dataset": "",
        ...                "group": 0, "status": "answered", "reward": float("nan")})
        Traceback (most recent call last):
        ...
        ValueError: expects a finite reward, actual: nan
    """
    if not isinstance(data, dict):
        raise ValueError(f"expects a JSON object, actual: {type(data).__name__}")
    for name, types in _SUMMARY_FIELDS.items():
        value = data.get(name)
        if not isinstance(value, types) or isinstance(value, bool):
            raise ValueError(f"expects {name} of type {types[0].__name__}, actual: "
                             f"{type(value).__name__}")
    if data["reward"] is not None and not math.isfinite(data["reward"]):
        raise ValueError(f"expects a finite reward, actual: {data['reward']}")
    return data


def reason(exc: BaseException) -> str:
    """What a record's failed ``from_json`` says about it, in a few words.

    Example:
        >>> reason(KeyError("steps"))
        "missing field 'steps'"
    """
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}" if exc.args else "missing field"
    if isinstance(exc, RecursionError):
        return "nested too deep"
    return f"{type(exc).__name__}: {exc}"[:300]


_CONTENT = {"fetch": ("text", "links"), "search": ("hits",)}
"""Response fields stored once per content, by call kind (readings stay inline)."""


def content_key(content: Any) -> str:
    """The key of a response's content: a SHA-256 (64 hex digits) of its JSON value, every
    string framed by its length, so no text in it (a NUL, a tab) can make two contents
    one. Computed without building the JSON text: a content already stored costs a hash,
    not a serialization. The reader checks the key against what it reads
    (:func:`checked_content`).

    Example:
        >>> content_key({"text": "a\\x00b", "links": []}) == content_key(
        ...     {"text": "a", "links": ["b"]})
        False
    """
    digest, stack = hashlib.sha256(), [content]
    while stack:  # a fixed, shallow shape, walked without recursion
        node = stack.pop()
        if isinstance(node, str):
            data = stored_text(node).encode()  # as stored: serialize makes it scalar text
            digest.update(b"s%d:" % len(data))
            digest.update(data)
        elif isinstance(node, dict):
            digest.update(b"d%d:" % len(node))
            for name in sorted(node, reverse=True):
                stack += [node[name], name]
        elif isinstance(node, list | tuple):
            digest.update(b"l%d:" % len(node))
            stack.extend(reversed(node))
        else:
            digest.update(b"v%s:" % json.dumps(node).encode())
    return digest.hexdigest()


def split_contents(episode: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Move each web response's content out of ``episode`` (in place, the call keeping its
    key as ``blob``); return the contents by key."""
    contents = {}
    for step in episode["steps"]:
        for call in step["web"]:
            fields = _CONTENT.get(call["kind"])
            if fields:
                response = call["response"]
                content = {name: response.pop(name) for name in fields}
                call["blob"] = key = content_key(content)
                contents[key] = content
    return contents


def join_contents(episode: dict[str, Any], content: Callable[[str], dict[str, Any]]
                  ) -> dict[str, Any]:
    """Put each web response's content back into ``episode`` (in place); a store written
    before contents had keys of their own names them by the call's ``hash``."""
    for step in episode["steps"]:
        for call in step["web"]:
            if call["kind"] in _CONTENT:
                call["response"].update(content(call.get("blob") or call["hash"]))
    return episode


def checked_content(key: str, raw: bytes) -> dict[str, Any]:
    """``raw``, a content's stored JSON, parsed; ``ValueError`` unless it is what ``key``
    names.

    A 64-digit key is :func:`content_key` of the content; a 32-digit one (stores written
    before) is the web call's hash of the text, links or hits in it.

    Example:
        >>> checked_content(content_key({"hits": []}), b'{"hits":[]}')
        {'hits': []}
        >>> checked_content("0" * 64, b'{"hits":[]}')
        Traceback (most recent call last):
        ...
        ValueError: expects content whose hash is its key, actual: hash 25cf8547...
    """
    data = parse(raw)
    found = content_key(data) if len(key) == 64 else _legacy_hash(raw)
    if found != key:
        raise ValueError(f"expects content whose hash is its key, actual: hash {found[:8]}...")
    return data


def _legacy_hash(raw: bytes) -> str:
    """The 32-digit hash that older stores keyed a content by (``WebCall.hash`` then)."""
    try:
        data = json.loads(raw)
        if "hits" in data:
            text = "\0".join(f"{h['title']}\t{h['url']}\t{h['snippet']}" for h in data["hits"])
        else:
            text = data["text"] + "\0" + "\0".join(data["links"])
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        raise ValueError(f"expects a page's or a search's content, actual: {reason(exc)}"
                         ) from None
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
