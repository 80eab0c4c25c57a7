"""verifiers 0.4: ``WebResearch-v0`` as a verifiers environment, loaded and served by name.

verifiers finds an environment by its taskset id: ``webresearch-v0`` imports the module
``webresearch_v0``, which exports :class:`WebResearchTaskset` and
:class:`WebResearchHarness` from here. Each task is one question; its tools
(``web_search``, ``browse_webpage``, ``answer``) are served per rollout by
:class:`WebResearchToolset`, which verifiers starts as ``python -m`` this module with
the env's options and hands the task (``setup_task``). The ``answer`` tool ends the
episode and sends the env's verdict back to the rollout's state; a model that answers
in text (``<answer>...</answer>``) instead is scored the way the env scores it. The
env's options are ``--env.taskset.env`` (:class:`~webresearch.envs.EnvConfig`'s fields
as JSON: ``{"tasks": "tasks.jsonl", "max_turns": 5}``)::

    vf-eval webresearch-v0 -m MODEL --client.base-url URL -n 8 --no-push

Importing this module imports verifiers (``pip install -e '.[verifiers]'``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from webresearch.envs.config import EnvConfig
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError, StateError
from webresearch.integrations.episodes import finish_on_text, make_env, require_range
from webresearch.tasks import task_from_record

vf = require_range("verifiers.v1", "verifiers", at_least="0.4", below="0.5")
from verifiers.v1.harnesses.utils.launch import CHAT_PROGRAM_SOURCE  # noqa: E402
from verifiers.v1.runtimes import SubprocessConfig  # noqa: E402

__all__ = [
    "TASKSET_ID",
    "WebResearchData",
    "WebResearchEnvConfig",
    "WebResearchHarness",
    "WebResearchState",
    "WebResearchTask",
    "WebResearchTaskConfig",
    "WebResearchTaskset",
    "WebResearchTasksetConfig",
    "WebResearchToolset",
    "WebResearchToolsetConfig",
    "WebResearchVerifiersEnv",
    "env_options",
    "make_taskset",
    "make_toolset",
]

TASKSET_ID = "webresearch-v0"
"""The name verifiers loads this environment by (module ``webresearch_v0``)."""

_PROGRAM = ".vf-webresearch-chat.py"


# ------------------------------------------------------------------ options
def env_options(config: EnvConfig | None = None) -> dict[str, Any]:
    """``config`` as the JSON options a tool server in another process is given.

    Example:
        >>> env_options(EnvConfig(max_turns=4))["max_turns"]
        4
    """
    data = (config or EnvConfig()).to_json()
    if unrecorded := data.pop("unrecorded"):
        raise ConfigError(f"Expects options a tool server can be sent as JSON (a web spec, "
                          f"a reward name), actual: {config} gives {unrecorded} as objects")
    return data


def _env(options: dict[str, Any], **overrides: Any) -> WebResearchEnv:
    given = {**options, **overrides}
    if given.get("reader") == "keyword":
        from webresearch.web.reader import KeywordReader  # noqa: PLC0415

        given["reader"] = KeywordReader()
    return make_env(EnvConfig(**given))


def _portable(options: dict[str, Any]) -> dict[str, Any]:
    """The options with a task file's path made absolute: tool servers run elsewhere."""
    tasks = options.get("tasks", "default")
    if isinstance(tasks, str) and tasks != "default":
        return {**options, "tasks": str(Path(tasks).resolve())}
    return options


# -------------------------------------------------------------- data types
class WebResearchState(vf.State):  # type: ignore[misc,name-defined]
    """The rollout's state: the env's verdict, once the ``answer`` tool ended the episode."""

    status: str | None = None
    reward: float | None = None
    f1: float = 0.0
    em: float = 0.0
    tool_calls: int = 0


class WebResearchData(vf.TaskData):  # type: ignore[misc,name-defined]
    """One question; ``task`` is its record (question, answers, id)."""

    task: dict[str, Any]


class WebResearchToolsetConfig(vf.ToolsetConfig):  # type: ignore[misc,name-defined]
    """Where the tools run, and the env's options they run it with."""

    env: dict[str, Any] = Field(default_factory=dict)
    """:class:`EnvConfig`'s fields as JSON (the taskset fills them in)."""


class WebResearchTaskConfig(vf.TaskConfig):  # type: ignore[misc,name-defined]
    """Each task's config: its tool server's."""

    tools: WebResearchToolsetConfig = WebResearchToolsetConfig()
    """The tool server's config (``--env.taskset.task.tools.*``)."""


