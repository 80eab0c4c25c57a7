"""Conversion in worker processes: same text as inline, small bodies inline, dead workers."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

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
            await converter.start()
            out = await converter.convert(PAGE, "text/html", url="https://simpedia.test/")
            small = await converter.convert(b"<p>tiny</p>", "text/html")
        finally:
            await converter.aclose()
        assert out == convert(PAGE, "text/html", url="https://simpedia.test/")
        assert small.text == "tiny" and converter.offloaded == 1

    asyncio.run(main())


def test_the_first_large_body_goes_inline_while_workers_start() -> None:
    async def main() -> tuple[int, int]:
        converter = ProcessConverter(2, min_bytes=0)
        try:
            first = await converter.convert(PAGE, "text/html")
            assert first.text
            await converter._spawning  # type: ignore[misc]
            alive = sum(w.alive for w in converter.workers)
            await converter.convert(PAGE, "text/html")
            return alive, converter.offloaded
        finally:
            await converter.aclose()

    assert asyncio.run(main()) == (2, 1)


def test_a_dead_worker_is_replaced_and_only_its_suspect_page_is_lost() -> None:
    async def main() -> None:
        converter = ProcessConverter(1, min_bytes=0)
        try:
            await converter.start()
            pending = [asyncio.ensure_future(converter.convert(PAGE, "text/html"))
                       for _ in range(20)]
            await asyncio.sleep(0)  # sent
            os.kill(converter.workers[0].process.pid, signal.SIGKILL)
            results = await asyncio.gather(*pending)
            await converter.start()  # a new one
            again = await converter.convert(PAGE, "text/html")
        finally:
            await converter.aclose()
        died_on, *inline = results  # the page it was converting is suspect, the rest went inline
        assert died_on.error == "the page brought down the process converting it"
        assert all(r == again for r in inline) and again.text
        assert sum(w.alive for w in converter.workers) == 0  # closed

    asyncio.run(main())


def test_workers_that_die_at_once_are_restarted_sparingly(monkeypatch: Any) -> None:
    from webresearch.crawlers import converters

    monkeypatch.setattr(converters, "_worker_argv",
                        lambda: [sys.executable, "-c", "import sys; sys.exit(3)"])
    spawned = []
    real_spawn = converters._Worker.spawn

    async def counting_spawn() -> Any:
        spawned.append(1)
        return await real_spawn()

    monkeypatch.setattr(converters._Worker, "spawn", counting_spawn)

    async def main() -> list[str]:
        converter = ProcessConverter(1, min_bytes=0, restart_delay_s=60)
        try:
            texts = []
            for _ in range(30):
                texts.append((await converter.convert(PAGE, "text/html")).text)
                await asyncio.sleep(0.01)
            return texts
        finally:
            await converter.aclose()

    texts = asyncio.run(main())
    assert all(t and t == texts[0] for t in texts) and len(spawned) == 1


def test_a_conversion_past_its_deadline_is_a_page_error() -> None:
    async def main() -> str | None:
        converter = ProcessConverter(1, min_bytes=0, timeout_s=1e-6)
        try:
            await converter.start()
            return (await converter.convert(PAGE, "text/html")).error
        finally:
            await converter.aclose()

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
            await converter.start()
            c = await pooled.fetch(net.url(list(net.state.site.contents)[1]))
            offloaded = converter.offloaded
            await inline.aclose()
            await pooled.aclose()
        assert c.ok
        return a.text, b.text, offloaded

    a, b, offloaded = asyncio.run(main())
    assert a == b and offloaded >= 1
