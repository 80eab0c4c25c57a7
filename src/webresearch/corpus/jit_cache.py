"""numba's compiled BM25 scoring kept on disk, so that a new process does not compile it again.

bm25s declares its numba functions without ``cache=True``, so every process compiled
them on its first query (~19 s on a laptop; the progress bar's ETA, extrapolating from
that first step, said hours). :func:`enable_jit_cache` turns numba's own disk cache on
for them, in ``<webresearch cache>/numba`` (``$NUMBA_CACHE_DIR`` when set): the first
process writes the machine code, later ones load it. ``benchmarks/corpus_first_query.py``
(10,000 passages, a 2-core machine under a load of 7): open plus first query 26-35 s
compiling, 2.3-2.8 s loading (imports included). numba keys
each entry on the source file's timestamp, the CPU and its own version, and recompiles
a stale one. The files are pickles written by numba, like its ``__pycache__`` cache,
so the folder must be one that only the user writes: it is made private (0700), and a
folder that another user owns or others may write is not used (each process compiles),
nor one below a folder where another user could swap it (theirs, or writable by others
without the sticky bit that ``/tmp`` has).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import stat
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webresearch._home import default_cache_dir

__all__ = ["JitCacheStats", "enable_jit_cache", "jit_cache_dir", "jit_cache_stats"]

logger = logging.getLogger(__name__)

_MODULES = ("bm25s.numba.retrieve_utils", "bm25s.numba.selection")
"""Where bm25s keeps the numba functions that its queries run."""

_LOCK = threading.Lock()
_CACHED: weakref.WeakSet[Any] = weakref.WeakSet()
"""Every live dispatcher whose disk cache is on."""


@dataclass(frozen=True, slots=True)
class JitCacheStats:
    """What the cached functions did in this process.

    Attributes:
        hits: Compiled signatures loaded from the disk cache.
        misses: Signatures compiled in this process (then written to the cache).
        functions: Functions whose disk cache is on.
    """

    hits: int
    misses: int
    functions: int


def jit_cache_dir() -> str:
    """``$NUMBA_CACHE_DIR``, else ``numba/`` in the webresearch cache folder.

    Example:
        >>> jit_cache_dir() == (os.environ.get("NUMBA_CACHE_DIR")
        ...                     or str(Path(default_cache_dir()) / "numba"))
        True
    """
    return os.environ.get("NUMBA_CACHE_DIR") or str(Path(default_cache_dir()) / "numba")


def _dispatchers(*owners: Any) -> list[Any]:
    """bm25s's numba functions (and those on ``owners``); none without numba and bm25s."""
    if importlib.util.find_spec("numba") is None or importlib.util.find_spec("bm25s") is None:
        return []
    from numba.core.dispatcher import Dispatcher  # noqa: PLC0415 - optional extra

    modules = [importlib.import_module(name) for name in _MODULES]
    found = [value for owner in (*modules, *owners) for value in vars(owner).values()
             if isinstance(value, Dispatcher)]  # NUMBA_DISABLE_JIT leaves plain functions
    return list({id(d): d for d in found}.values())


def enable_jit_cache(*owners: Any) -> int:
    """Turn numba's disk cache on for bm25s's query functions (and for the numba
    functions held by ``owners``, e.g. a ``bm25s.BM25``'s own); returns how many
    functions cache. Idempotent; a folder that cannot be written costs the cache only.

    Example:
        >>> enable_jit_cache() == enable_jit_cache()  # 0 where numba is absent
        True
    """
    with _LOCK:
        todo = [d for d in _dispatchers(*owners) if d not in _CACHED]
        if todo and (unsafe := _not_private(jit_cache_dir())) is not None:
            logger.warning("numba's disk cache is off: %s (its files are pickles, loaded "
                           "only from a folder that only you can write)", unsafe)
        elif todo:
            config: Any = importlib.import_module("numba.core.config")  # only with numba
            saved, config.CACHE_DIR = config.CACHE_DIR, jit_cache_dir()
            try:  # numba picks the folder when caching is turned on, from its config
                for dispatcher in todo:
                    dispatcher.enable_caching()
                    _CACHED.add(dispatcher)
            except (OSError, RuntimeError) as exc:
                logger.warning("numba's disk cache is off (%s): each process compiles the "
                               "BM25 scorer on first use", exc)
            finally:
                config.CACHE_DIR = saved
        return len(_CACHED)


def _not_private(folder: str) -> str | None:
    """Why ``folder`` may hold files someone else planted, or ``None`` when only this user
    can write it (made, private, when absent).

    Example:
        >>> import tempfile
        >>> _not_private(tempfile.mkdtemp() + "/numba") is None
        True
    """
    path = Path(folder)
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.stat()
        ancestors = _ancestors(path)
    except OSError as exc:
        return f"{folder} cannot be made ({exc.strerror})"
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return f"{folder} belongs to another user (uid {info.st_uid})"
    if info.st_mode & 0o022:
        return f"{folder} may be written by others (mode {info.st_mode & 0o777:o})"
    for ancestor, parent in ancestors:
        if (why := _swappable(ancestor, parent)) is not None:
            return why
    return None


def _ancestors(path: Path) -> list[tuple[Path, os.stat_result]]:
    """Every folder above ``path`` (as written, and where its links lead), with its status."""
    seen = {*path.absolute().parents, *path.resolve().parents}
    return [(folder, folder.lstat()) for folder in sorted(seen)]


def _swappable(folder: Path, info: os.stat_result) -> str | None:
    """Why another user could put another folder in place of one below ``folder``: they
    own it (or a link on the way), or may write it without the sticky bit that stops
    them renaming what is not theirs.

    Example:
        >>> _swappable(Path("/"), Path("/").lstat()) is None
        True
    """
    trusted = (0, os.getuid()) if hasattr(os, "getuid") else (info.st_uid,)
    if info.st_uid not in trusted:
        return f"{folder}, above it, belongs to another user (uid {info.st_uid})"
    if stat.S_ISDIR(info.st_mode) and info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX:
        return (f"{folder}, above it, may be written by others without the sticky bit "
                f"(mode {info.st_mode & 0o7777:o}): they could swap the folder")
    return None


def jit_cache_stats() -> JitCacheStats:
    """Cache hits and compilations so far in this process, over the cached functions.

    Example:
        >>> jit_cache_stats().misses >= 0
        True
    """
    with _LOCK:
        dispatchers = list(_CACHED)
    return JitCacheStats(hits=sum(sum(d.stats.cache_hits.values()) for d in dispatchers),
                         misses=sum(sum(d.stats.cache_misses.values()) for d in dispatchers),
                         functions=len(dispatchers))
