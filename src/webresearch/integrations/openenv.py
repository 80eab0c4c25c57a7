"""OpenEnv: ``WebResearch-v0`` as an OpenEnv ``Environment`` served by ``create_app``, and as a
``ResourceSession`` (``list_tools``, ``call_tool``, ``verify``) for harness-driven trainers.

An action is the model's turn as ``text`` (its one required field, in the env's own
action format: what verifiers' OpenEnv bridge sends); a framework that parses tool
calls itself adds ``tool`` and ``arguments``, or a final ``answer``, and ``text`` is then
the model's text beside the call (it may be empty). The observation carries the text,
and on the last step the env's verdict (status, F1, EM) beside the reward. Each
WebSocket session gets its own env, so sessions run concurrently. Stateless HTTP
(``POST /step``, a fresh env per request) resets and steps in one request: the body
names the episode's ``task`` (a record) or ``task_id`` (and ``seed``), and ``history``,
the actions taken so far, which are replayed first. openenv-core is imported on first
use (``pip install -e '.[openenv]'``, versions 0.3.x); the classes are built
then and cached.

Serve it (``openenv.yaml``: ``app: server:app``)::

    # server.py
    from webresearch.integrations.openenv import make_app
    app = make_app()
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

from webresearch.envs.config import EnvConfig
from webresearch.envs.outcomes import EpisodeOutcome
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError
from webresearch.integrations.episodes import finish_on_text, make_env, require_range
from webresearch.tasks import task_from_record

__all__ = ["OPENENV_YAML", "classes", "make_app", "make_session"]

OPENENV_YAML = """spec_version: 1
name: webresearch
type: space
runtime: fastapi
app: server:app
port: 8000
"""
"""The ``openenv.yaml`` of a project whose ``server.py`` holds ``app = make_app()``."""


def make_app(config: EnvConfig | None = None, *, max_concurrent_envs: int = 64) -> Any:
    """OpenEnv's FastAPI app for ``WebResearch-v0`` with ``config``'s options."""
    built = classes()
    from openenv.core.env_server import http_server as http  # noqa: PLC0415
    return http.create_app(functools.partial(built.Environment, config=config),
                           built.Action, built.Observation, env_name="webresearch",
                           max_concurrent_envs=max_concurrent_envs)


def make_session(task: Mapping[str, Any] | None = None, *, config: EnvConfig | None = None,
                 seed: int | None = None) -> Any:
    """An OpenEnv ``ResourceSession`` on one episode of ``task`` (a task record; ``None``
    draws one), with the tool schemas in the chat template (``tools_in_prompt`` off)."""
    return classes().Session(task, config=config, seed=seed)


@functools.cache
def classes() -> SimpleNamespace:
    """The OpenEnv classes (``Action``, ``Observation``, ``Environment``, ``Session``),
    built on first call from openenv-core's bases."""
    require_range("openenv", "openenv", at_least="0.3", below="0.4",
                  distribution="openenv-core")
    from openenv.core.env_server.interfaces import Environment  # noqa: PLC0415
    from openenv.core.env_server.mcp_types import Tool  # noqa: PLC0415
    from openenv.core.env_server.types import Action, Observation, State  # noqa: PLC0415
    from openenv.core.harness import ResourceSession, ToolResult, VerifyResult  # noqa: PLC0415
    from pydantic import Field, model_validator  # noqa: PLC0415

    class WebResearchAction(Action):  # type: ignore[misc]
        """The model's turn as ``text``; with a parsed ``tool`` call (and its ``arguments``)
        or a final ``answer``, ``text`` is the text beside it and is not parsed."""

        text: str = Field(description="The model's turn, in the env's action format")
        tool: str | None = Field(default=None, description="A parsed tool call's name")
        arguments: dict[str, Any] = Field(default_factory=dict, description="Its arguments")
        answer: str | None = Field(default=None, description="A parsed final answer")

        @model_validator(mode="after")
        def _one_call(self) -> WebResearchAction:
            if self.tool is not None and self.answer is not None:
                raise ValueError("Expects a tool call or an answer, actual: both")
            return self

    class WebResearchObservation(Observation):  # type: ignore[misc]
        """What the agent sees; on the last step, the env's verdict as well."""

        text: str = Field(default="", description="The observation text")
        question: str = Field(default="", description="The episode's question")
        system_prompt: str = Field(default="", description="The env's system prompt")
        tools: list[dict[str, Any]] = Field(default_factory=list, description="Tool schemas")
        status: str | None = Field(default=None, description="How the episode ended")
        f1: float | None = Field(default=None, description="The answer's F1")
        em: float | None = Field(default=None, description="The answer's exact match")
        tool_calls: int = Field(default=0, description="Tool calls made")

    class WebResearchEnvironment(Environment):  # type: ignore[misc]
        """``WebResearch-v0`` for OpenEnv; one env per session."""

        SUPPORTS_CONCURRENT_SESSIONS = True

        def __init__(self, config: EnvConfig | None = None) -> None:
            super().__init__()
            self.env = make_env(config)
            self._state = State(episode_id=None, step_count=0)

        def reset(self, seed: int | None = None, episode_id: str | None = None,
                  task: dict[str, Any] | None = None, **kwargs: Any) -> WebResearchObservation:
            options = {"task": task_from_record(task, where="reset")} if task else None
            observation, _ = self.env.reset(seed=seed, options=options)
            self._state = State(episode_id=episode_id or uuid.uuid4().hex, step_count=0)
            return WebResearchObservation(
                text=observation, question=self.env.state.task.question,  # type: ignore[union-attr]
                system_prompt=self.env.system_prompt, tools=self.env.format.tool_schemas())

        async def reset_async(self, seed: int | None = None, episode_id: str | None = None,
                              task: dict[str, Any] | None = None,
                              **kwargs: Any) -> WebResearchObservation:
            return self.reset(seed=seed, episode_id=episode_id, task=task)  # no I/O

        def step(self, action: WebResearchAction, timeout_s: float | None = None,
                 **kwargs: Any) -> WebResearchObservation:
            for earlier in self._episode_for(kwargs):
                _act(self.env, earlier)
            self._state.step_count += 1
            return _act(self.env, action)

        async def step_async(self, action: WebResearchAction, timeout_s: float | None = None,
                             **kwargs: Any) -> WebResearchObservation:
            for earlier in self._episode_for(kwargs):
                await _aact(self.env, earlier)
            self._state.step_count += 1
            return await _aact(self.env, action)

        def _episode_for(self, request: dict[str, Any]) -> list[WebResearchAction]:
            """A stateless request's episode: reset on its task, and its history to replay."""
            if self.env.state is not None:
                return []  # a session's env: its episode runs
            self.reset(seed=request.get("seed"), task=_task_of(self.env, request))
            history = [WebResearchAction.model_validate(a) for a in request.get("history", [])]
            self._state.step_count = len(history)
            return history

        @property
        def state(self) -> Any:
            return self._state

        def close(self) -> None:
            self.env.close()

    def _act(env: WebResearchEnv, action: WebResearchAction) -> WebResearchObservation:
        _check_running(env)
        if action.answer is not None:
            return _observation(env, "", env.submit(action.answer))
        if action.tool is not None:
            return _observation(env, env.call_tool(action.tool, action.arguments), 0.0)
        text, reward, *_ = env.step(action.text)
        return _observation(env, text, float(reward))

    async def _aact(env: WebResearchEnv, action: WebResearchAction) -> WebResearchObservation:
        _check_running(env)
        if action.answer is not None:
            return _observation(env, "", await env.asubmit(action.answer))
        if action.tool is not None:
            return _observation(env, await env.acall_tool(action.tool, action.arguments), 0.0)
        text, reward, *_ = await env.astep(action.text)
        return _observation(env, text, reward)

    def _observation(env: WebResearchEnv, text: str, reward: float) -> WebResearchObservation:
        outcome: EpisodeOutcome | None = env.outcome
        if outcome is None:
            return WebResearchObservation(text=text, reward=reward, done=False,
                                          tool_calls=env.state.tool_calls)  # type: ignore[union-attr]
        return WebResearchObservation(text=text, reward=outcome.reward, done=True,
                                      status=str(outcome.status), f1=outcome.f1, em=outcome.em,
                                      tool_calls=outcome.tool_calls)

    class WebResearchSession(ResourceSession):  # type: ignore[misc]
        """One episode for a harness: the question, the tools, and the env's verdict."""

        def __init__(self, task: Mapping[str, Any] | None = None, *,
                     config: EnvConfig | None = None, seed: int | None = None) -> None:
            self.env = make_env(replace(config or EnvConfig(), tools_in_prompt=False))
            options = {"task": task_from_record(task, where="the session")} if task else None
            self.question, _ = self.env.reset(seed=seed, options=options)

        def initial_messages(self) -> list[dict[str, Any]]:
            return [{"role": "system", "content": self.env.system_prompt},
                    {"role": "user", "content": self.question}]

        def list_tools(self) -> list[Any]:
            return [Tool(name=s["function"]["name"], description=s["function"]["description"],
                         input_schema=s["function"]["parameters"])
                    for s in self.env.format.tool_schemas()] + [Tool(
                        name="answer", description="Give the final answer; ends the episode.",
                        input_schema={"type": "object", "required": ["answer"],
                                      "properties": {"answer": {"type": "string"}}})]

        def call_tool(self, name: str, arguments: dict[str, Any]) -> Any:
            if self.env.outcome is not None:
                return ToolResult(done=True, error="the episode has ended")
            if name == "answer":
                reward = self.env.submit(str(arguments.get("answer", "")))
                return ToolResult(data=reward, done=True, metadata={"reward": reward})
            return ToolResult(data=self.env.call_tool(name, arguments))

        def verify(self, transcript: list[dict[str, Any]], final_state: Any = None) -> Any:
            if self.env.outcome is None:  # no answer tool: the final text, as the env reads it
                finish_on_text(self.env, _final_text(transcript))
            outcome = self.env.outcome
            assert outcome is not None
            return VerifyResult(env_reward=outcome.reward, done=True, metrics={
                "status": str(outcome.status), "f1": outcome.f1, "em": outcome.em,
                "tool_calls": outcome.tool_calls})

        def close(self) -> None:
            self.env.close()

    def _check_running(env: WebResearchEnv) -> None:
        if env.outcome is not None:
            raise _bad_request("Expects an action in a running episode, actual: the episode "
                               f"ended ({env.outcome.status}); reset to start another")

    return SimpleNamespace(Action=WebResearchAction, Observation=WebResearchObservation,
                           Environment=WebResearchEnvironment, Session=WebResearchSession)


