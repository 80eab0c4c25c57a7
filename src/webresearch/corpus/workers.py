"""Serving processes: one server in this process, or several on one port (``SO_REUSEPORT``).

Each worker process opens the same index, whose arrays are memory-mapped, so the
pages of the index are in memory once however many workers search it; the kernel
spreads connections over the workers. The parent builds the index first (so the
workers only load it), holds the port while they start, restarts a worker that
dies, and stops them all when it is stopped or killed (a worker whose parent is gone
stops by itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from webresearch.corpus.retrieval_api import IndexSpec, PassageSearcher, RetrievalLimits
from webresearch.corpus.server import RetrieverServer
from webresearch.errors import ConfigError

__all__ = ["ServeConfig", "serve", "serve_searcher"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeConfig:
    """Where and how many processes serve."""

    host: str = "127.0.0.1"
    """Address to bind; loopback unless opened to a network on purpose."""
    port: int = 8000
    """Port (Search-R1's default, 8000; 0: any free one)."""
    workers: int = 1
    """Server processes sharing the port (1: this process serves)."""
    limits: RetrievalLimits = field(default_factory=RetrievalLimits)
    """Bounds on a request."""
    ready_timeout_s: float = 600.0
    """Longest wait for a worker to open the index and listen."""
    stop_timeout_s: float = 10.0
    """Longest wait for a worker to stop before it is killed."""

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"Expects workers >= 1, actual: {self.workers}")
        if self.workers > 1 and not hasattr(socket, "SO_REUSEPORT"):
            raise ConfigError("Expects workers=1 on a system without SO_REUSEPORT, actual: "
                              f"{self.workers}")
        if not 0 <= self.port < 65536:
            raise ConfigError(f"Expects a port in 0..65535, actual: {self.port}")


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)


async def _wait(stop: asyncio.Event, parent_pid: int | None, poll_s: float = 1.0) -> None:
    """Until ``stop`` is set, or the process ``parent_pid`` is no longer the parent."""
    while not stop.is_set():
        if parent_pid is not None and os.getppid() != parent_pid:
            logger.warning("The parent process %d is gone; stopping", parent_pid)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(poll_s):
                await stop.wait()


async def serve_searcher(searcher: PassageSearcher, config: ServeConfig,
                         on_ready: Callable[[str], None], *, reuse_port: bool = False,
                         parent_pid: int | None = None) -> None:
    """Serve ``searcher`` in this process until SIGINT or SIGTERM; ``on_ready(url)``
    once it listens."""
    stop = asyncio.Event()
    _stop_on_signals(stop)
    async with RetrieverServer(searcher, host=config.host, port=config.port,
                               limits=config.limits, reuse_port=reuse_port) as server:
        on_ready(server.url)
        await _wait(stop, parent_pid)


def _worker_main(spec: IndexSpec, config: ServeConfig, ready: Any, parent_pid: int) -> None:
    """A worker process: open the index, listen on the shared port, report, serve."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group; the parent stops us
    try:
        searcher = spec.open()
    except Exception as exc:  # the parent reports it and stops
        ready.send((os.getpid(), f"{type(exc).__name__}: {exc}"))
        return

    def report(url: str) -> None:
        ready.send((os.getpid(), ""))
        ready.close()

    asyncio.run(serve_searcher(searcher, config, report, reuse_port=True,
                               parent_pid=parent_pid))


def _hold_port(host: str, port: int) -> socket.socket:
    """A socket bound (not listening) to ``host:port`` with ``SO_REUSEPORT``: it keeps a
    port chosen by the system while the workers bind it too, and takes no connections."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((host, port))
    return holder


class _Workers:
    """The worker processes of :func:`serve` and their lifecycle (each reports on a pipe
    of its own: no semaphore outlives a killed server)."""

    def __init__(self, spec: IndexSpec, config: ServeConfig) -> None:
        self.spec, self.config = spec, config
        self.context = multiprocessing.get_context("spawn")
        self.processes: list[Any] = []

    def start_one(self) -> Any:
        """Start a worker; return the pipe end it reports on."""
        reader, writer = self.context.Pipe(duplex=False)
        process = self.context.Process(target=_worker_main, name="webresearch-retriever",
                                       args=(self.spec, self.config, writer, os.getpid()))
        process.start()
        writer.close()
        self.processes.append(process)
        return reader

    def wait_ready(self, readers: list[Any]) -> None:
        """Until every worker whose pipe is in ``readers`` listens (or says why not)."""
        deadline = time.monotonic() + self.config.ready_timeout_s
        for reader in readers:
            try:
                if not reader.poll(max(0.0, deadline - time.monotonic())):
                    raise ConfigError(f"Expects a worker to listen within "
                                      f"{self.config.ready_timeout_s} s; got none")
                pid, error = reader.recv()
            except EOFError:
                raise ConfigError("Expects a worker to listen; it ended first") from None
            finally:
                reader.close()
            if error:
                raise ConfigError(f"Expects worker {pid} to open the index; got {error}")

    def watch(self, stopped: Callable[[], bool]) -> None:
        """Until ``stopped()``: restart any worker that died."""
        while not stopped():
            sentinels = [p.sentinel for p in self.processes]
            multiprocessing.connection.wait(sentinels, timeout=1.0)
            for process in [p for p in self.processes if not p.is_alive()]:
                if stopped():
                    return
                logger.warning("Worker %s ended (exit code %s); starting another",
                               process.pid, process.exitcode)
                self.processes.remove(process)
                self.wait_ready([self.start_one()])

    def stop(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.terminate()
        for process in self.processes:
            process.join(timeout=self.config.stop_timeout_s)
            if process.is_alive():
                process.kill()
                process.join(timeout=self.config.stop_timeout_s)


def serve(spec: IndexSpec, config: ServeConfig, on_ready: Callable[[str], None]) -> None:
    """Serve the index ``spec`` names with ``config.workers`` processes until SIGINT or
    SIGTERM; ``on_ready(url)`` once every worker listens."""
    spec.open().close()  # build here, once: the workers then only load it
    if config.workers == 1:
        asyncio.run(serve_searcher(spec.open(), config, on_ready))
        return
    holder = _hold_port(config.host, config.port)
    port = holder.getsockname()[1]
    workers = _Workers(spec, dataclasses.replace(config, port=port))
    stopping: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    try:
        workers.wait_ready([workers.start_one() for _ in range(config.workers)])
        host = f"[{config.host}]" if ":" in config.host else config.host
        on_ready(f"http://{host}:{port}/retrieve")
        workers.watch(lambda: bool(stopping))
    except KeyboardInterrupt:
        pass
    finally:
        workers.stop()
        holder.close()
        signal.signal(signal.SIGTERM, previous)
