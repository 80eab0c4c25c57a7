"""Where bodies become text: worker processes fed over pipes, bounded in time and memory.

Workers run :mod:`~webresearch.crawlers.convert_worker`. The event loop talks to them
through asyncio's own pipe transports, so the parent runs no helper threads (with
``concurrent.futures`` their fight for the GIL against a busy loop starves the workers).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import sys
import time
from pathlib import Path

from webresearch.crawlers import convert_worker
from webresearch.crawlers.content import Converted
from webresearch.crawlers.convert_worker import (
    ANSWER_LIMIT,
    HEADER,
    decode_answer,
    encode_request,
)
from webresearch.errors import ConfigError

__all__ = ["ProcessConverter"]

logger = logging.getLogger(__name__)


class ProcessConverter:
    """Converts response bodies to text in ``processes`` worker processes.

    Every body is untrusted, so none is parsed on the event loop that all episodes
    share, whatever its size: a 10 KB PDF whose 60 pages share one content stream keeps
    pypdf busy for minutes. Each conversion is bounded: past ``timeout_s`` (counted
    from when its worker starts on it) it is a page error and the worker is killed
    and replaced; a worker's address space is capped at ``memory_mb``, so a page that
    needs more is a page error too. A worker that dies takes only the page it was on
    (a page error: it may have caused the crash); the pages queued behind it go to
    another worker. HTML-to-text is the crawler's biggest CPU cost (about 0.6 ms for a
    60 KB page), so the workers also move that work onto other cores.

    Example:
        >>> import asyncio
        >>> async def demo() -> str:
        ...     converter = ProcessConverter(1)
        ...     try:
        ...         return (await converter.convert(b"<title>T</title><p>Hi</p>", "text/html")).text
        ...     finally:
        ...         await converter.aclose()
        >>> asyncio.run(demo())
        'Hi'
    """

    def __init__(self, processes: int = 1, *, timeout_s: float = 20.0, memory_mb: int = 1024,
                 restart_delay_s: float = 5.0, start_timeout_s: float = 30.0) -> None:
        if processes < 1:
            raise ConfigError(f"Expects at least 1 conversion process (bodies are never parsed "
                              f"on the event loop), actual: {processes}")
        self.processes, self.timeout_s, self.memory_mb = processes, timeout_s, memory_mb
        self.restart_delay_s = restart_delay_s
        """A worker that ends before its first answer is restarted this much later at the
        earliest (one that cannot start cannot spin)."""
        self.start_timeout_s = start_timeout_s
        """Longest wait for a worker to start when none is running."""
        self.workers: list[_Worker] = []
        self._spawning: asyncio.Task[None] | None = None
        self._next_spawn = 0.0
        self.offloaded = 0
        """Bodies converted in a worker process."""

    async def start(self) -> None:
        """Start the worker processes now rather than at the first page."""
        self.workers = [w for w in self.workers if w.alive]
        missing = self.processes - len(self.workers)
        if missing > 0:
            self.workers += await asyncio.gather(*(
                _Worker.spawn(self._argv(), self.timeout_s) for _ in range(missing)))

    def _argv(self) -> list[str]:
        return [*_worker_argv(), "--memory-mb", str(self.memory_mb)]

    async def convert(self, body: bytes, content_type: str | None, *, url: str = ""
                      ) -> Converted:
        """Convert ``body`` as :func:`~webresearch.crawlers.content.convert` does, in a worker."""
        payload = encode_request(body, content_type, url)
        for _ in range(self.processes + 2):  # again when a worker dies under an earlier page
            worker = await self._worker()
            if worker is None:
                return Converted(error="no conversion process is running (they fail to start)")
            try:
                out = await worker.send(payload)
            except _WorkerGone as gone:
                if gone.suspect:  # it died converting this page
                    return Converted(error="the page brought down the process converting it")
                continue
            self.offloaded += 1
            return out
        return Converted(error="the page could not be converted (its converters kept ending)")

    async def _worker(self) -> _Worker | None:
        """The least busy live worker, starting workers as needed (``None``: none can)."""
        self._note_failed_starts()
        alive = [w for w in self.workers if w.alive]
        if len(alive) < self.processes:
            self._replenish()
            spawning = self._spawning
            if not alive and spawning is not None and not spawning.done():
                try:
                    await asyncio.wait_for(asyncio.shield(spawning), self.start_timeout_s)
                except (TimeoutError, OSError):
                    return None
                except asyncio.CancelledError:  # closed meanwhile, or this task cancelled
                    if spawning.cancelled() and not _being_cancelled():
                        return None
                    raise
                alive = [w for w in self.workers if w.alive]
        return min(alive, key=_load, default=None)

    def _note_failed_starts(self) -> None:
        """Hold back restarts after a worker exited on its own before answering anything
        (a worker that cannot start); one killed by a signal is replaced at once."""
        for worker in self.workers:
            if worker.exit_code is not None and worker.exit_code >= 0 and not worker.answered:
                self._next_spawn = max(self._next_spawn, worker.started + self.restart_delay_s)

    def _replenish(self) -> None:
        now = time.monotonic()
        if (self._spawning is None or self._spawning.done()) and now >= self._next_spawn:
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
        """Stop the worker processes and wait until they are gone; safe to call twice."""
        workers = self.workers
        self.close()
        await asyncio.gather(*(w.wait() for w in workers))


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


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
    """One conversion process; answers come back in the order requests went out.

    A watchdog gives the page at the head of the queue (the one being converted)
    ``timeout_s``; past it the page is a page error and the process is killed.
    """

    def __init__(self, process: asyncio.subprocess.Process, timeout_s: float) -> None:
        self.process, self.timeout_s = process, timeout_s
        self.waiting: collections.deque[asyncio.Future[Converted]] = collections.deque()
        self.alive, self.answered = True, 0
        self.exit_code: int | None = None
        """How the process ended on its own (negative: a signal); ``None`` while it runs
        or when this side killed it."""
        self.started = time.monotonic()
        self._watchdog: asyncio.TimerHandle | None = None
        self.reader = asyncio.ensure_future(self._read())

    @classmethod
    async def spawn(cls, argv: list[str], timeout_s: float) -> _Worker:
        package_root = str(Path(__file__).resolve().parents[2])  # importable by the child
        path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": path})
        return cls(process, timeout_s)

    def send(self, payload: bytes) -> asyncio.Future[Converted]:
        if not self.alive:
            raise _WorkerGone
        assert self.process.stdin is not None
        answer: asyncio.Future[Converted] = asyncio.get_running_loop().create_future()
        self.waiting.append(answer)
        self.process.stdin.write(payload)
        if len(self.waiting) == 1:
            self._arm()
        return answer

    def _arm(self) -> None:
        """Start the head page's clock (the worker starts on it now)."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._watchdog = asyncio.get_running_loop().call_later(self.timeout_s, self._expire)

    def _expire(self) -> None:
        """The head page ran out of time: it is a page error, and the process is killed."""
        if self.waiting:
            head = self.waiting.popleft()
            if not head.done():
                head.set_result(Converted(
                    error=f"the page took over {self.timeout_s:g} s to convert to text"))
        self.kill()

    async def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            while True:
                (size,) = HEADER.unpack(await stdout.readexactly(HEADER.size))
                if size > ANSWER_LIMIT + 1024:
                    raise ValueError(f"Expects an answer under {ANSWER_LIMIT} bytes, "
                                     f"actual: {size}")
                out = decode_answer(await stdout.readexactly(size))
                self._answered(out)
        except (asyncio.IncompleteReadError, ConnectionError):  # the process ended
            await self._ended()
        except (ValueError, IndexError):  # garbled, or an answer nobody asked for
            logger.warning("a conversion process garbled its answers; stopping it")
            self.kill()
        finally:
            self.stop()

    def _answered(self, out: Converted) -> None:
        answer = self.waiting.popleft()
        self.answered += 1
        if not answer.done():
            answer.set_result(out)
        if self.waiting:
            self._arm()
        elif self._watchdog is not None:
            self._watchdog.cancel()

    async def _ended(self) -> None:
        if not self.alive:
            return
        self.alive = False  # no more work for it
        try:
            code = await asyncio.wait_for(self.process.wait(), 5.0)
        except TimeoutError:  # its output closed but it lives on
            self.kill()
            return
        self.exit_code = code
        self.stop(killed=code < 0)
        logger.warning("a conversion process ended (exit code %s); another starts", code)

    def stop(self, *, killed: bool = False) -> None:
        """Take no more work and fail what is waiting; the process exits at the end of its
        input. (No signal: one sent to a process that just died races the child watcher.)

        When a signal ``killed`` the process (a crash, the kernel's OOM killer), the page
        it was converting (the first waiting) is suspected of it.
        """
        self.alive = False
        if self._watchdog is not None:
            self._watchdog.cancel()
        suspect = killed
        while self.waiting:
            answer = self.waiting.popleft()
            if not answer.done():
                answer.set_exception(_WorkerGone(suspect))
                answer.exception()  # retrieved: a caller that gave up no longer waits
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
