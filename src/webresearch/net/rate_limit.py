"""Rate limits that hold across every process of a run: slots reserved from one authority.

The algorithm is GCRA (a token bucket expressed as a "theoretical arrival time"): a
key with rate ``r`` and burst ``b`` admits a request at time ``t`` if ``t >= tat - (b-1)/r``,
then moves ``tat`` on by ``1/r``. An authority hands out *slots* (start times); clients
wait for their slot. Clients may lease slots in blocks, so a remote authority (a Ray
actor, a database) is asked once per block, not once per request. A slot not used
within ``1/r`` of its start is dropped, so leased blocks never add up to a burst.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from webresearch.errors import ConfigError
from webresearch.safe_disk import retry_while_locked

__all__ = ["LocalAuthority", "Rate", "RateAuthority", "RateLimiter", "SqliteAuthority",
           "default_authority", "use_authority"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Rate:
    """A rate limit: ``per_second`` requests on average, up to ``burst`` at once."""

    per_second: float
    burst: int = 1

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst < 1:
            raise ConfigError(f"Expects per_second > 0 and burst >= 1, actual: "
                              f"{self.per_second}, {self.burst}")


class RateAuthority(Protocol):
    """The one place that decides when requests under a key may start."""

    async def reserve(self, key: str, rate: Rate, n: int) -> list[float]:
        """Reserve ``n`` slots for ``key``; return their start times (``time.time()``)."""
        ...


_DEFAULT_AUTHORITY: list[RateAuthority | None] = [None]


def use_authority(authority: RateAuthority | None) -> None:
    """Make ``authority`` the one that rate limiters of this process ask when their
    config names none (a Ray worker installs its run's authority actor this way).

    Example:
        >>> authority = LocalAuthority()
        >>> use_authority(authority); default_authority() is authority
        True
        >>> use_authority(None)
    """
    _DEFAULT_AUTHORITY[0] = authority


def default_authority() -> RateAuthority | None:
    """The authority installed with :func:`use_authority`, if any."""
    return _DEFAULT_AUTHORITY[0]


def _gcra(tat: float | None, now: float, rate: Rate, n: int) -> tuple[list[float], float]:
    """``n`` slots from theoretical arrival time ``tat``; return them and the new ``tat``."""
    interval = 1.0 / rate.per_second
    tolerance = (rate.burst - 1) * interval
    tat = now if tat is None else max(tat, now)
    slots = []
    for _ in range(n):
        start = max(now, tat - tolerance)
        slots.append(start)
        tat = max(tat, start) + interval
    return slots, tat


class LocalAuthority:
    """An in-process authority (the default): exact for every coroutine of the process.

    Example:
        >>> authority = LocalAuthority()
        >>> slots = asyncio.run(authority.reserve("h", Rate(2.0), 3))
        >>> [round(s - slots[0], 3) for s in slots]
        [0.0, 0.5, 1.0]
    """

    max_keys = 100_000
    """Keys remembered; past it, keys whose slots all lie in the past are forgotten (a
    past arrival time means the same as none), so memory does not grow with hosts."""

    def __init__(self) -> None:
        self._tat: dict[str, float] = {}

    async def reserve(self, key: str, rate: Rate, n: int) -> list[float]:
        now = time.time()
        if len(self._tat) >= self.max_keys:
            self._tat = {k: tat for k, tat in self._tat.items() if tat > now}
        slots, self._tat[key] = _gcra(self._tat.get(key), now, rate, n)
        return slots


class SqliteAuthority:
    """An authority shared by every process on a machine, through one SQLite file.

    Each reservation is one short ``BEGIN IMMEDIATE`` transaction, so processes never
    hand out overlapping slots.
    """

    def __init__(self, path: str | Path, *, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout_s = timeout_s
        self._db = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None,
                                   check_same_thread=False)
        self._locked(lambda: self._db.execute("PRAGMA journal_mode=WAL"))
        self._locked(lambda: self._db.execute(
            "CREATE TABLE IF NOT EXISTS tat (key TEXT PRIMARY KEY, tat REAL)"))

    async def reserve(self, key: str, rate: Rate, n: int) -> list[float]:
        return self._locked(lambda: self._reserve(key, rate, n))

    def _reserve(self, key: str, rate: Rate, n: int) -> list[float]:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT tat FROM tat WHERE key = ?", (key,)).fetchone()
            slots, tat = _gcra(row[0] if row else None, time.time(), rate, n)
            db.execute("INSERT OR REPLACE INTO tat (key, tat) VALUES (?, ?)", (key, tat))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return slots

    def _locked(self, work: Callable[[], T]) -> T:
        return retry_while_locked(work, self.timeout_s)

    def close(self) -> None:
        self._db.close()


class RateLimiter:
    """Waits for a slot under a key (a host, a search API) before each request.

    Args:
        authority: Where slots come from; a fresh :class:`LocalAuthority` by default.
        rates: Rates by key; keys not listed use ``default``.
        default: The rate of unlisted keys; ``None`` leaves them unlimited.
        block: Slots leased per request to the authority.

    Example:
        >>> limiter = RateLimiter(default=Rate(per_second=100.0))
        >>> asyncio.run(limiter.acquire("example.com"))
        True
    """

    def __init__(self, authority: RateAuthority | None = None, *,
                 rates: Mapping[str, Rate] | None = None, default: Rate | None = None,
                 block: int = 1) -> None:
        self.authority = authority or LocalAuthority()
        self.rates = dict(rates or {})
        self.default = default
        self.block = block
        self._slots: defaultdict[str, deque[float]] = defaultdict(deque)

    def rate(self, key: str) -> Rate | None:
        return self.rates.get(key, self.default)

    async def acquire(self, key: str, *, deadline: float | None = None) -> bool:
        """Wait for the next slot of ``key``; ``False`` if it would start after ``deadline``.

        ``deadline`` is a ``time.time()`` value.
        """
        rate = self.rate(key)
        if rate is None:
            return True
        slot = await self._next_slot(key, rate)
        if deadline is not None and slot > deadline:
            return False
        delay = slot - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        return True

    async def _next_slot(self, key: str, rate: Rate) -> float:
        slots, interval = self._slots[key], 1.0 / rate.per_second
        now = time.time()
        while slots and slots[0] + interval < now:
            slots.popleft()  # a leased slot left unused: dropping it keeps the rate
        if not slots:
            slots.extend(await self.authority.reserve(key, rate, self.block))
        slot = slots.popleft()
        if not slots:  # nothing leased is left for this host: forget it (hosts are many)
            self._slots.pop(key, None)
        return slot