def _task_of(env: WebResearchEnv, request: Mapping[str, Any]) -> dict[str, Any] | None:
    """The task a stateless ``/step`` names: a ``task`` record or a ``task_id`` (or, with
    only a ``seed``, the one the env draws with it)."""
    if request.get("task") is not None:
        return dict(request["task"])
    if request.get("task_id") is not None:
        ids = {task.id: task for task in env.tasks}
        if request["task_id"] not in ids:
            raise _bad_request(f"Expects a known task_id, actual: {request['task_id']!r}")
        return ids[request["task_id"]].to_json()
    if request.get("seed") is None:
        raise _bad_request("Expects a stateless /step to name its episode (task, task_id or "
                           "seed, and the history of actions so far), actual: none of them")
    return None


def _bad_request(message: str) -> Exception:
    """A client's mistake, answered over HTTP as 422 with ``message``."""
    from fastapi import HTTPException  # noqa: PLC0415 - openenv-core's web framework

    error = ConfigError(message)
    return HTTPException(status_code=422, detail=str(error))


def _final_text(transcript: list[dict[str, Any]]) -> str | None:
    """The last assistant message's text in a chat transcript (``None`` without one)."""
    for message in reversed(transcript):
        if message.get("role") == "assistant":
            content = message.get("content")
            if isinstance(content, list):
                return "".join(str(part.get("text", "")) for part in content)
            return content if isinstance(content, str) else None
    return None
