"""OpenEnv: a real openenv-core server on loopback (four WebSocket sessions at once, stateless
HTTP, verifiers' OpenEnv bridge); the ResourceSession."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("openenv")

from webresearch.integrations.openenv import OPENENV_YAML, classes, make_session

TASKS = [{"question": f"Who founded Pogre Works? ({i})", "answers": ["Kraemukreisk Jepudou"]}
         for i in range(4)]
FILE_TASKS = [{"id": "founder", "question": "Who founded Pogre Works?",
               "answers": ["Kraemukreisk Jepudou"]},
              {"id": "what", "question": "What is Pogre Works?", "answers": ["a company"]}]
SEARCH = {"text": "", "tool": "web_search", "arguments": {"query": ["Pogre Works"]}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def tasks_file(tmp_path: Path) -> Path:
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in FILE_TASKS), encoding="utf-8")
    return path


@pytest.fixture
def server(tasks_file: Path) -> Iterator[str]:
    """openenv-core's app for the 2-task file, served by uvicorn in a subprocess."""
    port = free_port()
    code = ("import uvicorn; from webresearch.integrations.openenv import make_app; "
            "from webresearch.envs.config import EnvConfig; "
            f"uvicorn.run(make_app(EnvConfig(tasks={str(tasks_file)!r})), host='127.0.0.1', "
            f"port={port}, log_level='warning')")
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
        searched = await client.step(SEARCH)
        assert not searched.done and "Pogre Works" in searched.observation["text"]
        last = await client.step({"text": "", "answer": task["answers"][0]})
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


def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.slow
def test_stateless_http_steps_name_their_episode(server: str) -> None:
    from openenv.core.env_server.types import ResetRequest, StepRequest, StepResponse

    status, first = post(f"{server}/reset", ResetRequest(seed=0).model_dump())
    assert status == 200 and first["observation"]["question"] in [
        t["question"] for t in FILE_TASKS]  # config.tasks: the file's tasks, not the 500
    task, answer = {"task_id": "founder"}, {"text": "<think>k</think><answer>Kraemukreisk "
                                            "Jepudou</answer>"}
    status, body = post(f"{server}/step", StepRequest(action=SEARCH, **task).model_dump())
    searched = StepResponse.model_validate(body)
    assert status == 200 and not searched.done and "Pogre Works" in searched.observation["text"]
    status, body = post(f"{server}/step", StepRequest(action=answer, history=[SEARCH],
                                                      **task).model_dump())
    last = StepResponse.model_validate(body)
    assert status == 200 and last.done and last.reward == 1.0
    assert last.observation["tool_calls"] == 1 and last.observation["status"] == "answered"
    status, body = post(f"{server}/step", {"action": answer})
    assert status == 422 and "Expects a stateless /step to name its episode" in body["detail"]
    status, body = post(f"{server}/step", {"action": answer, "task_id": "foundr"})
    assert status == 422 and "Expects a known task_id" in body["detail"]


@pytest.mark.slow
def test_verifiers_openenv_bridge_accepts_the_action_schema(server: str) -> None:
    bridge = pytest.importorskip("verifiers.v1.tasksets.openenv.taskset")
    from openenv.core.generic_client import GenericEnvClient

    with urllib.request.urlopen(f"{server}/schema", timeout=30) as response:
        schema = json.loads(response.read())["action"]
    reply = "<think>I know it</think><answer>Kraemukreisk Jepudou</answer>"
    action = bridge.parse_action(reply, schema)  # raised for the old schema
    assert action == {"text": reply}

    async def episode() -> Any:
        async with GenericEnvClient(base_url=server) as client:
            await client.reset(task=FILE_TASKS[0])
            return await client.step(action)

    result = asyncio.run(asyncio.wait_for(episode(), timeout=120))
    assert result.done and result.reward == 1.0 and result.observation["em"] == 1.0


def test_a_text_answer_in_the_transcript_is_verified_like_the_env() -> None:
    session = make_session(TASKS[0])
    try:
        transcript = [*session.initial_messages(), {"role": "assistant", "content": [
            {"type": "text", "text": "<think>sure</think><answer>Kraemukreisk Jepudou</answer>"}]}]
        verdict = session.verify(transcript)
        assert verdict.env_reward == 1.0 and verdict.metrics["status"] == "answered"
    finally:
        session.close()


def test_the_action_schema_has_one_required_field_and_one_call() -> None:
    action = classes().Action
    assert action.model_json_schema()["required"] == ["text"]
    with pytest.raises(ValueError, match=re.escape("Expects a tool call or an answer")):
        action(text="", tool="web_search", answer="x")


def test_sessions_use_exactly_the_configured_tasks(tasks_file: Path) -> None:
    from webresearch.envs.config import EnvConfig

    environment = classes().Environment(config=EnvConfig(tasks=str(tasks_file)))
    try:
        questions = {environment.reset(seed=seed).question for seed in range(12)}
        assert questions == {t["question"] for t in FILE_TASKS}
    finally:
        environment.close()


@pytest.mark.slow
def test_example_client_plays_episodes_over_websocket(tmp_path: Path) -> None:
    from tests.conftest import PYTHONPATH, ROOT

    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "openenv_client.py"), "--episodes", "2"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={"PYTHONPATH": PYTHONPATH, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["episodes"] == 2 and len(result["rewards"]) == 2
