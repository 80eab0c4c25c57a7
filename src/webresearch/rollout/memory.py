"""Giving freed memory back to the system during long rollouts (glibc's ``malloc_trim``,
and a full collection that empties the interpreter's free lists)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import logging
import time
from collections.abc import Callable

__all__ = ["MemoryTrimmer", "full_collections", "malloc_trim"]

logger = logging.getLogger(__name__)


@functools.cache
def _trim_function() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or ``None`` where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        function = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
    if function is not None:
        function.argtypes, function.restype = [ctypes.c_size_t], ctypes.c_int
    return function


def malloc_trim() -> bool:
    """Return the C heap's free pages to the system; ``False`` where that is not possible.

    A rollout allocates and frees many short-lived buffers (responses, page text, records)
    from the event loop and the store's writer thread. glibc keeps what they freed, in
    holes between live blocks and in each thread's arena, so resident memory creeps up
    with the episodes although nothing leaks (the soak benchmark measured ~200 KB per
    1,000 live episodes, and the Python heap flat). Trimming hands those pages back.

    Example:
        >>> malloc_trim() in (True, False)
        True
    """
    function = _trim_function()
    if function is None:
        return False
    function(0)
    return True


def full_collections() -> int:
    """How many full (oldest-generation) collections the collector has made so far."""
    return int(gc.get_stats()[-1]["collections"])


class MemoryTrimmer:
    """Every ``period_s`` seconds, when ticked: a full collection if none ran since the last
    tick (at most ``1 / max_gc_share`` of the time), then :func:`malloc_trim`.

    The full collection is what keeps a long rollout flat. CPython keeps freed tuples (up
    to 2,000 of each length below 20), floats, lists and dicts on free lists that only a
    full collection empties, and a rollout whose episodes allocate few container objects
    (the replay store's write path makes few) goes tens of thousands of episodes without
    one: the lists fill slowly, their blocks pin pymalloc pools, and resident memory
    crept ~1 MB over the first 15,000 episodes of ``benchmarks/soak.py`` (tracemalloc
    flat: free-listed objects are not live). Emptied every ``period_s``, they stay small.

    Args:
        period_s: Least time between two trims (a trim of a few hundred MB takes a few ms).
        clock: The time source (tests pass a fake one).
        max_gc_share: The largest share of the time the full collections may take: after
            one that took ``t`` seconds, the next waits at least ``t / max_gc_share``
            (a process holding millions of objects collects less often).

    Example:
        >>> now = [0.0]
        >>> trimmer = MemoryTrimmer(period_s=10, clock=lambda: now[0])
        >>> trimmer.tick(), trimmer.trims
        (False, 0)
        >>> now[0] = 10.0
        >>> trimmer.tick() == (_trim_function() is not None), trimmer.collections
        (True, 1)
    """

    def __init__(self, period_s: float = 10.0, *,
                 clock: Callable[[], float] = time.monotonic,
                 max_gc_share: float = 0.01) -> None:
        self.period_s, self.clock, self.max_gc_share = period_s, clock, max_gc_share
        self.trims = 0
        self.collections = 0
        """Full collections this trimmer made."""
        self._last = clock()
        self._full_seen = full_collections()
        self._next_collection = self._last

    def tick(self) -> bool:
        """Trim if ``period_s`` has passed since the last trim; whether it trimmed."""
        now = self.clock()
        if now - self._last < self.period_s:
            return False
        self._last = now
        self._collect(now)
        if not malloc_trim():
            return False
        self.trims += 1
        return True

    def _collect(self, now: float) -> None:
        """A full collection, unless one ran since the last tick or the last was too dear."""
        if full_collections() != self._full_seen or now < self._next_collection:
            self._full_seen = full_collections()
            return
        start = time.perf_counter()
        gc.collect()
        took = time.perf_counter() - start
        self.collections += 1
        self._full_seen = full_collections()
        self._next_collection = now + took / self.max_gc_share
        logger.debug("full collection in %.1f ms", took * 1e3)