class WebResearchTasksetConfig(vf.TasksetConfig):  # type: ignore[misc,name-defined]
    """The taskset's config: the env's options and each task's config."""

    env: dict[str, Any] = Field(default_factory=dict)
    """:class:`EnvConfig`'s fields as JSON (``{"tasks": "tasks.jsonl"}``); the default
    is the simulated web with its own tasks."""
    task: WebResearchTaskConfig = WebResearchTaskConfig()
    """Config given to each task (``--env.taskset.task.*``)."""


# ------------------------------------------------------------------- tools
class WebResearchToolset(vf.Toolset[WebResearchToolsetConfig, WebResearchState]):  # type: ignore[misc,name-defined]
    """The env's tools for one rollout; ``setup_task`` starts the episode on its task."""

    TOOL_PREFIX: ClassVar[str | None] = None  # the env's own tool names, unprefixed

    def __init__(self, config: WebResearchToolsetConfig) -> None:
        super().__init__(config)
        self._env: WebResearchEnv | None = None

    async def setup_task(self, task: Any) -> None:
        """Begin an episode on ``task`` (a :class:`WebResearchData`)."""
        if self._env is None:
            self._env = _env(self.config.env)
        record = task_from_record(task.task, where="the task's data")
        await self._env.areset(options={"task": record})

    @vf.tool  # type: ignore[untyped-decorator]
    async def web_search(self, query: list[str]) -> str:
        """Search the web; returns the title, URL and a snippet of each result."""
        return await self._call("web_search", {"query": query})

    @vf.tool  # type: ignore[untyped-decorator]
    async def browse_webpage(self, url_list: list[str]) -> str:
        """Read web pages; browsing a URL again returns its next segment."""
        return await self._call("browse_webpage", {"url_list": url_list})

    @vf.tool  # type: ignore[untyped-decorator]
    async def answer(self, answer: str) -> str:
        """Give the final answer; ends the episode."""
        env = self._started()
        if env.outcome is not None:
            return "The episode has ended; the first answer counts."
        reward = await env.asubmit(answer)
        outcome = env.outcome
        assert outcome is not None  # asubmit ends the episode
        state = self.state
        state.status, state.reward = str(outcome.status), outcome.reward
        state.f1, state.em, state.tool_calls = outcome.f1, outcome.em, outcome.tool_calls
        return f"Answer recorded (reward {reward:g})."

    async def _call(self, name: str, arguments: dict[str, Any]) -> str:
        env = self._started()
        if env.outcome is not None:
            return "The episode has ended: no more tool calls."
        return await env.acall_tool(name, arguments)

    def _started(self) -> WebResearchEnv:
        if self._env is None or self._env.state is None:
            raise StateError("Expects setup_task(task) before a tool call, actual: no episode")
        return self._env

    @property
    def outcome(self) -> Any:
        """The env's verdict on the episode (``None`` while it runs)."""
        return None if self._env is None else self._env.outcome


# ------------------------------------------------------------------- tasks
class WebResearchTask(vf.Task[WebResearchData, WebResearchState, WebResearchTaskConfig]):  # type: ignore[misc,name-defined]
    """A ``WebResearch-v0`` question: its tools, its stop and its reward (the env's)."""

    @classmethod
    def toolsets(cls, config: WebResearchTaskConfig) -> list[Any]:
        return [WebResearchToolset(config.tools)]

    @vf.stop  # type: ignore[untyped-decorator]
    async def answered(self, trace: vf.Trace) -> bool:  # type: ignore[name-defined]
        """The ``answer`` tool ended the episode."""
        return trace.state.status is not None

    @vf.stop  # type: ignore[untyped-decorator]
    async def out_of_turns(self, trace: vf.Trace) -> bool:  # type: ignore[name-defined]
        """The model has had the env's tool-call budget and one turn to answer."""
        budget = int(self.config.tools.env.get("max_turns", EnvConfig().max_turns))
        return len(trace.assistant_messages) > budget + 1

    @vf.reward(weight=1.0)  # type: ignore[untyped-decorator]
    async def reward(self, trace: vf.Trace) -> float:  # type: ignore[name-defined]
        """The env's reward (F1 with the format penalty by default)."""
        reward = self.verdict(trace).reward
        assert reward is not None  # a verdict is an ended episode's
        return reward

    @vf.metric  # type: ignore[untyped-decorator]
    async def scores(self, trace: vf.Trace) -> dict[str, float]:  # type: ignore[name-defined]
        """The answer's F1 and EM, and the tool calls made."""
        verdict = self.verdict(trace)
        return {"f1": verdict.f1, "em": verdict.em, "tool_calls": float(verdict.tool_calls)}

    def verdict(self, trace: Any) -> WebResearchState:
        """The env's verdict: the one the ``answer`` tool recorded, else the final text
        scored as the env would (an ``<answer>`` in it, or none)."""
        state: WebResearchState = trace.state
        if state.status is not None:
            return state
        env = _env(self.config.tools.env)
        try:
            env.reset(options={"task": task_from_record(self.data.task, where="the task")})
            finish_on_text(env, trace.last_reply)
            outcome = env.outcome
            assert outcome is not None  # finish_on_text ends the episode
            return WebResearchState(status=str(outcome.status), reward=outcome.reward,
                                    f1=outcome.f1, em=outcome.em, tool_calls=state.tool_calls)
        finally:
            env.close()


