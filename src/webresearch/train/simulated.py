"""A simulated accelerator: a policy and a learner that cost time per token, for timing loops.

No model and no GPU: :class:`SimulatedPolicy` sleeps for a generation's cost (a
per-request overhead plus its tokens at ``tokens_per_s``) holding one of ``slots``
sequence slots, as a batched inference server holds its batch; the lengths are drawn
from a Pareto tail (a few generations are 10x the median, as long research
trajectories are). :class:`SimulatedLearner` sleeps for a step's cost per token. Both
count the time they were busy, so a loop's idle fractions can be measured.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webresearch.errors import ConfigError
from webresearch.policies.policy import Completion, Policy, PromptLike, SamplingParams
from webresearch.replay.schema import EpisodeRecord
from webresearch.train.learner import StepMetrics

__all__ = ["GenerationCost", "SimulatedLearner", "SimulatedPolicy", "draw_tokens"]


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerationCost:
    """What a simulated generation costs, and how long generations are."""

    tokens_per_s: float = 2000.0
    """Decoding speed of one sequence."""
    request_overhead_s: float = 0.02
    """Fixed cost of a request (prefill, scheduling)."""
    median_tokens: int = 100
    """Median generation length."""
    tail: float = 1.5
    """Pareto shape of the lengths: the smaller, the heavier the tail (1.5: about 1.6% of
    generations are over 10x the median, the mean is 1.9x the median)."""
    max_tokens: int = 2000
    """Longest generation (the tail is cut here)."""
    slots: int = 16
    """Sequences generated at once (the server's batch); more requests wait for a slot."""

    def __post_init__(self) -> None:
        if min(self.tokens_per_s, self.tail) <= 0 or self.request_overhead_s < 0:
            raise ConfigError(f"Expects tokens_per_s > 0, tail > 0, request_overhead_s >= 0, "
                              f"actual: {self.tokens_per_s}, {self.tail}, "
                              f"{self.request_overhead_s}")
        if min(self.median_tokens, self.max_tokens, self.slots) < 1:
            raise ConfigError(f"Expects median_tokens, max_tokens and slots >= 1, actual: "
                              f"{self.median_tokens}, {self.max_tokens}, {self.slots}")

    def seconds(self, tokens: int) -> float:
        """How long generating ``tokens`` takes."""
        return self.request_overhead_s + tokens / self.tokens_per_s


def draw_tokens(rng: random.Random, cost: GenerationCost) -> int:
    """A generation length: Pareto-distributed with the given median, cut at the maximum.

    Example:
        >>> rng, cost = random.Random(0), GenerationCost(median_tokens=100)
        >>> lengths = sorted(draw_tokens(rng, cost) for _ in range(2001))
        >>> 90 <= lengths[1000] <= 110, lengths[-1] > 1000
        (True, True)
    """
    scale = cost.median_tokens / 2 ** (1 / cost.tail)  # the Pareto minimum
    return min(cost.max_tokens, max(1, round(scale * rng.paretovariate(cost.tail))))


class SimulatedPolicy(Policy):
    """Answers every prompt with one of its task's answers (or a wrong one), after sleeping
    for the generation's simulated cost; a simulated token is one character of the text
    (its thinking is as long as the tokens drawn), so episodes stay small in the store.

    Args:
        cost: Speed, overhead, lengths and slots.
        answers: Answers to give (one drawn at random, or ``"unknown"``: rewards vary).
        seed: Seeds the lengths and answers.
    """

    name = "simulated"

    def __init__(self, cost: GenerationCost | None = None, *, answers: Sequence[str] = ("x",),
                 seed: int = 0) -> None:
        self.cost = cost or GenerationCost()
        self.answers = list(answers)
        self.rng = random.Random(seed)
        self.busy_s = 0.0
        """Slot-seconds spent generating so far."""
        self.tokens = 0
        """Tokens generated so far."""
        self.loads = 0
        """Weights loaded so far."""
        self._slots: asyncio.Semaphore | None = None

    async def generate(self, prompts: Sequence[PromptLike],
                       sampling: SamplingParams | None = None) -> list[Completion]:
        return list(await asyncio.gather(*(self._one() for _ in prompts)))

    async def _one(self) -> Completion:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.cost.slots)
        tokens = draw_tokens(self.rng, self.cost)
        answer = self.rng.choice([*self.answers, "unknown"])
        async with self._slots:
            start = time.perf_counter()
            await asyncio.sleep(self.cost.seconds(tokens))
            self.busy_s += time.perf_counter() - start
        self.tokens += tokens
        return Completion(f"<think>{'.' * tokens}</think><answer>{answer}</answer>")

    def load_weights(self, state_dict: dict[str, Any]) -> None:
        """Nothing to load: counts the calls."""
        self.loads += 1


class SimulatedLearner:
    """A learner whose step sleeps ``overhead_s`` plus ``s_per_token`` for each token (a
    character, as :class:`SimulatedPolicy` counts them) of its episodes' actions; it keeps
    a policy version and saves and loads it (as JSON).

    Example:
        >>> learner = SimulatedLearner(s_per_token=0.0)
        >>> learner.step([]).step, learner.policy_version
        (1, 1)
    """

    def __init__(self, *, s_per_token: float = 1e-5, overhead_s: float = 0.0) -> None:
        self.s_per_token, self.overhead_s = s_per_token, overhead_s
        self.policy_version = 0
        self.step_count = 0
        self.busy_s = 0.0
        """Seconds spent in steps so far."""
        self.model = _NoModel()
        self._lock = threading.Lock()

    def step(self, groups: list[list[EpisodeRecord]]) -> StepMetrics:
        """Sleep for the groups' cost; one version later."""
        with self._lock:
            episodes = [e for g in groups for e in g]
            tokens = sum(len(s.action) for e in episodes for s in e.steps)
            start = time.perf_counter()
            time.sleep(self.overhead_s + tokens * self.s_per_token)
            self.busy_s += time.perf_counter() - start
            rewards = [e.reward for e in episodes if e.reward is not None]
            self.step_count += 1
            self.policy_version += 1
            return StepMetrics(step=self.step_count, loss=0.0,
                               reward=sum(rewards) / len(rewards) if rewards else 0.0, kl=0.0,
                               entropy=0.0, clip_fraction=0.0,
                               grad_norm=0.0, lr=0.0, sequences=len(episodes), tokens=tokens,
                               flat_groups=0, dropped_stale=0)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"step": self.step_count,
                                          "policy_version": self.policy_version}))

    def load(self, path: str | Path) -> None:
        state = json.loads(Path(path).read_text())
        self.step_count, self.policy_version = state["step"], state["policy_version"]


class _NoModel:
    """The simulated learner's model: no weights."""

    def state_dict(self) -> dict[str, Any]:
        return {}
