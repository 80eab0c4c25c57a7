"""Conversion in worker processes: same text as inline, small bodies inline, dead workers."""

from __future__ import annotations

import asyncio
import os
import signal

from tests.crawlers.conftest import live
from webresearch.crawlers.content import convert
from webresearch.crawlers.converters import ProcessConverter
from webresearch.sim.server import SimInternet
from webresearch.sim.web import SimSite
from webresearch.sim.world import WorldConfig

PAGE = SimSite.of(WorldConfig()).html("Pogre_Works").encode()


def test_large_bodies_convert_in_a_worker_and_match_inline() -> None:
    async def main() -> None:
        converter = ProcessConverter(1, min_bytes=1000)
        try:
            out = await converter.convert(PAGE, "text/html", url="https://simpedia.test/")
            small = await converter.convert(b"<p>tiny</p>", "text/html")
        finally:
            converter.close()
        assert out == convert(PAGE, "text/html", url="https://simpedia.test/")
        assert small.text == "tiny" and converter.offloaded == 1

    asyncio.run(main())


def test_a_dead_worker_is_replaced_and_nothing_is_lost() -> None:
    async def main() -> None:
        converter = ProcessConverter(1, min_bytes=0)
        try:
            await converter.start()
            pool = converter._executor()
            for pid in list(pool._processes):  # kill the worker process
                os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(0.2)
            first = await converter.convert(PAGE, "text/html")  # inline, while a new pool starts
            second = await converter.convert(PAGE, "text/html")
        finally:
            converter.close()
        assert first.text and first == second

    asyncio.run(main())


def test_a_conversion_past_its_deadline_is_a_page_error() -> None:
    async def main() -> str | None:
        converter = ProcessConverter(1, min_bytes=0, timeout_s=1e-6)
        try:
            return (await converter.convert(PAGE, "text/html")).error
        finally:
            converter.close()

    assert asyncio.run(main()) == "the page took over 1e-06 s to convert to text"


def test_live_web_converts_in_processes_when_asked() -> None:
    async def main() -> tuple[str, str, int]:
        async with SimInternet() as net:
            inline = live(net, respect_robots=False)
            pooled = live(net, respect_robots=False, convert_processes=1)
            a = await inline.fetch(net.url("Pogre_Works"))
            b = await pooled.fetch(net.url("Pogre_Works"))
            converter = pooled.services.converter
            assert converter is not None
            converter.min_bytes = 0
            c = await pooled.fetch(net.url(list(net.state.site.contents)[1]))
            offloaded = converter.offloaded
            await inline.aclose()
            await pooled.aclose()
        assert c.ok
        return a.text, b.text, offloaded

    a, b, offloaded = asyncio.run(main())
    assert a == b and offloaded >= 1
