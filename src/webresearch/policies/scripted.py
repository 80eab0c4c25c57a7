"""Scripted baselines that need no model: the oracle, the no-tool policy and a long-horizon load."""

from __future__ import annotations

import abc
import asyncio
import re
from collections.abc import Generator, Sequence

from webresearch.envs.formats import ActionFormat, get_format
from webresearch.errors import PolicyError
from webresearch.policies.policy import (
    ChatMessage,
    Completion,
    Policy,
    PromptLike,
    SamplingParams,
    as_prompt,
)
from webresearch.tasks import Task

__all__ = ["LongPolicy", "NoToolPolicy", "OraclePolicy", "ScriptedPolicy"]

Script = Generator[str, str, None]
"""Yields actions; is sent the observation that each action brought."""
_NEXT_SEGMENT = "browse the same URL again"
_RESULT_URL = re.compile(r"^ *URL: (\S+)$", re.MULTILINE)
_NAME = re.compile(r"\b[A-Z][a-z]{2,}(?: [A-Z][a-z]{2,}){1,3}\b")


class ScriptedPolicy(Policy):
    """A policy whose next action is a function of the conversation so far."""

    @abc.abstractmethod
    def act(self, conversation: Sequence[ChatMessage]) -> str:
        """The next action for ``conversation``."""

    async def generate(self, prompts: Sequence[PromptLike],
                       sampling: SamplingParams | None = None) -> list[Completion]:
        return [Completion(self.act(as_prompt(p).messages)) for p in prompts]


class NoToolPolicy(ScriptedPolicy):
    """Answers at once, without any tool: the floor that proves the tools are needed.

    Example:
        >>> NoToolPolicy().act([{"role": "user", "content": "Who?"}])
        "<think>I will answer from memory.</think>\\n<answer>I don't know</answer>"
    """

    name = "no-tool"

    def __init__(self, fmt: str | ActionFormat = "deepresearcher") -> None:
        self.format = get_format(fmt)

    def act(self, conversation: Sequence[ChatMessage]) -> str:
        return self.format.write_answer("I don't know", thought="I will answer from memory.")


class OraclePolicy(ScriptedPolicy):
    """Follows a task's supporting pages through the tools, then answers.

    For each supporting page it searches the page's title, checks that the page's
    URL is among the results, browses it (segment after segment) until the facts
    the answer needs have been seen, and only then gives the gold answer. In a format
    without browsing (Search-R1's) it searches the page's query (words it has read by
    then), and then each fact not yet shown beside the page's title. If any step
    fails, it answers ``unknown``: its F1 measures how answerable the tasks are
    *through the tools*.

    Example:
        >>> task = Task(id="t", question="Q?", answers=("A",))
        >>> OraclePolicy([task]).act([{"role": "user", "content": "Q?"}])
        '<think>The pages I read support the answer.</think>\\n<answer>A</answer>'
    """

    name = "oracle"

    def __init__(self, tasks: Sequence[Task], fmt: str | ActionFormat = "deepresearcher") -> None:
        self.format = get_format(fmt)
        self._tasks = {self.format.user_prompt(t.question): t for t in tasks}

    @property
    def tasks(self) -> list[Task]:
        """The tasks this oracle can answer."""
        return list(self._tasks.values())

    def act(self, conversation: Sequence[ChatMessage]) -> str:
        users = [m["content"] for m in conversation if m["role"] == "user"]
        if not users or users[0] not in self._tasks:
            raise PolicyError("Expects a conversation about a task the oracle was given, "
                              f"actual first user message: {users[0][:80] if users else None!r}")
        script = self._script(self._tasks[users[0]])
        action = next(script)
        for observation in users[1:]:
            action = script.send(observation)
        return action

    def _script(self, task: Task) -> Script:
        fmt, seen = self.format, ""
        for page in task.supporting:
            if "browse" not in fmt.tools:  # search only: snippets must show each fact
                if page.query:
                    seen += yield fmt.write_call("search", [page.query],
                                                 thought=f"I need the page about {page.title}.")
                for fact in [f for f in page.facts if f not in seen]:
                    seen += yield fmt.write_call("search", [f"{page.title} {fact}"],
                                                 thought=f"I need {page.title}'s {fact}.")
                continue
            observation = yield fmt.write_call("search", [page.title],
                                               thought=f"I need the page about {page.title}.")
            if page.url not in observation:
                break
            while not all(fact in seen for fact in page.facts):
                observation = yield fmt.write_call("browse", [page.url],
                                                   thought=f"Reading {page.url}.")
                seen += observation
                if _NEXT_SEGMENT not in observation:
                    break
        found = all(fact in seen for page in task.supporting for fact in page.facts)
        answer = task.answers[0] if found else "unknown"
        yield fmt.write_answer(answer, thought="The pages I read support the answer."
                               if found else "I could not verify the answer.")


