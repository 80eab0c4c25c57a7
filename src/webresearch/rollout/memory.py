"""Giving freed memory back to the system during long rollouts (glibc's ``malloc_trim``)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import time
from collections.abc import Callable

__all__ = ["MemoryTrimmer", "malloc_trim"]

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


class MemoryTrimmer:
    """Calls :func:`malloc_trim` at most once every ``period_s`` seconds, when ticked.

    Args:
        period_s: Least time between two trims (a trim of a few hundred MB takes a few ms).
        clock: The time source (tests pass a fake one).

    Example:
        >>> now = [0.0]
        >>> trimmer = MemoryTrimmer(period_s=10, clock=lambda: now[0])
        >>> trimmer.tick(), trimmer.trims
        (False, 0)
        >>> now[0] = 10.0
        >>> trimmer.tick() == (_trim_function() is not None)
        True
    """

    def __init__(self, period_s: float = 10.0, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.period_s, self.clock = period_s, clock
        self.trims = 0
        self._last = clock()

    def tick(self) -> bool:
        """Trim if ``period_s`` has passed since the last trim; whether it trimmed."""
        now = self.clock()
        if now - self._last < self.period_s:
            return False
        self._last = now
        if not malloc_trim():
            return False
        self.trims += 1
        return True
