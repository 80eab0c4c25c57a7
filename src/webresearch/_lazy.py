"""Lazy attributes for package facades: names that import their module on first use."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_getattr", "require"]


def lazy_getattr(package: str, table: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``table[name]`` when ``name`` is first asked for.

    Example:
        >>> getter = lazy_getattr("pkg", {"dumps": "json"})
        >>> getter("dumps").__name__
        'dumps'
        >>> getter("nope")
        Traceback (most recent call last):
        ...
        AttributeError: module 'pkg' has no attribute 'nope'
    """

    def __getattr__(name: str) -> Any:
        if name in table:
            return getattr(importlib.import_module(table[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


def require(module: str, extra: str) -> Any:
    """Import the optional ``module``, or raise :class:`DependencyNotInstalled` naming ``extra``.

    Example:
        >>> require("json", "core").__name__
        'json'
        >>> require("no_such_module_here", "corpus")
        Traceback (most recent call last):
        ...
        webresearch.errors.DependencyNotInstalled: Expects ... `pip install -e '.[corpus]'`.

    A package that is installed but fails to import (one of its own dependencies is
    missing) raises :class:`DependencyNotInstalled` too, naming the cause.
    """
    from webresearch.errors import DependencyNotInstalled  # noqa: PLC0415 - no cycle

    if importlib.util.find_spec(module) is None:
        raise DependencyNotInstalled(module, extra)
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        actual = f"installed but failed to import ({type(exc).__name__}: {exc})"
        raise DependencyNotInstalled(module, extra, actual) from exc
