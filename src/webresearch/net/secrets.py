"""Secrets: API keys that never show themselves in a repr, a log line, an error or a record.

Every :class:`Secret` registers its value in a process-wide registry, and
:func:`redact` replaces each registered value (and its URL- and JSON-escaped
forms) with ``***`` in any text. Error text built from a server's answer (a search
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

__all__ = ["MIN_SECRET_LENGTH", "RedactingFilter", "Secret", "redact", "register_secret"]

MIN_SECRET_LENGTH = 8
"""Shorter values are not registered: redacting ``"abc"`` everywhere would garble text,
and a key that short protects nothing."""



class _Registry:
    """The secrets of this process, in every form :func:`redact` looks for."""

    def __init__(self) -> None:
        self.known: set[str] = set()
        self.ordered: tuple[str, ...] = ()
        """Longest first, so a secret that contains another is replaced whole."""
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
    with _REGISTRY.lock:
        if forms <= _REGISTRY.known:
            return
        _REGISTRY.known.update(forms)
        _REGISTRY.ordered = tuple(sorted(_REGISTRY.known, key=len, reverse=True))


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``.

    Example:
        >>> key = Secret("sk-live-abcdef")
        >>> redact('401: bad header "Authorization: Bearer sk-live-abcdef"')
        '401: bad header "Authorization: Bearer ***"'
    """
    changed = True
    while changed:  # until stable: a replacement may bring two halves of a secret together
        changed = False
        for value in _REGISTRY.ordered:
            if value in text:
                text, changed = text.replace(value, "***"), True
    return text


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
