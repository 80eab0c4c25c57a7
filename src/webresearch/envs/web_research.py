"""``WebResearch-v0``: an agent answers a question by searching and browsing the web in text."""

from __future__ import annotations

import datetime
import logging
import re
import time
from collections.abc import Mapping
from typing import Any, SupportsFloat

import gymnasium as gym

from webresearch.envs.backends import make_web
from webresearch.envs.browsing import make_reader
from webresearch.envs.config import EnvConfig, TaskSource, check_option_names
from webresearch.envs.episode import EpisodeState, StepTiming
from webresearch.envs.formats import Answer, Invalid, ToolCall, get_format
from webresearch.envs.leaks import MAX_LEAKS, LeakProbe
from webresearch.envs.outcomes import EpisodeOutcome, StepOutcome
from webresearch.envs.rewards import Submission, exact_match, f1_score, get_reward
from webresearch.envs.spaces import UnicodeText
from webresearch.envs.sync import PrivateLoop
from webresearch.envs.tools import DirectTools, Shown, ToolRunner
from webresearch.errors import ConfigError, StateError, did_you_mean
from webresearch.status import ActionKind, EpisodeStatus
from webresearch.tasks import Task, load_tasks, task_from_record
from webresearch.untrusted import scalar_text
from webresearch.web.backend import WebBackend

__all__ = ["WebResearchEnv"]

logger = logging.getLogger(__name__)
_CUT = "\n[... truncated]"
_TOOLS_BLOCK = re.compile(r"\s*<tools>.*?</tools>", re.DOTALL)


