"""Held-out evaluation: scores per hop count, broken episodes refused, the paired bootstrap."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError, WebResearchError
from webresearch.policies.policy import SamplingParams
from webresearch.policies.scripted import NoToolPolicy, OraclePolicy
from webresearch.replay.schema import EpisodeRecord
from webresearch.tasks import Task
from webresearch.train.compact import CompactFormat
from webresearch.train.heldout import HeldoutResult, evaluate, paired_bootstrap

scores = st.lists(st.sampled_from([0.0, 0.5, 1.0]), min_size=1, max_size=40)


def record(task: Task, status: str = "answered", f1: float = 1.0) -> EpisodeRecord:
    return EpisodeRecord("r", task, 0, status, f1, f1, f1)


def test_scores_are_kept_per_task_and_per_hop_count() -> None:
    tasks = [Task(id=str(i), question="q", answers=("a",), hops=1 + i % 2) for i in range(4)]
    result = HeldoutResult.of([record(t, f1=float(i < 2)) for i, t in enumerate(tasks)])
    assert result.task_ids == ("0", "1", "2", "3") and result.mean_f1 == 0.5
    assert result.by_hops() == {1: (2, 0.5, 0.5), 2: (2, 0.5, 0.5)}


def test_a_broken_episode_is_refused_not_scored_zero() -> None:
    task = Task(id="t", question="q", answers=("a",), hops=1)
    broken = EpisodeRecord("r", task, 0, "timeout", 0.0, 0.0, 0.0, error="deadline")
    with pytest.raises(WebResearchError, match=re.escape("1 broken, first: deadline")):
        HeldoutResult.of([record(task), broken])


def test_evaluate_plays_every_task_on_an_unseen_world() -> None:
    env = WebResearchEnv(web="sim:seed=7")
    tasks = env.tasks[:12]
    env.close()

    def make_env() -> WebResearchEnv:
        return WebResearchEnv(web="sim:seed=7", tasks=tasks, action_format=CompactFormat(),
                              top_k=1, max_turns=4)

    sampling = SamplingParams(temperature=0.0)
    oracle = asyncio_run(evaluate(OraclePolicy(tasks, CompactFormat()), make_env, tasks,
                                  sampling=sampling))
    floor = asyncio_run(evaluate(NoToolPolicy(CompactFormat()), make_env, tasks,
                                 sampling=sampling))
    assert oracle.task_ids == tuple(t.id for t in tasks) and floor.mean_f1 == 0.0
    assert oracle.mean_f1 > 0.5 and min(oracle.tool_calls) >= 1
    ci = paired_bootstrap(floor.f1, oracle.f1)
    assert ci.low > 0 and ci.n == 12


def asyncio_run(coro: object) -> HeldoutResult:
    import asyncio

    return asyncio.run(coro)  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None)
@given(scores, st.integers(0, 3))
def test_the_interval_holds_the_mean_and_shifts_with_it(before: list[float], seed: int) -> None:
    after = [min(1.0, b + 0.5) for b in before]
    ci = paired_bootstrap(before, after, resamples=500, seed=seed)
    assert ci.low - 1e-9 <= ci.mean <= ci.high + 1e-9
    shifted = paired_bootstrap([b - 1 for b in before], after, resamples=500, seed=seed)
    assert shifted.mean == pytest.approx(ci.mean + 1)
    assert shifted.low == pytest.approx(ci.low + 1) and shifted.high == pytest.approx(ci.high + 1)


@given(scores)
def test_no_change_gives_a_zero_interval(before: list[float]) -> None:
    ci = paired_bootstrap(before, before, resamples=200)
    assert (ci.mean, ci.low, ci.high) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize(("before", "after", "level", "message"), [
    ([], [], 0.95, "Expects two equally long, non-empty score lists, actual: 0 and 0"),
    ([1.0], [1.0, 0.0], 0.95, "Expects two equally long, non-empty score lists, actual: 1 and 2"),
    ([1.0], [0.0], 1.0, "Expects 0 < level < 1, actual: 1.0"),
], ids=["empty", "unequal", "level"])
def test_bad_inputs_are_refused(before: list[float], after: list[float], level: float,
                                message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        paired_bootstrap(before, after, level=level)
