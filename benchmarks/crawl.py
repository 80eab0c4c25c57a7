"""Pages per second fetched and converted to text, against a bare aiohttp GET loop.

Starts ``webresearch serve-web`` in its own process (pages padded to ``--page-kb``),
then, in this process and in the same run, alternates two loops over the same pages
with the same concurrency:

- ``bare``: ``aiohttp`` GET and read the body, nothing else;
- ``live``: ``LiveWeb.fetch`` (URL policy, rate limiter, robots.txt, retries, body cap,
  charset, HTML to text, disk cache write), cold cache.

``ratio`` is live / bare (target: at least 0.5). ``cache_hit_ms`` is the mean time of
a fetch served from the disk cache. ``--latency-ms`` delays every page on the server
(the real web's case); the default 0 is the CPU-bound worst case. Usage:
``python benchmarks/crawl.py [--latency-ms 100]``; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable

import aiohttp

from webresearch.crawlers.http import HttpConfig
from webresearch.crawlers.live import LiveWeb, LiveWebConfig
from webresearch.crawlers.rate_limit import Rate
from webresearch.crawlers.safety import UrlPolicy
from webresearch.sim.web import SimSite
from webresearch.sim.world import WorldConfig


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def pool(urls: list[str], fetch: Callable[[str], Awaitable[int]], concurrency: int
               ) -> tuple[float, int]:
    """Fetch every URL, ``concurrency`` at a time; return (pages/s, bytes or chars)."""
    queue = list(reversed(urls))
    total = 0

    async def worker() -> None:
        nonlocal total
        while queue:
            total += await fetch(queue.pop())

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(urls) / (time.perf_counter() - start), total


async def bare(urls: list[str], concurrency: int) -> float:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def get(url: str) -> int:
            async with session.get(url) as response:
                return len(await response.read())

        rate, _ = await pool(urls, get, concurrency)
    return rate


def live_web(cache_dir: str, concurrency: int, processes: int) -> LiveWeb:
    """The live backend, with as many connections to the host as the bare loop has."""
    http = HttpConfig(url_policy=UrlPolicy(allow=("127.0.0.0/8",)), max_per_host=concurrency)
    config = LiveWebConfig(engine="searxng", endpoint="http://127.0.0.1/", cache_dir=cache_dir,
                           http=http, host_rate=Rate(per_second=1e6, burst=10**6),
                           convert_processes=processes)
    return LiveWeb(config)


async def live(urls: list[str], concurrency: int, cache_dir: str, processes: int
               ) -> tuple[float, float]:
    web = live_web(cache_dir, concurrency, processes)
    if web.services.converter is not None:
        await web.services.converter.start()  # a long-running crawler starts them once

    async def get(url: str) -> int:
        page = await web.fetch(url)
        if not page.ok:
            raise RuntimeError(f"{url}: {page.error}")
        return len(page.text)

    rate, _ = await pool(urls, get, concurrency)
    start = time.perf_counter()
    for url in urls:  # again, now from the disk cache
        assert (await web.fetch(url)).from_cache
    hit_ms = (time.perf_counter() - start) / len(urls) * 1000
    await web.aclose()
    return rate, hit_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=400)
    parser.add_argument("--page-kb", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--convert-processes", type=int, default=0,
                        help="LiveWebConfig.convert_processes (0: convert on the event loop)")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="server latency per page (0: the CPU-bound worst case)")
    args = parser.parse_args()

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "webresearch.cli", "serve-web", "--port",
                               str(port), "--pad-kb", str(args.page_kb), "--latency-ms",
                               str(args.latency_ms)], stdout=subprocess.PIPE)
    assert server.stdout is not None
    server.stdout.readline()  # "serving ..." once it listens
    try:
        ids = list(SimSite.of(WorldConfig()).contents)[: args.pages]
        urls = [f"http://127.0.0.1:{port}/wiki/{i}" for i in ids]
        asyncio.run(bare(urls, args.concurrency))  # warm the server's page memo
        bare_rates, live_rates, hit_ms = [], [], []
        for _ in range(args.repeats):
            bare_rates.append(asyncio.run(bare(urls, args.concurrency)))
            rate, hit = asyncio.run(live(urls, args.concurrency, tempfile.mkdtemp(),
                                         args.convert_processes))
            live_rates.append(rate)
            hit_ms.append(hit)
            print(f"bare {bare_rates[-1]:7.0f} pages/s   live {live_rates[-1]:7.0f} pages/s   "
                  f"cache hit {hit_ms[-1]:.2f} ms")
    finally:
        server.terminate()
        server.communicate(timeout=10)
    pages_per_s, bare_get_per_s = statistics.median(live_rates), statistics.median(bare_rates)
    print(json.dumps({"pages_per_s": pages_per_s, "bare_get_per_s": bare_get_per_s,
                      "ratio": pages_per_s / bare_get_per_s,
                      "cache_hit_ms": statistics.median(hit_ms), "pages": len(urls),
                      "page_kb": args.page_kb, "concurrency": args.concurrency,
                      "latency_ms": args.latency_ms,
                      "convert_processes": args.convert_processes}))


if __name__ == "__main__":
    main()
