"""verifiers: ``WebResearch-v0``'s tasks as a ``verifiers.v1`` Taskset, its tools as a Toolset.

verifiers 0.4 splits an environment into a Taskset (config in, typed tasks out) and
Toolsets (MCP tools the model calls). :func:`classes` builds, on first use,
``Taskset`` (one task per env task: the question, the env's tool-free system prompt,
the task record in ``info``) and ``Toolset`` (``web_search``, ``browse_webpage`` and
``answer``, run by a ``WebResearchEnv`` per task: ``answer`` ends the episode and
returns the env's reward). verifiers is imported on first use (``pip install
'webresearch[verifiers]'``). Its legacy ``GymEnv`` path, which calls ``env.step()`` from
inside its own event loop, works with the env as it is.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

from webresearch._lazy import require
from webresearch.envs.config import EnvConfig
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import StateError
from webresearch.integrations.episodes import make_env
from webresearch.tasks import task_from_record

__all__ = ["classes", "make_taskset", "make_toolset"]


def make_taskset(config: EnvConfig | None = None) -> Any:
    """A verifiers ``Taskset`` of the env's tasks (``config.tasks``)."""
    built = classes()
    taskset = built.Taskset(built.TasksetConfig())
    taskset.env_config = config or EnvConfig()
    return taskset


def make_toolset(config: EnvConfig | None = None) -> Any:
    """A verifiers ``Toolset`` whose tools run ``WebResearch-v0`` with ``config``'s options."""
    built = classes()
    toolset = built.Toolset(built.ToolsetConfig())
    toolset.env_config = config or EnvConfig()
    return toolset


@functools.cache
def classes() -> SimpleNamespace:
    """The verifiers classes (``TaskData``, ``Task``, ``TasksetConfig``, ``Taskset``,
    ``ToolsetConfig``, ``Toolset``), built on first call from ``verifiers.v1``."""
    vf = require("verifiers.v1", "verifiers")

    class WebResearchData(vf.TaskData):  # type: ignore[misc,name-defined]
        """One question; ``info["task"]`` is the task record (question, answers, id)."""

        info: dict[str, Any]

    class WebResearchTask(vf.Task[WebResearchData, vf.State, vf.TaskConfig]):  # type: ignore[misc,name-defined]
        """A ``WebResearch-v0`` question."""

    class WebResearchTasksetConfig(vf.TasksetConfig):  # type: ignore[misc,name-defined]
        """The taskset's config (the env's options are set on the taskset)."""

    class WebResearchTaskset(vf.Taskset[WebResearchTask, WebResearchTasksetConfig]):  # type: ignore[misc,name-defined]
        """The env's tasks, with its tool-free system prompt."""

        env_config: EnvConfig = EnvConfig()

        def load(self) -> Iterator[WebResearchTask]:
            env = make_env(EnvConfig(**{**_options(self.env_config), "tools_in_prompt": False}))
            try:
                for task in env.tasks:
                    yield WebResearchTask(WebResearchData(
                        id=task.id, name=task.id, prompt=env.format.user_prompt(task.question),
                        system_prompt=env.system_prompt,
                        info={"task": json.dumps(task.to_json())}))
            finally:
                env.close()

    class WebResearchToolsetConfig(vf.ToolsetConfig):  # type: ignore[misc,name-defined]
        """The toolset's config (the env's options are set on the toolset)."""

    class WebResearchToolset(vf.Toolset[WebResearchToolsetConfig, vf.State]):  # type: ignore[misc,name-defined]
        """The env's tools; ``start`` begins a task's episode, ``answer`` ends it."""

        env_config: EnvConfig = EnvConfig()
        _env: WebResearchEnv | None = None

        def start(self, info: dict[str, Any]) -> None:
            """Begin an episode on the task in a row's ``info``."""
            if self._env is None:
                self._env = make_env(self.env_config)
            record = json.loads(info["task"])
            self._env.reset(options={"task": task_from_record(record, where="info")})

        @vf.tool  # type: ignore[untyped-decorator]
        async def web_search(self, query: list[str]) -> str:
            """Search the web; returns the title, URL and a snippet of each result."""
            return await self._active().acall_tool("web_search", {"query": query})

        @vf.tool  # type: ignore[untyped-decorator]
        async def browse_webpage(self, url_list: list[str]) -> str:
            """Read web pages; browsing a URL again returns its next segment."""
            return await self._active().acall_tool("browse_webpage", {"url_list": url_list})

        @vf.tool  # type: ignore[untyped-decorator]
        async def answer(self, answer: str) -> str:
            """Give the final answer; ends the episode."""
            reward = await self._active().asubmit(answer)
            return f"Answer recorded (reward {reward:g})."

        def _active(self) -> WebResearchEnv:
            if self._env is None:
                raise StateError("Expects start(info) before a tool call, actual: no episode")
            return self._env

        @property
        def outcome(self) -> Any:
            """The env's verdict on the episode (``None`` while it runs)."""
            return None if self._env is None else self._env.outcome

    return SimpleNamespace(TaskData=WebResearchData, Task=WebResearchTask,
                           TasksetConfig=WebResearchTasksetConfig, Taskset=WebResearchTaskset,
                           ToolsetConfig=WebResearchToolsetConfig, Toolset=WebResearchToolset)


def _options(config: EnvConfig) -> dict[str, Any]:
    return {name: getattr(config, name) for name in config.__dataclass_fields__}
