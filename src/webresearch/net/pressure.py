"""Back-pressure seen on the wire: counters of tries, throttled answers (429) and Retry-After.

Every :class:`~webresearch.net.http.HttpClient` records each try it makes in a
:class:`PressureMeter` (the process's own by default, :func:`process_meter`). Whoever
paces the work above (the rollout's adaptive concurrency) reads :meth:`PressureMeter.
snapshot` now and then and subtracts the previous one: a frozen dataclass of counters,
never a parsed log. The counters are plain integers and floats, cheap to update on
every try.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = ["NetPressure", "PressureMeter", "process_meter"]

THROTTLED = frozenset({429})
"""Statuses that say "too many requests" whatever their headers."""


@dataclass(frozen=True, slots=True)
class NetPressure:
    """Counters of the tries a meter has seen (since it was made; subtract two snapshots
    for a window).

    Example:
        >>> a = NetPressure(tries=10, throttled=1, retry_after_s=1.0, latency_s=2.0)
        >>> b = NetPressure(tries=30, throttled=4, retry_after_s=3.0, latency_s=5.0,
        ...                 last_retry_after_s=1.0)
        >>> window = b - a
        >>> window.tries, window.throttled, window.throttled_share, window.mean_latency_s
        (20, 3, 0.15, 0.15)
    """

    tries: int = 0
    """Requests sent (each retry counts)."""
    throttled: int = 0
    """Tries answered 429, or 503 with a ``Retry-After``: the server asks for less."""
    retry_after_s: float = 0.0
    """Sum of the ``Retry-After`` seconds of throttled answers that gave one."""
    latency_s: float = 0.0
    """Sum of the tries' seconds (sent to answered or failed)."""
    last_retry_after_s: float = 0.0
    """The latest ``Retry-After`` seen (not a counter: kept as is by subtraction)."""

    def __sub__(self, earlier: NetPressure) -> NetPressure:
        return NetPressure(self.tries - earlier.tries, self.throttled - earlier.throttled,
                           self.retry_after_s - earlier.retry_after_s,
                           self.latency_s - earlier.latency_s, self.last_retry_after_s)

    @property
    def throttled_share(self) -> float:
        """Throttled tries over all tries (0.0 for none)."""
        return self.throttled / self.tries if self.tries else 0.0

    @property
    def mean_latency_s(self) -> float | None:
        """Mean seconds per try, ``None`` for no try."""
        return self.latency_s / self.tries if self.tries else None


class PressureMeter:
    """Adds up the tries of the HTTP clients that record in it.

    Example:
        >>> meter = PressureMeter()
        >>> meter.record(200, None, 0.1); meter.record(429, 2.0, 0.01)
        >>> meter.snapshot().throttled, meter.snapshot().last_retry_after_s
        (1, 2.0)
    """

    def __init__(self) -> None:
        self._tries = self._throttled = 0
        self._retry_after_s = self._latency_s = self._last_retry_after_s = 0.0
        self.last_throttled_at = 0.0
        """``time.monotonic()`` of the latest throttled answer (0.0: none yet)."""

    def record(self, status: int, retry_after_s: float | None, latency_s: float) -> None:
        """Count one try that ended with ``status`` (0: no answer) after ``latency_s``."""
        self._tries += 1
        self._latency_s += max(0.0, latency_s)
        if status in THROTTLED or (status == 503 and retry_after_s is not None):
            self._throttled += 1
            self.last_throttled_at = time.monotonic()
            if retry_after_s is not None:
                self._retry_after_s += retry_after_s
                self._last_retry_after_s = retry_after_s

    def snapshot(self) -> NetPressure:
        """The counters now."""
        return NetPressure(self._tries, self._throttled, self._retry_after_s, self._latency_s,
                           self._last_retry_after_s)


_PROCESS_METER = PressureMeter()


def process_meter() -> PressureMeter:
    """The meter every HTTP client of this process records in unless given its own."""
    return _PROCESS_METER
