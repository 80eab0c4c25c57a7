"""Demonstrations for behaviour cloning: scripted policies mixed per task, recorded in the store.

A model cloned from the oracle alone would start RL with little to gain on the tasks
it can do; a deliberate mixture (the oracle on some tasks, the naive heuristic, the
impatient oracle or the no-tool floor on others) gives the cloned policy real choices
(search or answer at once, search on or answer after one search), and the task reward
something to prefer.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from webresearch.envs.formats import ActionFormat, ToolCall, get_format
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError
from webresearch.policies.heuristic import HeuristicPolicy, best_span, question_of
from webresearch.policies.policy import ChatMessage
from webresearch.policies.scripted import NoToolPolicy, OraclePolicy, ScriptedPolicy
from webresearch.replay.schema import RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.rollout import RolloutConfig, rollout
from webresearch.tasks import Task

__all__ = ["ImpatientPolicy", "MixturePolicy", "demo_policy", "record_demos"]


class MixturePolicy(ScriptedPolicy):
    """Plays each task as one of several scripted policies, drawn by weight per question.

    The draw is a function of ``seed`` and the question alone, so an episode keeps
    one policy from its first action to its last.

    Args:
        policies: ``(policy, weight)`` pairs; weights are relative and positive.
        seed: Seeds the draw.

    Example:
        >>> from webresearch.policies import NoToolPolicy
        >>> mix = MixturePolicy([(NoToolPolicy(), 1.0)])
        >>> mix.act([{"role": "user", "content": "Who?"}]).endswith("</answer>")
        True
    """

    name = "mixture"

    def __init__(self, policies: Sequence[tuple[ScriptedPolicy, float]], *, seed: int = 0) -> None:
        if not policies or any(w <= 0 for _, w in policies):
            raise ConfigError("Expects (policy, weight > 0) pairs, actual: "
                              f"{[(p.name, w) for p, w in policies]}")
        self.policies = [p for p, _ in policies]
        self.weights = [w for _, w in policies]
        self.seed = seed

    def pick(self, question: str) -> ScriptedPolicy:
        """The policy that plays ``question`` (the first user message)."""
        return random.Random(f"{self.seed}/{question}").choices(self.policies, self.weights)[0]

    def act(self, conversation: Sequence[ChatMessage]) -> str:
        first = next((m["content"] for m in conversation if m["role"] == "user"), "")
        return self.pick(first).act(conversation)


class ImpatientPolicy(ScriptedPolicy):
    """The oracle for one search, then an answer from that search's results.

    Where the oracle answers after one search (a one-hop task in a search-only format)
    it gives the oracle's answer; where the oracle would search on or browse, it answers
    with the results' best span (:func:`~webresearch.policies.heuristic.best_span`): on
    a multi-hop task, mostly the wrong entity. In the compact format on the held-out
    world: F1 1.00 on one-hop tasks, 0.00-0.05 on multi-hop ones.

    Args:
        oracle: The oracle whose first search it plays.

    Example:
        >>> from webresearch.train.compact import CompactFormat
        >>> task = Task(id="t", question="Q?", answers=("A",))  # no pages: answers at once
        >>> impatient = ImpatientPolicy(OraclePolicy([task], CompactFormat()))
        >>> impatient.act([{"role": "user", "content": "Q?"}])
        '<answer> A</answer>'
    """

    name = "impatient"

    def __init__(self, oracle: OraclePolicy) -> None:
        self.oracle = oracle
        self.format = oracle.format

    def act(self, conversation: Sequence[ChatMessage]) -> str:
        action = self.oracle.act(conversation)
        users = [m["content"] for m in conversation if m["role"] == "user"]
        if len(users) < 2 or not isinstance(self.format.parse(action), ToolCall):
            return action
        answer = best_span(question_of(users[0]), users[1]) or "unknown"
        return self.format.write_answer(answer, thought="The first result says so.")


def demo_policy(tasks: Sequence[Task], fmt: str | ActionFormat, *, oracle: float = 0.4,
                heuristic: float = 0.4, no_tool: float = 0.2, impatient: float = 0.0,
                seed: int = 0) -> MixturePolicy:
    """The oracle, the heuristic, the no-tool floor and the impatient oracle, mixed by weight.

    Example:
        >>> task = Task(id="t", question="Q?", answers=("A",))
        >>> mix = demo_policy([task], "deepresearcher", heuristic=0.0, no_tool=0.0)
        >>> print(mix.act([{"role": "user", "content": "Q?"}]))
        <think>The pages I read support the answer.</think>
        <answer>A</answer>
    """
    fmt = get_format(fmt)
    full = OraclePolicy(tasks, fmt)
    parts: list[tuple[ScriptedPolicy, float]] = [
        (full, oracle), (HeuristicPolicy(fmt), heuristic), (NoToolPolicy(fmt), no_tool),
        (ImpatientPolicy(full), impatient)]
    return MixturePolicy([(p, w) for p, w in parts if w > 0], seed=seed)


async def record_demos(store: ReplayStore, make_env: Callable[[], WebResearchEnv],
                       policy: ScriptedPolicy, tasks: Sequence[Task], *,
                       concurrency: int = 32, notes: str = "demonstrations") -> RunRecord:
    """Play every task once with ``policy`` and record the episodes as a new run of ``store``."""
    run = RunRecord(policy=policy.name, notes=notes)
    await rollout(make_env, policy, tasks, RolloutConfig(concurrency=concurrency, progress=False),
                  store=store, run=run)
    return run
