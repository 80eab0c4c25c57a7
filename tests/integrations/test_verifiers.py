"""verifiers 0.4: ``webresearch-v0`` loaded by name, its tools served per rollout, evaluated
by verifiers' own runner against OpenAI-compatible servers on loopback."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

vf = pytest.importorskip("verifiers.v1")

from tests.conftest import PYTHONPATH, ROOT  # noqa: E402
from webresearch.envs.config import EnvConfig  # noqa: E402
from webresearch.errors import ConfigError, StateError  # noqa: E402
from webresearch.integrations.episodes import require_range  # noqa: E402
from webresearch.integrations.verifiers import (  # noqa: E402
    TASKSET_ID,
    make_taskset,
    make_toolset,
)
from webresearch.status import EpisodeStatus  # noqa: E402

TASKS = [{"id": "founder", "question": "Who founded Pogre Works?",
          "answers": ["Kraemukreisk Jepudou"]},
         {"id": "what", "question": "What is Pogre Works?", "answers": ["a company"]}]
CONFIG = EnvConfig(tasks=TASKS)
Reply = Callable[[dict[str, Any]], dict[str, Any]]


# ----------------------------------------------------- loopback chat servers
def chat_app(reply: Reply) -> web.Application:
    """An OpenAI-compatible ``/v1/chat/completions`` whose message is ``reply(body)``,
    streamed (SSE) when asked, as verifiers' chat program asks."""

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        message = await asyncio.to_thread(reply, body)
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
        head = {"id": "c", "created": 0, "model": body["model"]}
        if not body.get("stream"):
            return web.json_response({**head, "object": "chat.completion", "usage": usage,
                                      "choices": [{"index": 0, "message": message,
                                                   "finish_reason": finish}]})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        delta = dict(message)
        for i, call in enumerate(delta.get("tool_calls") or []):
            call["index"] = i
        chunks = [{"index": 0, "delta": delta, "finish_reason": None},
                  {"index": 0, "delta": {}, "finish_reason": finish}]
        for choice in chunks:
            event = {**head, "object": "chat.completion.chunk", "choices": [choice]}
            await response.write(f"data: {json.dumps(event)}\n\n".encode())
        last = {**head, "object": "chat.completion.chunk", "choices": [], "usage": usage}
        await response.write(f"data: {json.dumps(last)}\n\ndata: [DONE]\n\n".encode())
        return response

    app = web.Application()
    app.add_routes([web.post("/v1/chat/completions", chat)])
    return app


