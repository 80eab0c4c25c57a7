"""Shared fixtures: small task sets, the shared dev dataset, helpers to drive an env."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from webresearch.envs.web_research import WebResearchEnv
from webresearch.tasks import Task

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEV_DATASET = SHARED / "datasets" / "deepresearcher_dev.jsonl"


@pytest.fixture
def dev_dataset() -> Path:
    """DeepResearcher's released dev questions, from ../shared (skip when absent)."""
    if not DEV_DATASET.is_file():
        pytest.skip(f"{DEV_DATASET} is absent")
    return DEV_DATASET


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
