"""The sync API's event loop: one private loop per env, usable inside a running loop too."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["PrivateLoop"]

T = TypeVar("T")


class PrivateLoop:
    """Runs coroutines to completion on a loop of its own, made on first use.

    Called from inside a running loop (a notebook, ``asyncio.run``, an async framework
    calling a sync env), it runs them in a helper thread, since a thread can run only
    one loop at a time.

    Example:
        >>> loop = PrivateLoop()
        >>> async def two() -> int:
        ...     return 2
        >>> loop.run(two())
        2
        >>> async def nested() -> int:  # the sync API called from async code
        ...     return loop.run(two())
        >>> asyncio.run(nested())
        2
        >>> loop.close()
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: ThreadPoolExecutor | None = None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """``coro``'s result, run on the private loop."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._loop.run_until_complete(coro)
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="webresearch-env")
        return self._thread.submit(self._loop.run_until_complete, coro).result()

    def close(self) -> None:
        """Close the loop and the helper thread; safe to repeat (a later run starts anew)."""
        if self._loop is not None:
            self._loop.close()
            self._loop = None
        if self._thread is not None:
            self._thread.shutdown()
            self._thread = None

    def __del__(self) -> None:
        # The loop is released even without close(), but not while the interpreter exits
        # (the selectors it needs may be gone by then).
        loop = getattr(self, "_loop", None)
        if loop is None or loop.is_closed() or sys.is_finalizing():
            return
        with contextlib.suppress(Exception):
            loop.close()
