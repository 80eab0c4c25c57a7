"""Where bodies become text: inline on the event loop, or in a pool of worker processes."""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from webresearch.crawlers.content import Converted, convert

__all__ = ["ProcessConverter"]

logger = logging.getLogger(__name__)


class ProcessConverter:
    """Converts large bodies in ``processes`` worker processes, small ones inline.

    HTML-to-text is the crawler's biggest CPU cost (about 1 ms for a 60 KB page); in
    worker processes it runs on other cores and never stalls the event loop that all
    episodes share. Bodies under ``min_bytes`` are converted inline, where sending
    them to a process would cost more than it saves. A worker that dies is replaced
    (the body is converted inline meanwhile); a conversion past ``timeout_s`` is a page
    error, not a hang.

    Example:
        >>> import asyncio
        >>> converter = ProcessConverter(1, min_bytes=0)
        >>> asyncio.run(converter.convert(b"<title>T</title><p>Hi</p>", "text/html")).text
        'Hi'
        >>> converter.close()
    """

    def __init__(self, processes: int, *, min_bytes: int = 16_384, timeout_s: float = 30.0
                 ) -> None:
        self.processes, self.min_bytes, self.timeout_s = processes, min_bytes, timeout_s
        self._pool: ProcessPoolExecutor | None = None
        self.offloaded = 0
        """Bodies converted in a worker process."""

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:  # spawn: forking a process that runs threads is unsafe
            self._pool = ProcessPoolExecutor(self.processes,
                                             mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    async def start(self) -> None:
        """Start the worker processes now rather than at the first large page."""
        loop = asyncio.get_running_loop()
        noop = functools.partial(convert, b"", None)
        await asyncio.gather(*(loop.run_in_executor(self._executor(), noop)
                               for _ in range(self.processes)))

    async def convert(self, body: bytes, content_type: str | None, *, url: str = ""
                      ) -> Converted:
        """Convert ``body`` as :func:`~webresearch.crawlers.content.convert` does."""
        if len(body) < self.min_bytes:
            return convert(body, content_type, url=url)
        loop = asyncio.get_running_loop()
        try:
            work = loop.run_in_executor(self._executor(),
                                        functools.partial(convert, body, content_type, url=url))
            out = await asyncio.wait_for(work, self.timeout_s)
        except BrokenProcessPool:
            logger.warning("a conversion process died; starting another")
            self.close()
            return convert(body, content_type, url=url)
        except TimeoutError:
            return Converted(error=f"the page took over {self.timeout_s:g} s to convert to text")
        self.offloaded += 1
        return out

    def close(self) -> None:
        """Stop the worker processes (a later conversion starts new ones)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
