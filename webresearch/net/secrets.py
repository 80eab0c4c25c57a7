"""Secrets: API keys that never show themselves in a repr, a log line or a record."""

from __future__ import annotations

import os

from webresearch.errors import ConfigError

__all__ = ["Secret"]


class Secret:
    """An API key that never shows itself in a repr, a log line or a trajectory.

    Example:
        >>> key = Secret("sk-123")
        >>> key, str(key), key.reveal()
        (Secret('***'), '***', 'sk-123')
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

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