class WebResearchEnv(gym.Env[str, str]):
    """Answer a question with web search and browsing; actions and observations are text.

    An episode starts from a task's question. Each action is the model's text for one
    turn: a tool call (search, browse) whose results come back as the next
    observation, or an answer, which ends the episode with a reward (F1 with
    DeepResearcher's format penalty by default). Invalid actions end the episode or
    are explained in the observation (``on_format_error``); nothing the agent writes
    raises. Every option is documented on :class:`~webresearch.envs.EnvConfig`.

    The methods ``areset`` and ``astep`` are the async core; ``reset`` and ``step``
    run them on one private event loop per env, so thousands of episodes can share a
    loop by using the async methods directly.

    Example:
        >>> env = WebResearchEnv(tasks=[{"question": "Who founded Pogre Works?",
        ...                              "answers": ["Kraemukreisk Jepudou"]}])
        >>> obs, info = env.reset(seed=0)
        >>> obs
        'Who founded Pogre Works?'
        >>> obs, reward, terminated, truncated, info = env.step(
        ...     '<think>search</think><tool_call>{"name": "web_search", '
        ...     '"arguments": {"query": ["Pogre Works"]}}</tool_call>')
        >>> "Pogre Works" in obs, reward, terminated
        (True, 0.0, False)
        >>> _, reward, terminated, _, info = env.step(
        ...     "<think>found it</think><answer>Kraemukreisk Jepudou</answer>")
        >>> reward, terminated, info["outcome"].status, info["outcome"].em
        (1.0, True, <EpisodeStatus.ANSWERED: 'answered'>, 1.0)
        >>> env.close()
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi"], "render_fps": 1}  # noqa: RUF012

    def __init__(self, config: EnvConfig | None = None, *, render_mode: str | None = None,
                 **options: Any) -> None:
        """Args:
            config: The options (:class:`~webresearch.envs.EnvConfig`); the defaults when
                ``None``.
            render_mode: ``"ansi"`` (:meth:`render` gives the episode as text) or ``None``.
            **options: Any :class:`~webresearch.envs.EnvConfig` field by name, over
                ``config``: ``WebResearchEnv(web="sim:seed=3", max_turns=4)``. An unknown
                name or a value of the wrong type is a
                :class:`~webresearch.errors.ConfigTypeError` (with a did-you-mean).
        """
        check_option_names(options, also=("config", "render_mode"))
        self.config = c = EnvConfig.of(config, **options)
        _check_render_mode(render_mode, self.metadata["render_modes"])
        self.render_mode = render_mode
        self.format = get_format(c.action_format)
        self.reward_fn = get_reward(c.reward if c.reward is not None
                                    else self.format.default_reward)
        self.web = make_web(c.web)
        self._owns_web = not isinstance(c.web, WebBackend)
        self.tasks = self._load_tasks(c.tasks)
        self._task_ids = {task.id: i for i, task in enumerate(self.tasks)}
        self.observation_space = UnicodeText(c.max_observation_chars)
        self.action_space = UnicodeText(c.max_action_chars)
        self.date = c.date or datetime.date.today().isoformat()
        self.system_prompt = self.format.system_prompt(date=self.date, max_turns=c.max_turns)
        if not c.tools_in_prompt:  # the chat template lists the tools: DeepResearcher's setup
            self.system_prompt = _TOOLS_BLOCK.sub("", self.system_prompt).rstrip()
        self._direct_tools = DirectTools(self.format)
        self.reader = make_reader(c.reader, self.web)
        self._tools = ToolRunner(self.web, self.format, self.config, self.reader)
        self._state: EpisodeState | None = None
        self._private = PrivateLoop()  # what the sync API runs the async core on
        self._seeded = False
        self._outcome: EpisodeOutcome | None = None

    # ------------------------------------------------------------------ reset
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[str, dict[str, Any]]:
        """Start an episode on a task drawn with the env's RNG, or named in ``options``.

        ``options`` may hold ``task`` (a :class:`Task` or a record), ``task_id`` or
        ``task_index``.
        """
        if seed is None and not self._seeded and self.config.seed is not None:
            seed = self.config.seed
        super().reset(seed=seed)
        self._seeded = True
        task = self._pick_task(options or {})
        self._state = EpisodeState(task=task)
        self._outcome = None
        observation = self._fit(self.format.user_prompt(task.question))
        self._state.observe(observation)
        info = {"task_id": task.id, "question": task.question, "task": task,
                "system_prompt": self.system_prompt}
        return observation, info

    async def areset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
                     ) -> tuple[str, dict[str, Any]]:
        """Async twin of :meth:`reset` (reset does no I/O, so it is the same call)."""
        return self.reset(seed=seed, options=options)

    def _pick_task(self, options: Mapping[str, Any]) -> Task:
        if "task" in options:
            task = options["task"]
            return task if isinstance(task, Task) else task_from_record(task, where="options")
        if "task_id" in options:
            task_id = str(options["task_id"])
            if task_id not in self._task_ids:
                raise ConfigError(f"Expects a known task_id, actual: {task_id!r}."
                                  f"{did_you_mean(task_id, self._task_ids)}")
            return self.tasks[self._task_ids[task_id]]
        if "task_index" in options:
            index = options["task_index"]
            if not isinstance(index, int) or not 0 <= index < len(self.tasks):
                raise ConfigError(
                    f"Expects task_index in [0, {len(self.tasks)}), actual: {index!r}")
            return self.tasks[index]
        return self.tasks[int(self.np_random.integers(len(self.tasks)))]

    # ------------------------------------------------------------------- step
    def step(self, action: str) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        """Take one turn of model text; see :meth:`astep`."""
        return self._private.run(self.astep(action))

    async def astep(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Parse the model's text, run the tool it calls or score its answer.

        ``info["step"]`` is the step's :class:`~webresearch.envs.outcomes.StepOutcome`;
        on the last step ``info["outcome"]`` is the episode's
        :class:`~webresearch.envs.outcomes.EpisodeOutcome` (status, answer, reward, F1, EM).
        """
        state = self._active("step()")
        start = time.perf_counter()
        state.begin_step()
        action = scalar_text(action) if isinstance(action, str) else action  # at the door
        parsed = self._parse(action)
        state.act(action if isinstance(action, str) else repr(action))
        parsed_at = time.perf_counter()
        if isinstance(parsed, Answer):
            return self._finish(state, start, parsed_at, EpisodeStatus.ANSWERED, parsed)
        if state.turns >= self.config.max_turns:
            message = f"the budget of {self.config.max_turns} tool calls was used up"
            return self._finish(state, start, parsed_at, EpisodeStatus.TRUNCATED, parsed,
                                error=message)
        if isinstance(parsed, Invalid):
            state.note_error(f"invalid action: {parsed.message}")
            if self.config.on_format_error == "end":
                return self._finish(state, start, parsed_at, EpisodeStatus.FORMAT_ERROR, parsed,
                                    error=parsed.message)
            state.spend_turn(tool_call=False)
            body: Shown = (self.format.invalid_feedback(parsed.message), [])
            observation = body[0]
        else:
            state.spend_turn(tool_call=True)
            body = await self._tools.run(parsed, state)
            observation = self.format.wrap(body[0])
        if state.turns == self.config.max_turns:
            observation += (f"\nYou have used all {self.config.max_turns} tool calls: "
                            "give your final answer now.")
        observation = self._show(state, observation, body)
        state.observe(observation)
        step = self._step_outcome(state, parsed, self._timing(state, start, parsed_at))
        return observation, 0.0, False, False, step.info()

    def _parse(self, action: object) -> Answer | Invalid | ToolCall:
        if not isinstance(action, str):
            return Invalid(f"an action must be text, not {type(action).__name__}")
        if len(action) > self.config.max_action_chars:
            return Invalid(f"the action is {len(action)} characters long; the limit is "
                           f"{self.config.max_action_chars}")
        try:
            parsed = self.format.parse(action)
        except Exception as exc:  # a format's bug must not end the run: say so, loudly
            logger.exception("the %s format raised on an action", self.format.name)
            return Invalid(f"the action could not be parsed ({type(exc).__name__})")
        if isinstance(parsed, ToolCall) and parsed.tool not in self.format.tools:
            return Invalid(f"the {self.format.name} format has no {parsed.tool!r} tool")
        return parsed

    def _step_outcome(self, state: EpisodeState, parsed: Answer | Invalid | ToolCall,
                      timing: StepTiming, episode: EpisodeOutcome | None = None) -> StepOutcome:
        if isinstance(parsed, ToolCall):
            kind, arguments, error = ActionKind(parsed.tool), parsed.arguments, None
        elif isinstance(parsed, Answer):
            kind, arguments, error = ActionKind.ANSWER, (parsed.text,), None
        else:
            kind, arguments, error = ActionKind.INVALID, (), parsed.message
        if episode is not None and episode.error is not None:
            error = episode.error
        return StepOutcome(action=kind, arguments=arguments, error=error,
                           web=tuple(state.step_calls), timing=timing, turn=state.turns,
                           tool_calls=state.tool_calls, episode=episode)

    def _finish(self, state: EpisodeState, start: float, parsed_at: float,
                status: EpisodeStatus, parsed: Answer | Invalid | ToolCall, *,
                error: str | None = None) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """End the episode and score it, once: the answer's F1 and EM, and the reward."""
        state.end()
        golds = state.task.answers
        answer = parsed.text if isinstance(parsed, Answer) else None
        reward = float(self.reward_fn(Submission(answer, tuple(state.responses)), golds))
        timing = self._timing(state, start, parsed_at)
        episode = EpisodeOutcome(
            status=status, answer=answer, reward=reward,
            f1=f1_score(answer, golds) if answer is not None else 0.0,
            em=exact_match(answer, golds) if answer is not None else 0.0,
            error=error, tool_calls=state.tool_calls, queries=tuple(state.queries),
            urls_visited=tuple(state.urls_visited), errors=tuple(state.errors),
            cache_hits=state.cache_hits, cache_misses=state.cache_misses,
            timings=tuple(state.timings), leaks=tuple(state.leaks))
        step = self._step_outcome(state, parsed, timing, episode)
        self._outcome = episode
        observation = "" if error is None else self._fit(f"Episode ended: {error}.")
        truncated = status is EpisodeStatus.TRUNCATED
        return observation, reward, not truncated, truncated, step.info()

    @staticmethod
    def _timing(state: EpisodeState, start: float, parsed_at: float) -> StepTiming:
        now = time.perf_counter()
        timing = StepTiming(parsed_at - start, now - parsed_at, now - start)
        state.time_step(timing)
        return timing

    def _fit(self, text: str) -> str:
        limit = self.config.max_observation_chars
        return text if len(text) <= limit else text[: limit - len(_CUT)] + _CUT

    def _show(self, state: EpisodeState, text: str, body: Shown) -> str:
        """``text`` (which holds ``body``) fitted, the leaks of ``body``'s sightings recorded
        as far as the agent receives them."""
        shown = self._fit(text)
        if body[1]:
            kept = len(text) if shown is text else len(shown) - len(_CUT)
            leaks = LeakProbe.of(state.task).seen(
                body[1], kept - max(0, text.find(body[0])), step=len(state.responses) - 1)
            if leaks:
                state.saw(leaks, MAX_LEAKS)
        return shown

    # ------------------------------------------- tools called by a framework
    def call_tool(self, name: str, arguments: Mapping[str, Any]) -> str:
        """Run one tool by name, for frameworks that parse tool calls themselves; see
        :meth:`acall_tool`."""
        return self._private.run(self.acall_tool(name, arguments))

    async def acall_tool(self, name: str, arguments: Mapping[str, Any]) -> str:
        """Run the tool ``name`` (a schema name such as ``"web_search"``, or ``"search"`` /
        ``"browse"``) with its JSON ``arguments``; return the result text, unwrapped.

        It counts as a tool call, within ``max_turns``; a bad call or one past the budget
        comes back as text that says so (the agent wrote it: nothing raises).

        Example:
            >>> env = WebResearchEnv(tasks=[{"question": "q?", "answers": ["a"]}])
            >>> _ = env.reset(seed=0)
            >>> print(env.call_tool("web_serch", {"query": ["x"]})[:60])
            Invalid tool call: unknown tool 'web_serch'. Did you mean 'w
            >>> "Results for" in env.call_tool("web_search", {"query": ["Pogre Works"]})
            True
            >>> env.submit("a"), env.outcome.status, env.outcome.tool_calls
            (1.0, <EpisodeStatus.ANSWERED: 'answered'>, 1)
            >>> env.close()
        """
        state = self._active("a tool call or an answer")
        start = time.perf_counter()
        state.begin_step()
        call = self._direct_tools.resolve(name, arguments)
        if isinstance(call, Invalid):
            state.note_error(f"invalid tool call: {call.message}")
            return f"Invalid tool call: {call.message}"
        if state.tool_calls >= self.config.max_turns:
            return (f"The budget of {self.config.max_turns} tool calls is used up: "
                    "give your final answer now.")
        state.act(self.format.write_call(call.tool, call.arguments))
        state.spend_turn(tool_call=True)
        shown = await self._tools.run(call, state)
        body = self._show(state, shown[0], shown)
        state.observe(body)
        self._timing(state, start, start)
        return body

    def submit(self, answer_text: str | None) -> float:
        """End the episode with a final answer; see :meth:`asubmit`."""
        return self._private.run(self.asubmit(answer_text))

    async def asubmit(self, answer_text: str | None) -> float:
        """End the episode with ``answer_text`` as the final answer (``None``: the agent
        stopped without one) and return the env's reward; :attr:`outcome` has the rest."""
        state = self._active("a tool call or an answer")
        start = time.perf_counter()
        state.begin_step()
        if answer_text is None:
            limit = "no answer was given"
            _, reward, *_ = self._finish(state, start, start, EpisodeStatus.TRUNCATED,
                                         Invalid(limit), error=limit)
            return reward
        answer_text = scalar_text(answer_text)  # a framework's model text, at the door
        state.act(self.format.write_answer(answer_text))
        _, reward, *_ = self._finish(state, start, start, EpisodeStatus.ANSWERED,
                                     Answer(answer_text.strip()))
        return reward

    @property
    def outcome(self) -> EpisodeOutcome | None:
        """How the current episode ended (``None`` while it runs, and before a reset)."""
        return self._outcome

    def _active(self, what: str) -> EpisodeState:
        state = self._state
        if state is None or state.done:
            raise StateError(f"Expects reset() before {what}, actual: "
                             + ("no episode started" if state is None else "the episode ended"))
        return state

    # -------------------------------------------------------- render & close
    def render(self) -> str | None:
        """With ``render_mode="ansi"``, the episode so far as text."""
        if self.render_mode != "ansi" or self._state is None:
            return None
        return "\n\n".join(f"[{role}]\n{text}" for role, text in self._state.transcript)

    def close(self) -> None:
        """Release the web backend (if the env made it) and the event loop; safe to repeat."""
        if self._owns_web:
            self._private.run(self.web.aclose())
            self._owns_web = False
        else:  # a backend passed in stays its owner's; what it holds on our loop goes
            self._private.run(self.web.release_loop())
        self._private.close()
        super().close()

    async def aclose(self) -> None:
        """Async twin of :meth:`close`, for envs used through ``areset``/``astep``."""
        if self._owns_web:
            await self.web.aclose()
            self._owns_web = False

    def config_json(self) -> dict[str, Any]:
        """The env's options as JSON, its date resolved: what a run's record keeps so that
        :func:`~webresearch.envs.make_env_from_record` can build the same env again."""
        return {**self.config.to_json(), "date": self.date}

    @property
    def state(self) -> EpisodeState | None:
        """The current episode's state (``None`` before the first reset)."""
        return self._state

    def _load_tasks(self, tasks: TaskSource) -> list[Task]:
        if isinstance(tasks, str) and tasks == "default":
            default = self.web.default_tasks()
            if default is None:
                raise ConfigError(f"Expects tasks=<file or records> with web "
                                  f"{type(self.web).__name__}, which has no default task set")
            return default
        return load_tasks(tasks)


def _check_render_mode(mode: str | None, modes: list[str]) -> None:
    if mode is not None and mode not in modes:
        raise ConfigError(f"Expects render_mode in {modes} or None, actual: {mode!r}")
