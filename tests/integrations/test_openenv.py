"""OpenEnv: a real openenv-core server on loopback, four sessions at once; the ResourceSession."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

pytest.importorskip("openenv")

from webresearch.integrations.openenv import OPENENV_YAML, make_session

TASKS = [{"question": f"Who founded Pogre Works? ({i})", "answers": ["Kraemukreisk Jepudou"]}
         for i in range(4)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server() -> Iterator[str]:
    port = free_port()
    code = ("import uvicorn; from webresearch.integrations.openenv import make_app; "
            f"uvicorn.run(make_app(), host='127.0.0.1', port={port}, log_level='warning')")
    process = subprocess.Popen([sys.executable, "-c", code])
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        process.kill()
        process.wait(timeout=30)


async def episode(url: str, task: dict) -> tuple[float, dict, str]:
    from openenv.core.generic_client import GenericEnvClient

    async with GenericEnvClient(base_url=url) as client:
        first = await client.reset(task=task)
        searched = await client.step({"tool": "web_search",
                                      "arguments": {"query": ["Pogre Works"]}})
        assert not searched.done and "Pogre Works" in searched.observation["text"]
        last = await client.step({"answer": task["answers"][0]})
        return last.reward, last.observation, first.observation["question"]


@pytest.mark.slow
def test_four_concurrent_sessions_on_a_real_server(server: str) -> None:
    async def all_four() -> list[tuple[float, dict, str]]:
        return await asyncio.wait_for(
            asyncio.gather(*(episode(server, t) for t in TASKS)), timeout=240)

    results = asyncio.run(all_four())
    assert [question for _, _, question in results] == [t["question"] for t in TASKS]
    for reward, observation, _ in results:
        assert reward == 1.0
        assert observation["status"] == "answered" and observation["tool_calls"] == 1


def test_resource_session_forwards_the_env_s_reward() -> None:
    session = make_session(TASKS[0])
    try:
        names = [tool.name for tool in session.list_tools()]
        assert names == ["web_search", "browse_webpage", "answer"]
        assert "<tools>" not in session.initial_messages()[0]["content"]
        assert "Pogre Works" in session.call_tool("web_search", {"query": ["Pogre Works"]}).data
        assert session.call_tool("answer", {"answer": "Kraemukreisk Jepudou"}).done
        verdict = session.verify([])
        assert verdict.env_reward == 1.0 and verdict.metrics["status"] == "answered"
    finally:
        session.close()


def test_a_session_stopped_without_an_answer_gets_the_env_s_verdict() -> None:
    session = make_session(TASKS[0])
    verdict = session.verify([])
    assert verdict.env_reward == -1.0 and verdict.metrics["status"] == "truncated"
    session.close()


def test_openenv_yaml_names_the_app() -> None:
    assert "app: server:app" in OPENENV_YAML and "runtime: fastapi" in OPENENV_YAML
