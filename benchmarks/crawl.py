"""Pages per second fetched and converted to text, against a bare aiohttp GET loop.

Starts ``webresearch serve-web`` in its own process (pages padded to ``--page-kb``),
then, in this process and in the same run, alternates two loops over the same pages
with the same concurrency:

- ``bare``: ``aiohttp`` GET and read the body, nothing else;
- ``live``: ``LiveWeb.fetch`` (URL policy, rate limiter, robots.txt, retries, body cap,
  charset, HTML to text, disk cache write), cold cache.

``ratio`` is live / bare (target: at least 0.5). ``cache_hit_ms`` is the mean time of
a fetch served from the disk cache, ``cache_write_cpu_ms`` the CPU time of writing a
page into a fresh one; ``*_cpu_ms_per_page`` is this process's CPU time per
page in each loop (conversion processes not counted). ``--latency-ms`` delays every page
on the server (the real web's case); the default 0 is the CPU-bound worst case, where
the ratio is just bare CPU / live CPU. Past the site's 492 pages, URLs repeat with a
``?copy=`` query (a cache key of their own). Usage:
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

from webresearch.crawlers.cache import WebCache
from webresearch.crawlers.live import LiveWeb, LiveWebConfig
from webresearch.net.http import HttpConfig
from webresearch.net.rate_limit import Rate
from webresearch.net.safety import UrlPolicy
from webresearch.sim.sim_web import SimSite
from webresearch.sim.world import WorldConfig
from webresearch.web.backend import Page


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def pool(urls: list[str], fetch: Callable[[str], Awaitable[int]], concurrency: int
               ) -> tuple[float, float]:
    """Fetch every URL, ``concurrency`` at a time; return pages/s and this process's CPU
    milliseconds per page."""
    queue = list(reversed(urls))

    async def worker() -> None:
        while queue:
            await fetch(queue.pop())

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu_ms = (time.process_time() - cpu) / len(urls) * 1000
    return len(urls) / (time.perf_counter() - start), cpu_ms


async def bare(urls: list[str], concurrency: int) -> tuple[float, float]:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def get(url: str) -> int:
            async with session.get(url) as response:
                return len(await response.read())

        return await pool(urls, get, concurrency)


def live_web(cache_dir: str, concurrency: int, processes: int) -> LiveWeb:
    """The live backend, with as many connections to the host as the bare loop has."""
    http = HttpConfig(url_policy=UrlPolicy(allow=("127.0.0.0/8",)), max_per_host=concurrency)
    config = LiveWebConfig(engine="searxng", endpoint="http://127.0.0.1/", cache_dir=cache_dir,
                           http=http, host_rate=Rate(per_second=1e6, burst=10**6),
                           convert_processes=processes)
    return LiveWeb(config)


def write_ms(pages: list[Page]) -> float:
    """Mean CPU milliseconds to write a page into a fresh disk cache."""
    cache = WebCache(tempfile.mkdtemp())
    start = time.process_time()
    for page in pages:
        cache.put_page(page)
    cache.close()
    return (time.process_time() - start) / len(pages) * 1000


async def live(urls: list[str], concurrency: int, cache_dir: str, processes: int
               ) -> tuple[float, float, float, float]:
    web = live_web(cache_dir, concurrency, processes)
    await web.services.converter.start()  # a long-running crawler starts them once

    async def get(url: str) -> int:
        page = await web.fetch(url)
        if not page.ok:
            raise RuntimeError(f"{url}: {page.error}")
        return len(page.text)

    rate, cpu_ms = await pool(urls, get, concurrency)
    start = time.perf_counter()
    pages = [await web.fetch(url) for url in urls]  # again, now from the disk cache
    hit_ms = (time.perf_counter() - start) / len(urls) * 1000
    assert all(page.from_cache for page in pages)
    await web.aclose()
    return rate, cpu_ms, hit_ms, write_ms(pages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=400)
    parser.add_argument("--page-kb", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--convert-processes", type=int, default=1,
                        help="LiveWebConfig.convert_processes (at least 1)")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="server latency per page (0: the CPU-bound worst case)")
    parser.add_argument("--latency", default="fixed", choices=("fixed", "lognormal", "heavy"),
                        help="its distribution (lognormal: median --latency-ms, as the web's)")
    args = parser.parse_args()

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "webresearch.cli", "serve-web", "--port",
                               str(port), "--pad-kb", str(args.page_kb), "--latency-ms",
                               str(args.latency_ms), "--latency", args.latency],
                              stdout=subprocess.PIPE)
    assert server.stdout is not None
    server.stdout.readline()  # "serving ..." once it listens
    try:
        ids = list(SimSite.of(WorldConfig()).contents)
        urls = [f"http://127.0.0.1:{port}/wiki/{ids[n % len(ids)]}?copy={n // len(ids)}"
                for n in range(args.pages)]  # past the site's size, copies with their own URLs
        asyncio.run(bare(urls, args.concurrency))  # warm the server's page memo
        runs: dict[str, list[float]] = {k: [] for k in ("bare", "bare_cpu", "live", "live_cpu",
                                                         "hit_ms", "write_ms")}
        for _ in range(args.repeats):
            rate, cpu_ms = asyncio.run(bare(urls, args.concurrency))
            runs["bare"].append(rate)
            runs["bare_cpu"].append(cpu_ms)
            rate, cpu_ms, hit, write = asyncio.run(live(urls, args.concurrency,
                                                        tempfile.mkdtemp(), args.convert_processes))
            runs["live"].append(rate)
            runs["live_cpu"].append(cpu_ms)
            runs["hit_ms"].append(hit)
            runs["write_ms"].append(write)
            print(f"bare {runs['bare'][-1]:7.0f} pages/s ({runs['bare_cpu'][-1]:.3f} ms CPU)   "
                  f"live {rate:7.0f} pages/s ({cpu_ms:.3f} ms CPU)   cache hit {hit:.3f} ms")
    finally:
        server.terminate()
        server.communicate(timeout=10)
    median = {k: statistics.median(v) for k, v in runs.items()}
    print(json.dumps({"pages_per_s": median["live"], "bare_get_per_s": median["bare"],
                      "ratio": median["live"] / median["bare"], "cache_hit_ms": median["hit_ms"],
                      "cache_write_cpu_ms": median["write_ms"],
                      "live_cpu_ms_per_page": median["live_cpu"],
                      "bare_cpu_ms_per_page": median["bare_cpu"], "pages": len(urls),
                      "page_kb": args.page_kb, "concurrency": args.concurrency,
                      "latency_ms": args.latency_ms, "latency": args.latency,
                      "convert_processes": args.convert_processes}))


if __name__ == "__main__":
    main()