class LongPolicy(ScriptedPolicy):
    """Searches and browses for ``turns`` tool calls, then answers: a long-horizon load
    without a model (ASearcher runs up to 128 turns, over 150k tokens).

    After a search it browses the results it has not browsed yet (``max_urls`` at a time);
    otherwise it searches a name that the latest page mentions and that it has not
    searched, so each turn brings new pages. Each action reads the latest observation and
    its own earlier actions (short), never the earlier observations, so a turn at 127
    costs about what a turn at 1 does. ``think_s`` stands in for a model server's latency
    on every action.

    Args:
        turns: Tool calls before the answer (the env's ``max_turns`` must allow them).
        fmt: The action format.
        max_urls: URLs per browse call.
        think_s: Seconds each action waits before it is given (an awaited sleep).

    Example:
        >>> policy = LongPolicy(turns=2)
        >>> first = [{"role": "user", "content": "Who founded Pogre Works?"}]
        >>> "web_search" in policy.act(first)
        True
        >>> turn = [{"role": "assistant", "content": "."}, {"role": "user", "content": ""}]
        >>> done = first + turn * 2
        >>> policy.act(done).endswith("<answer>unknown</answer>")
        True
    """

    name = "long"

    def __init__(self, turns: int = 127, fmt: str | ActionFormat = "deepresearcher", *,
                 max_urls: int = 3, think_s: float = 0.0) -> None:
        if turns < 0 or max_urls < 1 or think_s < 0:
            raise PolicyError(f"Expects turns >= 0, max_urls >= 1 and think_s >= 0, actual: "
                              f"{turns}, {max_urls}, {think_s}")
        self.format = get_format(fmt)
        self.turns, self.max_urls, self.think_s = turns, max_urls, think_s

    async def generate(self, prompts: Sequence[PromptLike],
                       sampling: SamplingParams | None = None) -> list[Completion]:
        if self.think_s:
            await asyncio.sleep(self.think_s)
        return await super().generate(prompts, sampling)

    def act(self, conversation: Sequence[ChatMessage]) -> str:
        actions = [m["content"] for m in conversation if m["role"] == "assistant"]
        question = next((m["content"] for m in conversation if m["role"] == "user"), "")
        done = len(actions)
        if done >= self.turns:
            return self.format.write_answer("unknown", thought=f"{done} tool calls are enough.")
        latest = conversation[-1]["content"] if done and conversation[-1]["role"] == "user" \
            else ""
        past = "\n".join(actions)  # the actions are short: the observations are not re-read
        if "browse" in self.format.tools and "Results for" in latest[:200]:
            urls = [u for u in _RESULT_URL.findall(latest) if u not in past]
            if urls:
                return self.format.write_call("browse", urls[:self.max_urls],
                                              thought=f"Turn {done + 1}: reading the results.")
        names = [n for n in _NAME.findall(latest[:4000]) if f"{n}\"" not in past]
        query = names[done % len(names)] if names else f"{question[:200]} {done}"
        return self.format.write_call("search", [query],
                                      thought=f"Turn {done + 1}: searching {query}.")
