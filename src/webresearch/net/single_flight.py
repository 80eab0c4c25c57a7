"""Single flight: concurrent calls with the same key share one execution of the work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["SingleFlight"]

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Concurrent calls with the same key share one execution of the work.

    The work runs as its own task: a caller that is cancelled (an episode past its
    deadline) does not cancel it for the others.

    Example:
        >>> async def demo() -> list[int]:
        ...     calls = []
        ...     async def work() -> int:
        ...         calls.append(1)
        ...         await asyncio.sleep(0.01)
        ...         return 42
        ...     flight: SingleFlight[int] = SingleFlight()
        ...     results = await asyncio.gather(*(flight.run("k", work) for _ in range(5)))
        ...     return [len(calls), *results]
        >>> asyncio.run(demo())
        [1, 42, 42, 42, 42, 42]
    """

    def __init__(self) -> None:
        self._flights: dict[str, asyncio.Task[T]] = {}
        self.shared = 0
        """Calls that joined a flight already in the air."""

    async def run(self, key: str, work: Callable[[], Awaitable[T]]) -> T:
        task = self._flights.get(key)
        if task is None:
            task = asyncio.ensure_future(work())
            self._flights[key] = task
            task.add_done_callback(lambda t: self._land(key, t))
        else:
            self.shared += 1
        return await asyncio.shield(task)

    def _land(self, key: str, task: asyncio.Task[T]) -> None:
        if self._flights.get(key) is task:
            del self._flights[key]
        if not task.cancelled():
            task.exception()  # retrieved: nobody may be left waiting for it
