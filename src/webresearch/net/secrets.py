"""Secrets: API keys that never show themselves in a repr, a log line, an error or a record.

Every :class:`Secret` registers its value in a process-wide registry, and
:func:`redact` replaces each registered value with ``***`` in any text: its exact URL-
and JSON-escaped forms, and any run of it at least 12 characters long (the whole of a
shorter one) in any common spelling: any case, spaced out, percent-encoded, as HTML
entities or JSON escapes, in hex or in base64 at any alignment
(:mod:`webresearch.net.spellings`). Error text built from a server's answer (a search
API's, an OpenAI-compatible server's) goes through :func:`redact` before it is
logged, raised or stored, because a server may echo the ``Authorization`` header
back; :class:`RedactingFilter` does the same for every log record a handler emits.
A ``Secret`` unpickled in another process (a Ray worker) registers itself there.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any
from urllib.parse import quote

from webresearch.errors import ConfigError
from webresearch.net.spellings import Needles, secret_spans

__all__ = ["MIN_SECRET_LENGTH", "RedactingFilter", "Secret", "redact", "register_secret"]

MIN_SECRET_LENGTH = 8
"""Shorter values are not registered: redacting ``"abc"`` everywhere would garble text,
and a key that short protects nothing."""

_MAX_ROUNDS = 8
"""Passes over a text at most: a pass may join two remnants of a secret into a new run."""


class _Registry:
    """The secrets of this process, in every form :func:`redact` looks for."""

    def __init__(self) -> None:
        self.values: set[str] = set()
        self.known: set[str] = set()
        self.ordered: tuple[str, ...] = ()
        """Exact forms, longest first, so a secret that contains another is replaced whole."""
        self.needles = Needles()
        """Runs of every secret, for the spellings :func:`secret_spans` decodes."""
        self.lock = threading.Lock()


_REGISTRY = _Registry()


def register_secret(value: str) -> None:
    """Have :func:`redact` hide ``value`` (and its escaped forms) from now on.

    Example:
        >>> register_secret("tok-123456")
        >>> redact("key=tok-123456")
        'key=***'
    """
    if len(value) < MIN_SECRET_LENGTH:
        return
    forms = {value, quote(value, safe=""), json.dumps(value)[1:-1]}
    registry = _REGISTRY
    with registry.lock:
        if value in registry.values:
            return
        registry.values.add(value)
        registry.known.update(forms)
        registry.ordered = tuple(sorted(registry.known, key=len, reverse=True))
        registry.needles = Needles.of(registry.values)


def redact(text: str) -> str:
    """``text`` with every registered secret, in any common spelling, replaced by ``***``.

    Linear in the length of ``text`` for a handful of secrets.

    Example:
        >>> key = Secret("sk-live-abcdef123456")
        >>> redact('401: bad header "Authorization: Bearer sk-live-abcdef123456"')
        '401: bad header "Authorization: Bearer ***"'
        >>> redact("echo: SK-LIVE-ABCDEF12 / c2stbGl2ZS1hYmNkZWYxMjM0NTY= / "
        ...        "&#115;&#107;&#45;&#108;&#105;&#118;&#101;&#45;&#97;&#98;&#99;&#100;")
        'echo: *** / ***= / ***'
    """
    registry = _REGISTRY
    if not registry.ordered:
        return text
    for _ in range(_MAX_ROUNDS):  # until stable: a pass may join two remnants of a secret
        spans = secret_spans(text, registry.needles)
        cleaned = _replace_exact(_blank(text, spans) if spans else text, registry.ordered)
        if cleaned == text:
            break
        text = cleaned
    return text


def _replace_exact(text: str, forms: tuple[str, ...]) -> str:
    changed = True
    while changed:  # until stable: a replacement may bring two halves of a secret together
        changed = False
        for value in forms:
            if value in text:
                text, changed = text.replace(value, "***"), True
    return text


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with each of the (sorted, disjoint) ``spans`` replaced by ``***``."""
    parts: list[str] = []
    done = 0
    for start, end in spans:
        parts += (text[done:start], "***")
        done = end
    parts.append(text[done:])
    return "".join(parts)


class Secret:
    """An API key that never shows itself in a repr, a log line or a trajectory.

    Example:
        >>> key = Secret("sk-123456")
        >>> key, str(key), key.reveal()
        (Secret('***'), '***', 'sk-123456')
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        return (Secret, (self._value,))  # unpickled through __init__: registered there too

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    @classmethod
    def from_env(cls, value: str | Secret | None, variable: str, *, engine: str) -> Secret:
        """``value`` if given, else the environment variable; a clear error if neither."""
        if isinstance(value, Secret):
            return value
        value = value or os.environ.get(variable)
        if not value:
            raise ConfigError(f"Expects an API key for {engine}: pass api_key=... or set "
                              f"${variable}, actual: neither")
        return cls(value)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts registered secrets from each record's message.

    Add it to a handler (``handler.addFilter(RedactingFilter())``): every record the
    handler emits, from any logger, is redacted first.

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> handler = logging.StreamHandler(out)
        >>> handler.addFilter(RedactingFilter())
        >>> log = logging.getLogger("demo.secrets")
        >>> log.addHandler(handler)
        >>> log.warning("server said: %s", "bad key " + Secret("sk-zyxwvu").reveal())
        >>> out.getvalue()
        'server said: bad key ***\\n'
        >>> log.removeHandler(handler)
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