class WebResearchTaskset(vf.Taskset[WebResearchTask, WebResearchTasksetConfig]):  # type: ignore[misc,name-defined]
    """The env's tasks (``env["tasks"]``), with its system prompt (the tools go to the
    chat template)."""

    def load(self) -> Any:
        options = _portable(self.config.env)
        env = _env(options, tools_in_prompt=False)
        tools = self.config.task.tools.model_copy(update={"env": options})
        task_config = self.config.task.model_copy(update={"tools": tools})
        try:
            for task in env.tasks:
                yield WebResearchTask(WebResearchData(
                    id=task.id, name=task.id, prompt=env.format.user_prompt(task.question),
                    system_prompt=env.system_prompt, task=task.to_json()), task_config)
        finally:
            env.close()


# ----------------------------------------------------------------- harness
class WebResearchHarnessConfig(vf.HarnessConfig):  # type: ignore[misc,name-defined]
    """The harness's config (verifiers' own fields: tool timeout, env, ...)."""


class WebResearchHarness(vf.Harness[WebResearchHarnessConfig]):  # type: ignore[misc,name-defined]
    """verifiers' own chat loop (the ``null`` harness's program) with the tools as MCP,
    run by this Python: nothing is installed or downloaded (the ``null`` harness builds
    its program's environment with uv). Runs on the subprocess runtime."""

    APPENDS_SYSTEM_PROMPT = True
    SUPPORTS_MCP = True
    SUPPORTS_TOOL_INTERCEPTION = True
    EXECUTES_CODE = False
    NEEDS_CONTAINER = False

    async def setup(self, runtime: Any) -> None:
        if runtime.type != "subprocess":
            raise ConfigError(f"Expects the subprocess runtime for harness {TASKSET_ID} (use "
                              f"harness 'null' elsewhere), actual: {runtime.type!r}")
        await runtime.write(_PROGRAM, CHAT_PROGRAM_SOURCE.encode())

    async def launch(  # noqa: PLR0917 - verifiers' signature
            self, ctx: Any, trace: Any, runtime: Any, endpoint: str, secret: str,
            mcp_urls: dict[str, str], data: Any, tool_interception_url: str | None = None
    ) -> Any:
        system_prompt, prompt = self.resolve_prompt(data)
        args = [f"--base-url={endpoint}", f"--api-key={secret}", f"--model={ctx.model}",
                f"--prompt={prompt}"]
        if tool_interception_url:
            args.append(f"--tool-interception-url={tool_interception_url}")
        if system_prompt:
            args.append(f"--system-prompt={system_prompt}")
        servers = {name: {"url": url, "timeout": self.config.tool_timeout}
                   for name, url in mcp_urls.items()}
        args.append("--mcp-config=" + json.dumps({"mcpServers": servers}))
        return await runtime.run_program([sys.executable, _PROGRAM, *args],
                                         {**self.config.resolved_env})


# --------------------------------------------------------------------- env
class WebResearchEnvConfig(vf.EnvConfig):  # type: ignore[misc,name-defined]
    """verifiers' single-agent env config, its agent on the local subprocess runtime
    (verifiers' default is a Prime sandbox): the tools search and read, and the
    harness runs no code."""

    agent: vf.AgentConfig = vf.AgentConfig(runtime=SubprocessConfig())  # type: ignore[name-defined]
    """The one seat, the policy under evaluation (``--env.agent.*``)."""


class WebResearchVerifiersEnv(vf.Env[WebResearchEnvConfig]):  # type: ignore[misc,name-defined]
    """One agent answers each question (verifiers' single-agent env, local by default)."""

    async def run(self, task: Any, agents: Any) -> None:
        await agents.agent.run(task)


# -------------------------------------------------------------- python API
def make_taskset(config: EnvConfig | None = None) -> WebResearchTaskset:
    """The taskset of ``config``'s tasks (the tools run with ``config``'s options)."""
    return WebResearchTaskset(WebResearchTasksetConfig(id=TASKSET_ID, env=env_options(config)))


def make_toolset(config: EnvConfig | None = None) -> WebResearchToolset:
    """A tool server's tools, in this process, running the env with ``config``'s options."""
    return WebResearchToolset(WebResearchToolsetConfig(env=env_options(config)))


if __name__ == "__main__":  # how verifiers starts a rollout's tool server
    WebResearchToolset.run()
