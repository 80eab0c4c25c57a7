"""Where bodies become text: inline on the event loop, or in worker processes fed over pipes.

Workers run :mod:`~webresearch.crawlers.convert_worker`. The event loop talks to them
through asyncio's own pipe transports, so the parent runs no helper threads (with
``concurrent.futures`` their fight for the GIL against a busy loop starves the workers).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import pickle
import sys
import time
from pathlib import Path

from webresearch.crawlers import convert_worker
from webresearch.crawlers.content import Converted, convert
from webresearch.crawlers.convert_worker import HEADER

__all__ = ["ProcessConverter"]

logger = logging.getLogger(__name__)


class ProcessConverter:
    """Converts large bodies in ``processes`` worker processes, small ones inline.

    HTML-to-text is the crawler's biggest CPU cost (about 0.6 ms for a 60 KB page); in
    worker processes it runs on other cores and never stalls the event loop that all
    episodes share. Bodies under ``min_bytes`` are converted inline, where shipping them
    to a process would cost more than it saves. A worker that dies is replaced, and what
    it held is converted inline meanwhile, except the page it was on when a signal
    killed it (a crash, the OOM killer): that one is a page error, so a page that
    crashes its converter cannot take the event loop's process down too. A conversion
    past ``timeout_s`` is a page error, not a hang, and the worker stuck on it is
    replaced.

    Example:
        >>> import asyncio
        >>> async def demo() -> str:
        ...     converter = ProcessConverter(1, min_bytes=0)
        ...     try:
        ...         return (await converter.convert(b"<title>T</title><p>Hi</p>", "text/html")).text
        ...     finally:
        ...         await converter.aclose()
        >>> asyncio.run(demo())
        'Hi'
    """

    def __init__(self, processes: int, *, min_bytes: int = 16_384, timeout_s: float = 30.0,
                 restart_delay_s: float = 5.0) -> None:
        self.processes, self.min_bytes, self.timeout_s = processes, min_bytes, timeout_s
        self.restart_delay_s = restart_delay_s
        """Workers are restarted at most this often (one that dies at once cannot spin)."""
        self.workers: list[_Worker] = []
        self._spawning: asyncio.Task[None] | None = None
        self._next_spawn = 0.0
        self.offloaded = 0
        """Bodies converted in a worker process."""

    async def start(self) -> None:
        """Start the worker processes now rather than at the first large page."""
        self.workers = [w for w in self.workers if w.alive]
        missing = self.processes - len(self.workers)
        if missing > 0:
            self.workers += await asyncio.gather(*(_Worker.spawn() for _ in range(missing)))

    async def convert(self, body: bytes, content_type: str | None, *, url: str = ""
                      ) -> Converted:
        """Convert ``body`` as :func:`~webresearch.crawlers.content.convert` does."""
        if len(body) < self.min_bytes:
            return convert(body, content_type, url=url)
        alive = [w for w in self.workers if w.alive]
        if len(alive) < self.processes:
            self._replenish()
        worker = min(alive, key=_load, default=None)
        if worker is None:  # none running yet (or all just died): this one goes inline
            return convert(body, content_type, url=url)
        try:
            answer = worker.send(pickle.dumps((body, content_type, url)))
            out = await asyncio.wait_for(asyncio.shield(answer), self.timeout_s)
        except _WorkerGone as gone:  # it died holding this page
            if gone.suspect:  # converting it here could bring down the event loop's process
                return Converted(error="the page brought down the process converting it")
            return convert(body, content_type, url=url)
        except TimeoutError:
            worker.kill()  # it is stuck on this page; what it held goes inline
            return Converted(error=f"the page took over {self.timeout_s:g} s to convert to text")
        self.offloaded += 1
        return out

    def _replenish(self) -> None:
        now = time.monotonic()
        if (self._spawning is None or self._spawning.done()) and now >= self._next_spawn:
            self._next_spawn = now + self.restart_delay_s
            self._spawning = asyncio.ensure_future(self.start())
            self._spawning.add_done_callback(_log_failure)

    def close(self) -> None:
        """Stop the worker processes (they exit at the end of their input; a later
        conversion starts new ones)."""
        if self._spawning is not None:
            self._spawning.cancel()
        for worker in self.workers:
            worker.stop()
        self.workers = []

    async def aclose(self) -> None:
        """Stop the worker processes and wait until they are gone."""
        workers = self.workers
        self.close()
        await asyncio.gather(*(w.wait() for w in workers))


def _load(worker: _Worker) -> int:
    return len(worker.waiting)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("conversion processes could not start: %s", task.exception())


class _WorkerGone(Exception):
    """The worker process ended before answering; ``suspect``: while converting this page."""

    def __init__(self, suspect: bool = False) -> None:
        super().__init__()
        self.suspect = suspect


class _Worker:
    """One conversion process; answers come back in the order requests went out."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.waiting: collections.deque[asyncio.Future[Converted]] = collections.deque()
        self.alive = True
        self.reader = asyncio.ensure_future(self._read())

    @classmethod
    async def spawn(cls) -> _Worker:
        package_root = str(Path(__file__).resolve().parents[2])  # importable by the child
        path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
        process = await asyncio.create_subprocess_exec(
            *_worker_argv(), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": path})
        return cls(process)

    def send(self, payload: bytes) -> asyncio.Future[Converted]:
        if not self.alive:
            raise _WorkerGone
        assert self.process.stdin is not None
        answer: asyncio.Future[Converted] = asyncio.get_running_loop().create_future()
        self.waiting.append(answer)
        self.process.stdin.writelines((HEADER.pack(len(payload)), payload))
        return answer

    async def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            while True:
                (size,) = HEADER.unpack(await stdout.readexactly(HEADER.size))
                out = pickle.loads(await stdout.readexactly(size))
                answer = self.waiting.popleft()
                if not answer.done():
                    answer.set_result(out)
        except (asyncio.IncompleteReadError, ConnectionError):  # the process ended
            if self.alive:
                self.alive = False  # no more work for it
                try:
                    code = await asyncio.wait_for(self.process.wait(), 5.0)
                except TimeoutError:  # its output closed but it lives on
                    self.kill()
                    return
                self.stop(killed=code < 0)
                logger.warning("a conversion process ended (exit code %s); its pages go inline "
                               "until another starts", code)
        except (pickle.UnpicklingError, EOFError, IndexError):  # an answer nobody asked for
            logger.warning("a conversion process garbled its answers; stopping it")
        finally:
            self.stop()

    def stop(self, *, killed: bool = False) -> None:
        """Take no more work and fail what is waiting; the process exits at the end of its
        input. (No signal: one sent to a process that just died races the child watcher.)

        When a signal ``killed`` the process (a crash, the kernel's OOM killer), the page
        it was converting (the first waiting) is suspected of it.
        """
        self.alive = False
        suspect = killed
        while self.waiting:
            answer = self.waiting.popleft()
            if not answer.done():
                answer.set_exception(_WorkerGone(suspect))
                answer.exception()  # retrieved: a caller past its timeout no longer waits
            suspect = False
        if self.process.stdin is not None:
            self.process.stdin.close()

    def kill(self) -> None:
        """Stop a worker that is stuck (on a page past its deadline) at once."""
        self.stop()
        if self.process.returncode is None:
            self.process.kill()

    async def wait(self, timeout_s: float = 5.0) -> None:
        try:
            await asyncio.wait_for(self.process.wait(), timeout_s)
        except TimeoutError:
            self.kill()
            await self.process.wait()
        await asyncio.gather(self.reader, return_exceptions=True)


def _worker_argv() -> list[str]:
    return [sys.executable, "-m", convert_worker.__name__]
