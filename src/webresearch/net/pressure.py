"""Back-pressure seen on the wire: counters of tries, throttled answers (429) and Retry-After.

Every :class:`~webresearch.net.http.HttpClient` records each try it makes in a
:class:`PressureMeter` (the process's own by default, :func:`process_meter`). Whoever
paces the work above (the rollout's adaptive concurrency) reads :meth:`PressureMeter.
snapshot` now and then and subtracts the previous one: a frozen dataclass of counters,
never a parsed log. The counters are plain integers and floats, cheap to update on
every try.

A policy server's own queue is read by a :class:`QueueProbe`: the Prometheus text of
its ``/metrics`` (vLLM's ``vllm:num_requests_waiting`` and ``vllm:num_requests_running``),
fetched with a timeout and a size cap, parsed line by line by :func:`parse_queue`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from dataclasses import dataclass

import aiohttp

__all__ = ["MAX_RETRY_AFTER_S", "NetPressure", "PressureMeter", "QueueProbe", "ServerQueue",
           "capped_retry_after", "parse_queue", "process_meter"]

logger = logging.getLogger(__name__)

THROTTLED = frozenset({429})
"""Statuses that say "too many requests" whatever their headers."""

MAX_RETRY_AFTER_S = 120.0
"""The longest ``Retry-After`` taken as said (any server, a crawled page's too, may say
years): a longer, infinite or NaN one counts as this (the HTTP client's default cap)."""


def capped_retry_after(seconds: float) -> float:
    """``seconds`` within ``[0, MAX_RETRY_AFTER_S]`` (NaN: the cap).

    Example:
        >>> capped_retry_after(3.0), capped_retry_after(1e9), capped_retry_after(float("nan"))
        (3.0, 120.0, 120.0)
    """
    return max(0.0, seconds) if seconds <= MAX_RETRY_AFTER_S else MAX_RETRY_AFTER_S


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
                retry_after_s = capped_retry_after(retry_after_s)
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


@dataclass(frozen=True, slots=True)
class ServerQueue:
    """A policy server's requests waiting for a place in its batch, and running in it."""

    waiting: float
    running: float


QUEUE_METRICS = {"vllm:num_requests_waiting": "waiting", "vllm:num_requests_running": "running"}
"""The Prometheus gauges read (summed over their label sets: every model and engine)."""


MAX_GAUGE = 1e12
"""The most a gauge's sum reads (huge values do not overflow to infinity)."""

_NAME = re.compile(r"[ \t]*([^\s{]+)")
_LABELS = re.compile(r'\{(?:[^"}]++|"(?:[^"\\]++|\\.)*+")*+\}')
"""A label set up to its real closing brace (quoted values may hold braces and escaped
quotes); possessive, so it never backtracks: linear time. Where a label value's quoting
is broken (an unescaped quote), the set ends at its first closing brace."""


def parse_queue(text: str) -> ServerQueue | None:
    """The queue in a Prometheus (or OpenMetrics) text exposition; ``None`` if it names
    neither gauge.

    Untrusted text: one pass over its ``\\n``-separated lines; a line that does not
    parse is skipped, negative, infinite or NaN values are ignored, and a sum stops at
    ``MAX_GAUGE``. The value is the first token after the name and its label set (an
    exemplar or timestamp after it is not read).

    Example:
        >>> parse_queue('# TYPE vllm:num_requests_waiting gauge\\n'
        ...             'vllm:num_requests_waiting{model_name="q"} 3.0 # {trace_id="a"} 1\\n'
        ...             'vllm:num_requests_running{model_name="q",engine="0"} 12\\n'
        ...             'vllm:num_requests_running\\t4 1700000000\\n')
        ServerQueue(waiting=3.0, running=16.0)
        >>> parse_queue("up 1") is None
        True
    """
    sums = {"waiting": 0.0, "running": 0.0}
    seen = False
    for line in text.split("\n"):
        name = _NAME.match(line)
        field = QUEUE_METRICS.get(name.group(1)) if name else None
        if name is None or field is None:
            continue
        at = name.end()
        if line.startswith("{", at):
            labels = _LABELS.match(line, at)  # quoting broken: up to the first brace
            at = labels.end() if labels else line.find("}", at) + 1
            if not at:
                continue
        token = line[at:].split(None, 1)
        try:
            value = float(token[0]) if token and "_" not in token[0] else math.nan
        except ValueError:
            continue
        if math.isfinite(value) and value >= 0:
            sums[field] = min(MAX_GAUGE, sums[field] + value)
            seen = True
    return ServerQueue(**sums) if seen else None


class QueueProbe:
    """Reads a policy server's queue from its ``/metrics``, at most ``max_bytes`` of it
    within ``timeout_s``; gives up for good after ``patience`` answers in a row without
    the gauges (200 without them, or 404: a server that exposes none; latency is then the
    only signal). No answer (a timeout, a refused connection, another status: a loaded
    or starting server) is not a miss: after ``patience`` of them in a row the probe
    asks every ``backoff`` polls only, until it is answered again.

    Example:
        >>> QueueProbe.for_api("http://127.0.0.1:8000/v1/").url
        'http://127.0.0.1:8000/metrics'
    """

    def __init__(self, url: str, *, timeout_s: float = 0.5, max_bytes: int = 1 << 20,
                 patience: int = 3, backoff: int = 8) -> None:
        self.url, self.timeout_s, self.max_bytes = url, timeout_s, max_bytes
        self.patience, self.backoff = patience, backoff
        self.misses = 0
        self.failures = 0
        """Polls in a row without an answer."""
        self._skip = 0
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def for_api(cls, base_url: str, *, timeout_s: float = 0.5) -> QueueProbe:
        """The probe of an OpenAI-compatible server whose API root is ``base_url``."""
        root = base_url.rstrip("/")
        root = root[:-3] if root.endswith("/v1") else root
        return cls(root + "/metrics", timeout_s=timeout_s)

    @property
    def alive(self) -> bool:
        """Whether the probe still asks (it stops after ``patience`` misses in a row)."""
        return self.misses < self.patience

    async def poll(self) -> ServerQueue | None:
        """The queue now, or ``None`` (no answer in time, no gauges, backing off, or
        given up)."""
        if not self.alive:
            return None
        if self._skip > 0:
            self._skip -= 1
            return None
        try:
            queue = parse_queue(await asyncio.wait_for(self._read(), self.timeout_s))
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            logger.debug("no queue from %s: %s", self.url, exc)
            self.failures += 1
            self._skip = self.backoff - 1 if self.failures >= self.patience else 0
            return None
        self.failures = 0
        self.misses = 0 if queue is not None else self.misses + 1
        if not self.alive:
            logger.info("%s exposes no queue; the policy's latency steers alone", self.url)
        return queue

    async def _read(self) -> str:
        if self._session is None:
            # never inflated: a small gzip body may stand for gigabytes (the cap counts wire bytes)
            self._session = aiohttp.ClientSession(trust_env=False, auto_decompress=False)
        async with self._session.get(self.url, allow_redirects=False,
                                     headers={"Accept-Encoding": "identity"}) as response:
            if response.status == 404:
                return ""
            if response.status != 200:  # a server error, a redirect: no answer, not a miss
                raise ConnectionError(f"Expects 200 or 404; got {response.status}")
            body = bytearray()
            async for chunk in response.content.iter_chunked(1 << 16):
                body += chunk
                if len(body) >= self.max_bytes:
                    del body[self.max_bytes:]  # a cut-off last line is dropped below
                    body = body[:body.rfind(b"\n") + 1]
                    break
            return body.decode("utf-8", errors="replace")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
