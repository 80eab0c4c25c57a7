"""Rate limits: GCRA slots, leased blocks, and one authority shared by processes."""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import time
from pathlib import Path

import pytest

from webresearch.errors import ConfigError
from webresearch.net.rate_limit import (
    LocalAuthority,
    Rate,
    RateLimiter,
    SqliteAuthority,
    _gcra,
)


def test_gcra_spacing_and_burst() -> None:
    slots, _ = _gcra(None, 100.0, Rate(per_second=4.0, burst=1), 5)
    assert slots == pytest.approx([100.0, 100.25, 100.5, 100.75, 101.0])
    slots, _ = _gcra(None, 100.0, Rate(per_second=1.0, burst=3), 5)
    assert slots == pytest.approx([100.0, 100.0, 100.0, 101.0, 102.0])
    _, tat = _gcra(None, 0.0, Rate(1.0), 1)
    slots, _ = _gcra(tat, 50.0, Rate(1.0), 1)  # idle time is not banked beyond the burst
    assert slots == [50.0]
    with pytest.raises(ConfigError):
        Rate(per_second=0)


def test_limiter_waits_and_respects_deadlines() -> None:
    limiter = RateLimiter(default=Rate(per_second=20.0))

    async def burst() -> tuple[float, bool]:
        start = time.time()
        for _ in range(6):
            await limiter.acquire("h")
        late = await limiter.acquire("h", deadline=time.time() + 0.01)
        return time.time() - start, late

    elapsed, late = asyncio.run(burst())
    assert 0.22 <= elapsed < 1.0 and late is False  # 5 gaps of 50 ms; the 7th misses


def test_unlisted_keys_are_unlimited_without_a_default() -> None:
    limiter = RateLimiter(rates={"slow": Rate(0.1)})
    assert asyncio.run(limiter.acquire("fast")) is True


def test_leased_blocks_drop_stale_slots() -> None:
    limiter = RateLimiter(LocalAuthority(), default=Rate(per_second=10.0), block=5)

    async def main() -> int:
        await limiter.acquire("h")
        await asyncio.sleep(0.6)  # the 4 other leased slots went stale
        start = time.time()
        await limiter.acquire("h")
        return round((time.time() - start) * 10)

    assert asyncio.run(main()) == 0
    assert len(limiter._slots["h"]) == 4  # a fresh block was leased


def _reserve_many(path: str, n: int, queue: multiprocessing.Queue[list[float] | str]) -> None:
    try:
        authority = SqliteAuthority(path)
        rate = Rate(per_second=1000.0)
        queue.put([asyncio.run(authority.reserve("h", rate, 1))[0] for _ in range(n)])
    except Exception as exc:  # report it: a silent child would look like a timeout
        queue.put(f"{type(exc).__name__}: {exc}")


def test_sqlite_authority_is_shared_by_processes(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[list[float] | str] = ctx.Queue()
    path = str(tmp_path / "rates.sqlite")
    workers = [ctx.Process(target=_reserve_many, args=(path, 200, queue)) for _ in range(2)]
    for w in workers:
        w.start()
    results = [queue.get(timeout=60), queue.get(timeout=60)]
    assert all(isinstance(r, list) for r in results), results
    slots = sorted(results[0] + results[1])  # type: ignore[operator]
    for w in workers:
        w.join(timeout=60)
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    # never two in one 1 ms slot (1e-6: float resolution of epoch seconds)
    assert len(slots) == 400 and min(gaps) >= 0.001 - 1e-6
