"""How the store encodes a record (compressed JSON) and checks one it reads back."""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_RECORD_BYTES", "check_summary", "decode", "encode", "join_contents", "reason",
           "split_contents"]

MAX_RECORD_BYTES = 1 << 28
"""The largest record the store inflates (256 MiB): a garbled few bytes can claim gigabytes."""

_SUMMARY_FIELDS: dict[str, tuple[type, ...]] = {
    "episode_id": (str,), "run_id": (str,), "task_id": (str,), "dataset": (str,),
    "group": (int,), "status": (str,), "reward": (int, float, type(None))}
"""The summary fields that queries and the viewer read, with their types (an episode
broken from outside has no reward: ``None``)."""


def encode(data: dict[str, Any]) -> bytes:
    """A record as stored: zlib-compressed JSON.

    Example:
        >>> decode(encode({"a": [1, 2]}))
        {'a': [1, 2]}
    """
    # ASCII-escaped JSON encodes ~15% faster in CPython; zlib level 1 is the sweet spot
    # (level 6 doubles the time for 16% fewer bytes).
    return zlib.compress(json.dumps(data, separators=(",", ":")).encode(), 1)


def decode(blob: object) -> dict[str, Any]:
    """A stored record back as a dict; ``ValueError`` that says what is wrong with it.

    Example:
        >>> decode(b"garbage")
        Traceback (most recent call last):
        ...
        ValueError: expects zlib-compressed JSON, actual: not zlib data (incorrect header check)
    """
    if not isinstance(blob, bytes):
        raise ValueError(f"expects zlib-compressed JSON, actual: {type(blob).__name__}")
    inflate = zlib.decompressobj()
    try:
        raw = inflate.decompress(blob, MAX_RECORD_BYTES)
    except zlib.error as exc:
        detail = str(exc).rsplit(": ", 1)[-1]
        raise ValueError(f"expects zlib-compressed JSON, actual: not zlib data ({detail})"
                         ) from None
    if inflate.unconsumed_tail:
        raise ValueError(f"expects a record under {MAX_RECORD_BYTES} bytes, actual: more")
    if not inflate.eof:
        raise ValueError("expects zlib-compressed JSON, actual: truncated data")
    try:
        data = json.loads(raw)
    except RecursionError:
        raise ValueError("expects JSON, actual: nested too deep") from None
    except ValueError as exc:  # JSON, or UTF-8
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
"""Response fields stored once per content hash, by call kind (readings stay inline)."""


def split_contents(episode: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Move each web response's content out of ``episode`` (in place); return it by hash."""
    contents = {}
    for step in episode["steps"]:
        for call in step["web"]:
            fields = _CONTENT.get(call["kind"])
            if fields:
                response = call["response"]
                contents[call["hash"]] = {name: response.pop(name) for name in fields}
    return contents


def join_contents(episode: dict[str, Any], content: Callable[[str], dict[str, Any]]
                  ) -> dict[str, Any]:
    """Put each web response's content back into ``episode`` (in place)."""
    for step in episode["steps"]:
        for call in step["web"]:
            if call["kind"] in _CONTENT:
                call["response"].update(content(call["hash"]))
    return episode
