"""The one exception tree of ``webresearch``.

Every error the library raises on purpose derives from :class:`WebResearchError`;
third-party errors (aiohttp, json, pyarrow) are translated once, at the boundary
where they occur, and chained with ``raise ... from exc``::

    WebResearchError
    ├── ConfigError              bad option, unknown name (with a did-you-mean)
    │   ├── ConfigTypeError          an option of the wrong type, or none (also a TypeError)
    │   └── DependencyNotInstalled   an optional extra is missing
    ├── TaskError                a task file or task record that cannot be read
    ├── InputTooDeep             outside JSON nested deeper than the bound (also a ValueError)
    ├── StateError               the env was used out of order (step before reset, after the end)
    ├── StoreError               a replay store or web cache that cannot be opened, read or written
    │   ├── StoreBusy            another process held its write lock past the bound
    │   ├── StoreDamaged         its file is damaged, or not a store at all
    │   ├── RecordTooLarge       a record over the size the store writes (refused at write)
    │   └── DamagedRecord        one record of it is unreadable (the others still are)
    ├── WebError                 the web backend failed in a way that is a bug, not the world
    │   └── ReplayMiss           a replayed run never saw this request
    └── PolicyError              a policy could not produce an action

World failures (404, timeout, 429, robots.txt) are *not* exceptions: backends return
them as values that the environment renders as observation text.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "ConfigError",
    "ConfigTypeError",
    "DamagedRecord",
    "DependencyNotInstalled",
    "InputTooDeep",
    "PolicyError",
    "RecordTooLarge",
    "ReplayMiss",
    "StateError",
    "StoreBusy",
    "StoreDamaged",
    "StoreError",
    "TaskError",
    "WebError",
    "WebResearchError",
    "did_you_mean",
    "install_command",
    "unknown_name_error",
]


class WebResearchError(Exception):
    """Base class of every error raised by ``webresearch``."""


class ConfigError(WebResearchError, ValueError):
    """A configuration value is invalid or names something that does not exist."""


class ConfigTypeError(ConfigError, TypeError):
    """An option has the wrong type, or a keyword names no option (with a did-you-mean)."""


class DependencyNotInstalled(ConfigError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str, actual: str = "not installed") -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"Expects the optional package {package!r} (the 'webresearch[{extra}]' extra), "
            f"actual: {actual}. Install it from the checkout with "
            f"`{install_command(extra)}`."
        )


class TaskError(WebResearchError, ValueError):
    """A task file or record is malformed or in an unknown layout."""


class InputTooDeep(WebResearchError, ValueError):
    """Outside structure (a search API's JSON, a corpus line) nests deeper than the bound."""


class StateError(WebResearchError, RuntimeError):
    """The environment was used out of order: step before reset, or after the episode ended."""


class StoreError(WebResearchError):
    """A replay store or web cache cannot be opened, read or written."""


class StoreBusy(StoreError, TimeoutError):
    """Another process held the store's write lock for longer than the store waits."""


class StoreDamaged(StoreError):
    """The store's file is damaged, or is not a store at all."""


class RecordTooLarge(StoreError, ValueError):
    """A record is larger than a store writes; nothing of it was written."""


class DamagedRecord(StoreError):
    """One record of a store cannot be read; the message and :attr:`key` name it."""

    def __init__(self, message: str, *, key: str = "") -> None:
        super().__init__(message)
        self.key = key
        """The damaged record's key ("" when the reader did not know it)."""


class WebError(WebResearchError):
    """A web backend failed in a way that is a bug or misuse, not a world failure."""


class ReplayMiss(WebError, KeyError):
    """A replay backend was asked for a request that the recorded run never made."""


class PolicyError(WebResearchError):
    """A policy could not produce an action (bad output shape, dead server, ...)."""


def install_command(extra: str) -> str:
    """The command that installs the optional ``extra``, run from the project's checkout.

    Example:
        >>> install_command("parquet")
        "pip install -e '.[parquet]'"
    """
    return f"pip install -e '.[{extra}]'"


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return a ``" Did you mean 'x'?"`` hint, or an empty string when nothing is close.

    Example:
        >>> did_you_mean("serch-r1", ["deepresearcher", "search-r1"])
        " Did you mean 'search-r1'?"
        >>> did_you_mean("zzz", ["deepresearcher"])
        ''
    """
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def unknown_name_error(kind: str, name: str, choices: Iterable[str]) -> ConfigError:
    """Build the error for an unknown ``kind`` named ``name``, listing the valid ones.

    Example:
        >>> print(unknown_name_error("web backend", "simm", ["sim", "live"]))
        Expects a web backend in ['live', 'sim'], actual: 'simm'. Did you mean 'sim'?
    """
    valid = sorted(choices)
    article = "an" if kind[:1] in "aeiou" else "a"
    return ConfigError(
        f"Expects {article} {kind} in {valid}, actual: {name!r}.{did_you_mean(name, valid)}"
    )