class Loopback:
    """Serve an aiohttp app on 127.0.0.1 (a free port) from a thread of its own."""

    def __init__(self, app: web.Application) -> None:
        self.app, self.url = app, ""
        self._ready, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self) -> None:
        runner = web.AppRunner(self.app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/v1"  # type: ignore[union-attr]
        self._ready.set()
        try:
            await asyncio.to_thread(self._stop.wait)
        finally:
            await runner.cleanup()

    def __enter__(self) -> str:
        self._thread.start()
        assert self._ready.wait(timeout=60), "the loopback server did not start"
        return self.url

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def scripted(body: dict[str, Any]) -> dict[str, Any]:
    """Search for the question's subject, then answer with its gold through the tool."""
    question = next(m["content"] for m in body["messages"] if m["role"] == "user")
    tools = sorted(t["function"]["name"] for t in body.get("tools", []))
    assert tools == ["answer", "browse_webpage", "web_search"], tools
    gold = next(t["answers"][0] for t in TASKS if t["question"] in question)
    searched = any(m["role"] == "tool" for m in body["messages"])
    name, arguments = (("answer", {"answer": gold}) if searched
                       else ("web_search", {"query": ["Pogre Works"]}))
    call = {"id": f"call_{name}", "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)}}
    return {"role": "assistant", "content": None, "tool_calls": [call]}


def tiny_reply(model_dir: Path) -> Reply:
    """The tiny HF model's greedy reply to the chat (16 new tokens)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    lock = threading.Lock()

    def reply(body: dict[str, Any]) -> dict[str, Any]:
        messages = [{"role": m["role"], "content": _text(m.get("content"))}
                    for m in body["messages"]]
        ids = tokenizer.apply_chat_template(messages, tools=body.get("tools"),
                                            add_generation_prompt=True, return_tensors="pt",
                                            return_dict=True)["input_ids"]
        with lock, torch.no_grad():
            out = model.generate(ids, max_new_tokens=16, do_sample=False,
                                 pad_token_id=tokenizer.eos_token_id)
        text = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        return {"role": "assistant", "content": text}

    return reply


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content)
    return content or ""


@pytest.fixture
def tasks_file(tmp_path: Path) -> Path:
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in TASKS), encoding="utf-8")
    return path


# ------------------------------------------------------------------- tests
def test_taskset_yields_typed_tasks_through_verifiers_views() -> None:
    taskset = make_taskset(CONFIG)
    assert isinstance(taskset, vf.Taskset)
    tasks = list(taskset.take(1))
    assert len(tasks) == 1 and isinstance(tasks[0], vf.Task)
    data = tasks[0].data
    assert data.prompt == "Who founded Pogre Works?" and data.idx == 0
    assert "<tools>" not in data.system_prompt and "<answer>" in data.system_prompt
    assert [t.data.name for t in taskset.exclude(idx=["0"])] == [list(taskset)[1].data.name]
    assert [t.config.tools.env["max_turns"] for t in taskset] == [10, 10]  # options reach tools
    assert [toolset.config.env["tasks"] for toolset in type(tasks[0]).toolsets(
        tasks[0].config)] == [CONFIG.to_json()["tasks"]]


def test_toolset_tools_run_the_env_and_answer_gets_its_reward() -> None:
    toolset = make_toolset(CONFIG)
    assert isinstance(toolset, vf.Toolset)
    from verifiers.v1.utils.decorators import discover_decorated

    names = sorted(fn.__name__ for fn in discover_decorated(toolset, "tool"))
    assert names == ["answer", "browse_webpage", "web_search"]
    with pytest.raises(StateError, match=re.escape("Expects setup_task(task)")):
        asyncio.run(toolset.web_search(["Pogre Works"]))
    asyncio.run(toolset.setup_task(next(iter(make_taskset(CONFIG))).data))
    assert "Pogre Works" in asyncio.run(toolset.web_search(["Pogre Works"]))
    assert asyncio.run(toolset.answer("Kraemukreisk Jepudou")) == "Answer recorded (reward 1)."
    assert toolset.outcome.status is EpisodeStatus.ANSWERED and toolset.outcome.tool_calls == 1
    assert "ended" in asyncio.run(toolset.web_search(["again"]))  # an observation, no raise


def test_loaded_by_name_with_exactly_the_task_file_s_tasks(tasks_file: Path) -> None:
    from verifiers.v1.utils.loaders import resolve_env_config

    config = resolve_env_config({"taskset": {"id": TASKSET_ID, "env": {"tasks": str(tasks_file)}}})
    env = vf.load_environment(config)
    assert [t.data.id for t in env.taskset] == ["founder", "what"]
    assert type(env.taskset).__name__ == "WebResearchTaskset"


def test_options_that_cannot_cross_a_process_or_are_unknown_are_refused() -> None:
    from webresearch.envs.rewards import f1_score
    from webresearch.integrations.verifiers import WebResearchTaskset, WebResearchTasksetConfig

    with pytest.raises(ConfigError, match=re.escape("Expects options a tool server can be sent")):
        make_taskset(EnvConfig(tasks=TASKS, reward=lambda s, g: f1_score(s.answer, g)))
    taskset = WebResearchTaskset(WebResearchTasksetConfig(env={"max_turn": 3}))
    with pytest.raises(ConfigError, match="Did you mean 'max_turns'"):
        list(taskset)


def test_out_of_range_framework_is_named_with_its_range() -> None:
    with pytest.raises(ConfigError, match=re.escape(
            "Expects verifiers >=0.5,<0.6 (the range 'webresearch[verifiers]' supports), "
            "actual: 0.4")):
        require_range("verifiers.v1", "verifiers", at_least="0.5", below="0.6")


def run_eval(url: str, tmp: Path, env: dict[str, Any], limit: int) -> list[Any]:
    from verifiers.v1.cli.eval.runner import run_eval as vf_run_eval
    from verifiers.v1.configs.cli.eval import EvalConfig

    config = EvalConfig.model_validate({
        "env": {"taskset": {"id": TASKSET_ID, "env": env}}, "model": "tiny",
        "client": {"base_url": url}, "select": {"limit": limit}, "push": False,
        "rich": None, "output_dir": str(tmp / "out"), "max_concurrent": 4})
    episodes = asyncio.run(asyncio.wait_for(vf_run_eval(config), timeout=600))
    return [trace for episode in episodes for trace in episode.traces]


@pytest.mark.slow
def test_vf_eval_runs_the_tools_per_task_and_records_the_env_s_reward(
        tasks_file: Path, tmp_path: Path) -> None:
    with Loopback(chat_app(scripted)) as url:
        traces = run_eval(url, tmp_path, {"tasks": str(tasks_file), "max_turns": 3}, 8)
    assert sorted(t.task.data.id for t in traces) == ["founder", "what"]  # the file's 2
    for trace in traces:
        assert trace.errors == [], trace.errors
        assert trace.reward == 1.0 and trace.rewards["reward"].value == 1.0
        assert trace.metrics["tool_calls"] == 1.0 and trace.metrics["em"] == 1.0


@pytest.mark.slow
def test_example_evaluates_eight_tasks_with_the_tiny_model(tiny_model: Path,
                                                          tmp_path: Path) -> None:
    with Loopback(chat_app(tiny_reply(tiny_model))) as url:
        start = time.monotonic()
        done = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "eval_verifiers.py"), "--base-url", url,
             "--model", "tiny", "--num-tasks", "8", "--output-dir", str(tmp_path / "out")],
            capture_output=True, text=True, timeout=900, cwd=tmp_path,
            env={"PYTHONPATH": PYTHONPATH, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(result["rewards"]) == 8 and all(r is not None for r in result["rewards"])
    assert result["tasks"] == 8 and time.monotonic() - start < 900
