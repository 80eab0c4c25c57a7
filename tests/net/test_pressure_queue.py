"""A policy server's queue read from its Prometheus /metrics, as vLLM serves it."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from webresearch.net.pressure import MAX_GAUGE, QueueProbe, ServerQueue, parse_queue

VLLM = """# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="qwen"} 12.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="qwen"} 5.0
vllm:num_requests_waiting_by_reason{reason="capacity"} 99.0
"""


@asynccontextmanager
async def metrics_server() -> AsyncIterator[tuple[str, dict[str, int], asyncio.Event]]:
    """Loopback routes: /ok (vLLM's gauges), /none (404), /big (3 MB), /slow (no answer
    until released), /busy (503 for the first 4 asks, then the gauges), /latin (a
    Latin-1 byte in a label)."""
    hits = {"none": 0, "busy": 0}
    release = asyncio.Event()

    async def ok(_: web.Request) -> web.Response:
        return web.Response(text=VLLM)

    async def none(_: web.Request) -> web.Response:
        hits["none"] += 1
        return web.Response(status=404)

    async def big(_: web.Request) -> web.Response:
        padding = "# " + "x" * 98 + "\n"
        return web.Response(text=VLLM + padding * 30_000 + "vllm:num_requests_waiting 1000\n")

    async def slow(_: web.Request) -> web.Response:
        await asyncio.wait_for(release.wait(), 60)
        return web.Response(text=VLLM)

    async def busy(_: web.Request) -> web.Response:
        hits["busy"] += 1
        return web.Response(text=VLLM) if hits["busy"] > 4 else web.Response(status=503)

    async def bomb(request: web.Request) -> web.Response:
        hits["identity"] = request.headers.get("Accept-Encoding") == "identity"
        body = gzip.compress(VLLM.encode() + b"#" + b"x" * (64 << 20) + b"\n", 1)
        return web.Response(body=body, headers={"Content-Encoding": "gzip"})

    async def latin(_: web.Request) -> web.Response:
        return web.Response(body=b'vllm:num_requests_waiting{m="caf\xe9"} 2\n')

    app = web.Application()
    app.add_routes([web.get("/ok/metrics", ok), web.get("/none/metrics", none),
                    web.get("/big/metrics", big), web.get("/slow/metrics", slow),
                    web.get("/busy/metrics", busy), web.get("/latin/metrics", latin),
                    web.get("/bomb/metrics", bomb)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", hits, release
    finally:
        release.set()
        await runner.cleanup()


def test_the_probe_reads_the_queue_caps_the_body_and_gives_up_on_a_server_without_one() -> None:
    async def scenario() -> list[object]:
        async with metrics_server() as (base, hits, release):
            probes = [QueueProbe.for_api(base + "/ok/v1"), QueueProbe(base + "/big/metrics",
                      max_bytes=1 << 16), QueueProbe(base + "/none/metrics", patience=2),
                      QueueProbe(base + "/slow/metrics", timeout_s=0.2)]
            try:
                seen: list[object] = [await p.poll() for p in probes[:2]]
                seen.append([await probes[2].poll() for _ in range(5)])
                seen.append((hits["none"], probes[2].alive))
                start = time.monotonic()
                seen.append(await probes[3].poll())
                seen.append(time.monotonic() - start < 10)
                release.set()
            finally:
                for p in probes:
                    await p.aclose()
        return seen

    ok, big, none, (asked, alive), slow, in_time = asyncio.run(scenario())
    assert ok == ServerQueue(waiting=5.0, running=12.0)
    assert big == ServerQueue(waiting=5.0, running=12.0)  # the line past the cap is not read
    assert none == [None] * 5 and asked == 2 and not alive  # asked twice, then no more
    assert slow is None and in_time


def test_a_server_that_does_not_answer_yet_is_asked_less_often_never_given_up() -> None:
    """Timeouts, refused connections and server errors (a loaded or starting vLLM) are no
    miss: after ``patience`` in a row the probe asks every ``backoff`` polls, for ever."""
    Polls = list[ServerQueue | None]

    async def scenario() -> tuple[Polls, int, Polls, bool, ServerQueue | None, ServerQueue | None]:
        async with metrics_server() as (base, hits, release):
            busy = QueueProbe(base + "/busy/metrics", patience=2, backoff=4)
            slow = QueueProbe(base + "/slow/metrics", timeout_s=0.05, patience=2, backoff=3)
            latin = QueueProbe(base + "/latin/metrics")
            try:
                seen = [await busy.poll() for _ in range(14)]
                timeouts = [await slow.poll() for _ in range(10)]
                release.set()
                return (seen, hits["busy"], timeouts, slow.alive, await latin.poll(),
                        await busy.poll())
            finally:
                for p in (busy, slow, latin):
                    await p.aclose()

    seen, asked, timeouts, alive, latin, after = asyncio.run(scenario())
    # asked at polls 1, 2 (503s), then every 4th: 6 (503), 10 (503), 14 (the gauges)
    assert asked == 5 and seen[:13] == [None] * 13
    assert seen[13] == ServerQueue(waiting=5.0, running=12.0) == after
    assert timeouts == [None] * 10 and alive
    assert latin == ServerQueue(waiting=2.0, running=0.0)

    async def refused() -> tuple[list[object], bool, int]:
        async with metrics_server() as (base, _, _):
            pass  # the server is gone: every connection is refused
        probe = QueueProbe(base + "/ok/metrics", patience=3)
        try:
            return [await probe.poll() for _ in range(6)], probe.alive, probe.failures
        finally:
            await probe.aclose()

    polls, alive, failures = asyncio.run(refused())
    assert polls == [None] * 6 and alive and failures == 3  # 3 asked, then backing off


def test_a_compressed_answer_is_never_inflated() -> None:
    """A few hundred kB of gzip may stand for gigabytes: the probe asks for identity and
    reads what came on the wire (capped), which names no gauge."""
    async def scenario() -> tuple[ServerQueue | None, int]:
        async with metrics_server() as (base, hits, _):
            probe = QueueProbe(base + "/bomb/metrics", timeout_s=30)
            try:
                return await probe.poll(), hits["identity"]
            finally:
                await probe.aclose()

    assert asyncio.run(scenario()) == (None, True)


def test_bad_lines_and_values_are_skipped() -> None:
    text = ("vllm:num_requests_waiting NaN\nvllm:num_requests_waiting -3\n"
            "vllm:num_requests_waiting{a=\"}\"} +Inf\nvllm:num_requests_running{x\n"
            "vllm:num_requests_running one\nvllm:num_requests_running{a=\"b c\"} 2 17\n"
            "vllm:num_requests_runningish 40\n")
    assert parse_queue(text) == ServerQueue(waiting=0.0, running=2.0)
    assert parse_queue("") is None and parse_queue("vllm:num_requests_waiting") is None


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000))
def test_any_text_parses_without_error(text: str) -> None:
    queue = parse_queue(text)
    assert queue is None or (queue.waiting >= 0 and queue.running >= 0)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["waiting", "running", "swapped"]),
                          st.integers(0, 10_000), st.text("abc =,\" ", max_size=12)),
                max_size=30))
def test_the_gauges_are_summed_over_their_label_sets(
        rows: list[tuple[str, int, str]]) -> None:
    text = "".join(f'vllm:num_requests_{name}{{l="{label}"}} {value}\n'
                   for name, value, label in rows)
    sums = {"waiting": 0.0, "running": 0.0}
    for name, value, _ in rows:
        if name in sums:
            sums[name] += value
    expected = ServerQueue(**sums) if any(n in sums for n, _, _ in rows) else None
    assert parse_queue(text) == expected


def test_exemplars_tabs_huge_values_and_line_separators_read_as_prometheus_means() -> None:
    assert parse_queue('vllm:num_requests_waiting{m="q"} 5 # {trace_id="a"} 1\n'
                       'vllm:num_requests_running{m="a}b \\"c} 9\"} 2 # {t="}"} 7\n'
                       ) == ServerQueue(waiting=5.0, running=2.0)
    assert parse_queue("vllm:num_requests_waiting\t5\nvllm:num_requests_running \t 10\r\n"
                       ) == ServerQueue(waiting=5.0, running=10.0)
    huge = parse_queue("vllm:num_requests_waiting 1e308\n" * 3 + "vllm:num_requests_running 1\n")
    assert huge is not None and huge.waiting == MAX_GAUGE and huge.running == 1.0
    # only \n ends a line: a U+2028 inside a label value injects nothing
    assert parse_queue('x{m="\u2028vllm:num_requests_waiting 1e9"} 1\n') is None
    assert parse_queue('vllm:num_requests_waiting{m="a\u2028b"} 5\n') == ServerQueue(5.0, 0.0)
    assert parse_queue("vllm:num_requests_waiting 1_000\n") is None


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40), st.integers(0, 10**6), st.text(max_size=20))
def test_the_value_is_the_token_after_the_label_sets_closing_brace(
        label: str, value: int, tail: str) -> None:
    escaped = label.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    tail = tail.replace("\n", " ")
    line = f'vllm:num_requests_running{{l="{escaped}"}} {value} # {{x="{escaped}"}} 7 {tail}'
    assert parse_queue(line + "\n") == ServerQueue(waiting=0.0, running=float(value))


def test_a_hostile_line_parses_in_linear_time() -> None:
    for body in ('{' + '"",' * 200_000, '{a="' + '\\"' * 200_000, "{" * 400_000,
                 "\t" * 400_000 + "5"):
        start = time.monotonic()
        assert parse_queue("vllm:num_requests_waiting" + body + "\n") is None or body[0] == "\t"
        assert time.monotonic() - start < 5.0
