"""Conversion in worker processes: same text as inline, every size offloaded, dead workers."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import zlib
from typing import Any

import pytest
from aiohttp import web

from tests.crawlers.conftest import live
from webresearch.crawlers.content import convert
from webresearch.crawlers.converters import ProcessConverter
from webresearch.crawlers.live import PageFetcher
from webresearch.errors import ConfigError
from webresearch.net.http import HttpClient, HttpConfig
from webresearch.net.safety import UrlPolicy
from webresearch.sim.faults import pdf_document
from webresearch.sim.server import SimInternet
from webresearch.sim.sim_web import SimSite
from webresearch.sim.world import WorldConfig

PAGE = SimSite.of(WorldConfig()).html("Pogre_Works").encode()


def test_every_body_converts_in_a_worker_and_matches_inline() -> None:
    async def main() -> None:
        converter = ProcessConverter(1)
        try:
            out = await converter.convert(PAGE, "text/html", url="https://simpedia.test/")
            small = await converter.convert(b"<p>tiny</p>", "text/html")
        finally:
            await converter.aclose()
        assert out == convert(PAGE, "text/html", url="https://simpedia.test/")
        assert small.text == "tiny" and converter.offloaded == 2  # small bodies too

    asyncio.run(main())


def test_no_conversion_runs_on_the_event_loop(monkeypatch: Any) -> None:
    from webresearch.crawlers import content

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("converted in the event loop's process")

    monkeypatch.setattr(content, "convert", refuse)

    async def main() -> list[str]:
        converter = ProcessConverter(2)
        try:
            return [(await converter.convert(body, kind)).text for body, kind in
                    ((b"<p>a</p>", "text/html"), (b"b", "text/plain"), (PAGE, None))]
        finally:
            await converter.aclose()

    texts = asyncio.run(main())
    assert texts[:2] == ["a", "b"] and texts[2]


def test_the_first_body_waits_for_a_worker_to_start() -> None:
    async def main() -> tuple[int, int]:
        converter = ProcessConverter(2)
        try:
            first = await converter.convert(PAGE, "text/html")
            assert first.text
            alive = sum(w.alive for w in converter.workers)
            await converter.convert(PAGE, "text/html")
            return alive, converter.offloaded
        finally:
            await converter.aclose()

    assert asyncio.run(main()) == (2, 2)


def test_a_dead_worker_is_replaced_and_only_its_suspect_page_is_lost() -> None:
    async def main() -> None:
        converter = ProcessConverter(1)
        try:
            await converter.start()
            pending = [asyncio.ensure_future(converter.convert(PAGE, "text/html"))
                       for _ in range(20)]
            await asyncio.sleep(0)  # sent
            os.kill(converter.workers[0].process.pid, signal.SIGKILL)
            results = await asyncio.gather(*pending)
            again = await converter.convert(PAGE, "text/html")
        finally:
            await converter.aclose()
        died_on, *others = results  # the page it was converting is suspect; the rest moved
        assert died_on.error == "the page brought down the process converting it"
        assert all(r == again for r in others) and again.text
        assert sum(w.alive for w in converter.workers) == 0  # closed

    asyncio.run(main())


def test_workers_that_die_at_once_are_restarted_sparingly(monkeypatch: Any) -> None:
    from webresearch.crawlers import converters

    monkeypatch.setattr(converters, "_worker_argv",
                        lambda: [sys.executable, "-c", "import sys; sys.exit(3)"])
    spawned = []
    real_spawn = converters._Worker.spawn

    async def counting_spawn(*args: Any) -> Any:
        spawned.append(1)
        return await real_spawn(*args)

    monkeypatch.setattr(converters._Worker, "spawn", counting_spawn)

    async def main() -> list[str | None]:
        converter = ProcessConverter(1, restart_delay_s=60)
        try:
            errors = []
            for _ in range(30):
                errors.append((await converter.convert(PAGE, "text/html")).error)
                await asyncio.sleep(0.01)
            return errors
        finally:
            await converter.aclose()

    errors = asyncio.run(main())
    assert all(e is not None for e in errors)  # never converted inline instead
    assert len(spawned) == 1


def test_a_conversion_past_its_deadline_is_a_page_error() -> None:
    async def main() -> str | None:
        converter = ProcessConverter(1, timeout_s=1e-6)
        try:
            await converter.start()
            return (await converter.convert(PAGE, "text/html")).error
        finally:
            await converter.aclose()

    assert asyncio.run(main()) == "the page took over 1e-06 s to convert to text"


def test_a_page_over_the_memory_limit_is_a_page_error_and_the_next_converts() -> None:
    huge = b"<p>" + b"<p>x" * 1_000_000  # 4 MB, a few hundred MB of parse tree

    async def main() -> tuple[str | None, str]:
        converter = ProcessConverter(1, memory_mb=300)
        try:
            over = await converter.convert(huge, "text/html")
            after = await converter.convert(PAGE, "text/html")
        finally:
            await converter.aclose()
        return over.error, after.text

    error, text = asyncio.run(main())
    assert error is not None and text


def test_at_least_one_process() -> None:
    with pytest.raises(ConfigError, match=re.escape(
            "Expects at least 1 conversion process (bodies are never parsed on the event "
            "loop), actual: 0")):
        ProcessConverter(0)


def test_live_web_converts_in_processes() -> None:
    async def main() -> tuple[str, int]:
        async with SimInternet() as net:
            pooled = live(net, respect_robots=False, convert_processes=2)
            page = await pooled.fetch(net.url("Pogre_Works"))
            offloaded = pooled.services.converter.offloaded
            await pooled.aclose()
        assert page.ok
        return page.text, offloaded

    text, offloaded = asyncio.run(main())
    assert text and offloaded == 1


def hostile_pdf(pages: int = 60, operators: int = 50_000) -> bytes:
    """A PDF of a few KB whose pages all draw one compressed content stream of
    ``operators`` text operators: pypdf parses the stream again for every page."""
    stream = zlib.compress(b"BT /F1 12 Tf 72 720 Td " + b"(x) Tj " * operators + b"ET", 9)
    kids = " ".join(f"{4 + i} 0 R" for i in range(pages)).encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
               b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream"
               % (len(stream), stream)]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R "
                b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (4 + pages)] * pages
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    return pdf_document(objects)


def test_a_hostile_pdf_is_a_page_error_while_the_event_loop_stays_responsive() -> None:
    async def serve(request: web.Request) -> web.Response:
        if request.path == "/hostile.pdf":
            return web.Response(body=hostile_pdf(), content_type="application/pdf")
        return web.Response(body=PAGE, content_type="text/html")

    async def main() -> tuple[str | None, bool, bool, float, int]:
        app = web.Application()
        app.router.add_get("/{name}", serve)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        converter = ProcessConverter(2, timeout_s=3.0)
        http = HttpClient(HttpConfig(url_policy=UrlPolicy(allow=("127.0.0.0/8",))))
        fetcher = PageFetcher(http, converter=converter)
        loop, gaps, done = asyncio.get_running_loop(), [0.0], asyncio.Event()

        async def tick() -> None:  # how late the loop runs a 10 ms sleep's wake-up
            while not done.is_set():
                start = loop.time()
                await asyncio.sleep(0.01)
                gaps.append(loop.time() - start - 0.01)

        try:
            await converter.start()
            await asyncio.gather(*(converter.convert(b"<p>warm</p>", "text/html")
                                   for _ in range(2)))  # both workers up and importing done
            ticker = asyncio.ensure_future(tick())
            hostile = asyncio.ensure_future(fetcher.fetch(f"http://127.0.0.1:{port}/hostile.pdf"))
            normal = await fetcher.fetch(f"http://127.0.0.1:{port}/page")  # meanwhile
            normal_first = not hostile.done()
            page = await hostile
            done.set()
            await ticker
        finally:
            await http.aclose()
            await converter.aclose()
            await runner.cleanup()
        return page.error, normal.ok, normal_first, max(gaps), len(hostile_pdf())

    error, normal_ok, normal_first, worst_gap, size = asyncio.run(main())
    assert size < 16_384  # under the old inline threshold, and no size cap stops it
    assert error == "the page took over 3 s to convert to text"
    assert normal_ok and normal_first  # another page converted meanwhile
    assert worst_gap < 3.0  # inline, the PDF would have held the loop for all of its 3+ s
