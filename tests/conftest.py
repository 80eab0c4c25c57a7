"""Shared fixtures: small task sets, the dev dataset, helpers to drive an env; CI's no-skip rule.

With ``WEBRESEARCH_CI=1`` (set by ``.ci/run``) a skipped test fails: in CI everything the
tests need is installed (the dev extra, vLLM in ``.venv-vllm``, Chromium), so a skip
means a shipped backend went untested. Tests marked ``gpu`` or ``network`` still skip.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from pathlib import Path

import pytest

from webresearch.envs.web_research import WebResearchEnv
from webresearch.tasks import Task

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEV_DATASET = SHARED / "datasets" / "deepresearcher_dev.jsonl"
DEV_SAMPLE = Path(__file__).resolve().parent / "data" / "deepresearcher_dev_sample.jsonl"
CI = os.environ.get("WEBRESEARCH_CI", "") not in ("", "0")
MAY_SKIP_IN_CI = ("gpu", "network")  # markers of what CI does not have
ROOT = Path(__file__).resolve().parents[1]
PYTHONPATH = os.pathsep.join(
    [str(ROOT / "src"), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
"""What a test's subprocess needs to import this checkout's package and ``tests``."""



def assert_rate_held(times: list[float], rate: float, *, burst: int = 1,
                     lag_s: float = 1.0) -> None:
    """Assert that requests arriving at a server at ``times`` kept to ``rate`` per second
    (a token bucket of ``burst``), however late the machine ran them.

    A limiter lets ``n`` requests through no faster than ``(n - burst) / rate`` seconds,
    and a request arrives after its grant, never before: so the arrivals span at least
    that, less how late the first one came (``lag_s``). Counting arrivals per one-second
    window instead fails on a busy machine, where a late request bunches with the next.
    A limiter that lets twice the rate through (one per node) still fails this.
    """
    assert len(times) > burst + 2 * rate * lag_s, "too few requests to tell"
    need = (len(times) - burst) / rate - lag_s
    span = max(times) - min(times)
    assert span >= need, f"{len(times)} requests in {span:.2f} s; at {rate}/s: >= {need:.2f} s"


@pytest.fixture
def dev_dataset() -> Path:
    """DeepResearcher's dev questions from ../shared, else a 21-question sample in its layout.

    Both hold the same seven datasets, equally many questions each (125 in the real set,
    3 in the sample, written for these tests), so tests count from the file.
    """
    return DEV_DATASET if DEV_DATASET.is_file() else DEV_SAMPLE


def dev_questions(path: Path) -> int:
    """How many questions (non-blank lines) a dev-set file holds."""
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def _ci_failure(report: pytest.TestReport | pytest.CollectReport, where: str) -> None:
    """Turn a skip into a failure that says why it may not skip in CI."""
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    report.outcome = "failed"
    report.longrepr = (f"{where} skipped under WEBRESEARCH_CI=1, where only tests marked "
                       f"{' or '.join(MAY_SKIP_IN_CI)} may skip: {reason}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if (CI and report.skipped and not hasattr(report, "wasxfail")
            and not any(item.get_closest_marker(m) for m in MAY_SKIP_IN_CI)):
        _ci_failure(report, item.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector
                               ) -> Generator[None, pytest.CollectReport, None]:
    outcome = yield
    report: pytest.CollectReport = outcome.get_result()  # type: ignore[attr-defined]
    if CI and report.skipped:
        _ci_failure(report, collector.nodeid)


@pytest.fixture
def env() -> WebResearchEnv:
    env = WebResearchEnv(date="2026-01-01")
    yield env
    env.close()


def search(*queries: str) -> str:
    """A DeepResearcher web_search action."""
    call = json.dumps({"name": "web_search", "arguments": {"query": list(queries)}})
    return f"<think>search</think><tool_call>{call}</tool_call>"


def browse(*urls: str) -> str:
    call = json.dumps({"name": "browse_webpage", "arguments": {"url_list": list(urls)}})
    return f"<think>read</think><tool_call>{call}</tool_call>"


def answer(text: str) -> str:
    return f"<think>done</think><answer>{text}</answer>"


@pytest.fixture
def first_task(env: WebResearchEnv) -> Task:
    return env.tasks[0]


def serve_app(app: object, scenario: object) -> object:
    """Serve the aiohttp ``app`` on a free loopback port and run ``scenario(base_url + "/v1")``."""
    import asyncio

    from aiohttp import web

    async def main() -> object:
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            return await scenario(f"http://127.0.0.1:{port}/v1")  # type: ignore[operator]
        finally:
            await runner.cleanup()

    return asyncio.run(main())


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Qwen2 model, built once per test session (no weights are downloaded)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    torch.set_num_threads(1)  # on 2 shared cores torch's default threads are 10-70x slower
    from webresearch.policies.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny"))
