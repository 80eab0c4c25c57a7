"""Asynchronous GRPO on a simulated accelerator: staleness bound, back-pressure, failures, restart.

``python -m tests.train.test_async_loop STORE CHECKPOINTS STEPS STALENESS`` runs the loop
that the restart test kills and resumes.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PYTHONPATH
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError, WebResearchError
from webresearch.replay.cursor import GroupKey
from webresearch.replay.store import ReplayStore
from webresearch.rollout import LocalRunner, RolloutConfig, RolloutReport
from webresearch.sim.sim_web import SimWeb
from webresearch.tasks import Task
from webresearch.train import AsyncConfig, AsyncStepLog, TrainConfig, train, train_async
from webresearch.train.checkpoints import Checkpoint
from webresearch.train.simulated import GenerationCost, SimulatedLearner, SimulatedPolicy

ROOT = Path(__file__).resolve().parents[2]
WEB = SimWeb()
TASKS = WEB.default_tasks()[:6]
FAST = GenerationCost(tokens_per_s=50_000.0, request_overhead_s=0.002, median_tokens=40,
                      max_tokens=800, slots=8)


def make_env() -> WebResearchEnv:
    return WebResearchEnv(tasks=TASKS, web=WEB, max_turns=1)


def simulated(seed: int = 0) -> tuple[SimulatedPolicy, SimulatedLearner]:
    return (SimulatedPolicy(FAST, answers=[t.answers[0] for t in TASKS], seed=seed),
            SimulatedLearner(s_per_token=2e-5, overhead_s=0.005))


def run(store: ReplayStore, config: TrainConfig, **options: Any) -> list[AsyncStepLog]:
    policy, learner = simulated()
    options = {"policy": policy, **options}
    return asyncio.run(train_async(learner=options.pop("learner", learner), make_env=make_env,
                                   tasks=TASKS, store=store, config=config, **options))


def groups_in(store: ReplayStore) -> dict[str, list[dict[str, Any]]]:
    """Every recorded group's episode summaries, by group id."""
    (record,) = store.runs()
    out: dict[str, list[dict[str, Any]]] = {}
    for summary in store.summaries(record.run_id):
        parsed = GroupKey.parse(summary["episode_id"])
        assert parsed is not None
        out.setdefault(parsed[0].id, []).append(summary)
    return out


@pytest.mark.parametrize("staleness", [0, 1, 3], ids=lambda s: f"staleness-{s}")
def test_no_group_is_staler_than_the_bound_or_trained_twice(tmp_path: Path, staleness: int
                                                            ) -> None:
    config = AsyncConfig(steps=8, groups_per_step=2, group_size=3, max_staleness=staleness,
                         poll_s=0.05)
    with ReplayStore(tmp_path) as store:
        logs = run(store, config)
        recorded = groups_in(store)
    trained = [g for log in logs for g in log.groups]
    ages = [a for log in logs for a in log.staleness]
    assert len(trained) == len(set(trained)) == 16 and set(trained) <= set(recorded)
    assert max(ages) <= staleness and min(ages) >= 0
    if staleness == 0:  # the synchronous schedule: every group trained at its own version
        assert ages == [0] * 16
    for log in logs:
        assert all(s.learner_version - s.version > staleness for s in log.skipped)
    versions = {s["policy_version"] for g in recorded.values() for s in g}
    assert versions <= set(range(9)) and all(len(g) == 3 for g in recorded.values())


class FirstIsSlow(SimulatedPolicy):
    """The very first generation takes ``delay_s``: a straggler the others overtake."""

    def __init__(self, delay_s: float) -> None:
        super().__init__(FAST, answers=[t.answers[0] for t in TASKS])
        self.delay_s, self.calls = delay_s, 0

    async def generate(self, prompts: Sequence[Any], sampling: Any = None) -> list[Any]:
        self.calls += 1
        if self.calls == 1:
            await asyncio.sleep(self.delay_s)
        return await super().generate(prompts, sampling)


def test_a_straggler_overtaken_past_the_bound_is_skipped_not_trained(tmp_path: Path) -> None:
    config = AsyncConfig(steps=8, groups_per_step=1, group_size=1, max_staleness=1, poll_s=0.05)
    learner = SimulatedLearner(s_per_token=0.0, overhead_s=0.1)
    with ReplayStore(tmp_path) as store:
        logs = run(store, config, policy=FirstIsSlow(0.35), learner=learner)
    straggler = logs[0].groups[0].split("-")[0] + "-g00000000"
    skipped = [s for log in logs for s in log.skipped]
    assert [s.group_id for s in skipped] == [straggler] and skipped[0].version == 0
    assert straggler not in {g for log in logs for g in log.groups}
    assert max(a for log in logs for a in log.staleness) <= 1


def test_producers_pause_when_enough_groups_are_pending(tmp_path: Path) -> None:
    config = AsyncConfig(steps=5, groups_per_step=2, group_size=2, max_staleness=10,
                         max_pending_groups=3, poll_s=0.05)
    with ReplayStore(tmp_path) as store:
        logs = run(store, config)
        recorded = len(groups_in(store))
    skipped = sum(len(log.skipped) for log in logs)
    assert config.pending_limit == 3
    assert recorded <= 5 * 2 + skipped + 3  # trained, skipped, and at most 3 outstanding


class Failing(LocalRunner):
    async def run(self, tasks: Sequence[Task], config: RolloutConfig | None = None, *,
                  run: Any = None, policy_version: int = 0) -> RolloutReport:
        raise RuntimeError("the rollout workers are gone")


def test_a_producer_that_dies_stops_the_run_loudly(tmp_path: Path) -> None:
    policy, _ = simulated()
    config = AsyncConfig(steps=2, groups_per_step=1, group_size=2, poll_s=0.05)
    with ReplayStore(tmp_path) as store, pytest.raises(RuntimeError,
                                                       match="the rollout workers are gone"):
        run(store, config, policy=None, runner=Failing(make_env, policy))


def test_the_learner_gives_up_waiting_past_its_timeout(tmp_path: Path) -> None:
    class Stuck(LocalRunner):
        async def run(self, *args: Any, **kwargs: Any) -> RolloutReport:
            await asyncio.Event().wait()
            raise AssertionError

    policy, _ = simulated()
    config = AsyncConfig(steps=1, groups_per_step=1, group_size=1, wait_timeout_s=0.3,
                         poll_s=0.05)
    with ReplayStore(tmp_path) as store, pytest.raises(
            WebResearchError, match=re.escape("Expects 1 ready groups within 0.3 s, actual: 0")):
        run(store, config, policy=None, runner=Stuck(make_env, policy))


def test_misuse_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("max_pending_groups >= groups_per_step (4)")):
        AsyncConfig(steps=1, groups_per_step=4, group_size=2, max_pending_groups=2)
    with pytest.raises(ConfigError, match=re.escape("max_staleness >= 0, actual: -1")):
        AsyncConfig(steps=1, groups_per_step=1, group_size=2, max_staleness=-1)
    config = AsyncConfig(steps=1, groups_per_step=1, group_size=2)
    policy, learner = simulated()
    with ReplayStore(tmp_path) as store:
        with pytest.raises(ConfigError, match=re.escape("a runner with a store")):
            run(store, config, policy=None, runner=LocalRunner(make_env, policy, store=store))
        learner.model = policy.model = object()  # type: ignore[attr-defined]
        with pytest.raises(ConfigError, match=re.escape("actual: the learner's model")):
            run(store, config, policy=policy, learner=learner)
        with pytest.raises(ConfigError, match=re.escape("a policy or a runner, actual: neither")):
            run(store, config, policy=None)
        with pytest.raises(ConfigError, match=re.escape("actual: the learner's model")):
            asyncio.run(train(policy=policy, learner=learner, make_env=make_env, tasks=TASKS,
                              store=store, config=config))  # an AsyncConfig's bound holds
        with pytest.raises(ConfigError, match=re.escape("tasks to roll out, actual: none")):
            asyncio.run(train(policy=policy, learner=learner, make_env=make_env, tasks=[],
                              store=store, config=TrainConfig(steps=1, groups_per_step=1,
                                                              group_size=2)))
        assert store.runs() == []  # refused before anything was recorded


# ---------------------------------------------------------------- kill and restart
def child(store_dir: str, checkpoints: str, steps: str, staleness: str) -> None:
    """The run the restart test kills: a step's line is printed once it is checkpointed;
    ``train`` when synchronous (staleness 0), ``train_async`` otherwise."""
    config = TrainConfig(steps=int(steps), groups_per_step=2, group_size=2,
                         max_staleness=int(staleness), group_deadline_s=1.0, poll_s=0.05,
                         checkpoint_dir=Path(checkpoints), keep_checkpoints=None)
    with ReplayStore(store_dir) as store:
        if config.max_staleness == 0:
            policy, learner = simulated()
            asyncio.run(train(policy=policy, learner=learner, make_env=make_env, tasks=TASKS,
                              store=store, config=config,
                              on_step=lambda log: print(f"step {log.metrics.step}", flush=True)))
        else:
            run(store, config,
                on_step=lambda log: print(f"step {log.log.metrics.step}", flush=True))


def start(tmp_path: Path, steps: int, staleness: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.train.test_async_loop",
                             str(tmp_path / "store"), str(tmp_path / "ckpt"), str(steps),
                             str(staleness)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": PYTHONPATH})


@pytest.mark.parametrize("staleness", [0, 1], ids=["train", "train_async"])
def test_a_killed_learner_resumes_where_it_read(tmp_path: Path, staleness: int) -> None:
    """Killed (SIGKILL) mid-run and restarted from its checkpoint, the learner, synchronous
    or not, carries on to the same step count, trains on no group twice and skips none
    that is not stale; the first run's groups that were waiting in the store are trained
    on (or skipped, stale) by the second."""
    steps = 24
    first = start(tmp_path, steps, staleness)
    try:
        deadline = time.monotonic() + 240
        while len(list((tmp_path / "ckpt").glob("step-*"))) < 5:
            assert first.poll() is None, first.communicate()[1]
            assert time.monotonic() < deadline, "the first run made no progress"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    finally:
        first.kill()
        first.communicate()
    kept = len(list((tmp_path / "ckpt").glob("step-*")))
    second = start(tmp_path, steps, staleness)
    try:
        out, err = second.communicate(timeout=300)
    finally:
        second.kill()
    assert second.returncode == 0, err
    assert out.split()[:2] == ["step", str(kept + 1)]  # it carried on from its checkpoint
    checkpoints = [Checkpoint.read(tmp_path / "ckpt" / f"step-{s:06d}")
                   for s in range(1, steps + 1)]
    trained = [g for c in checkpoints for g in c.trained]
    skipped = [s for c in checkpoints for s in c.skipped]
    assert len(trained) == len(set(trained)) == 2 * steps
    assert not set(trained) & {s.group_id for s in skipped}
    assert all(s.learner_version - s.version > staleness for s in skipped)
    with ReplayStore(tmp_path / "store") as store:
        recorded = groups_in(store)
    first_token = checkpoints[0].trained[0].split("-")[0]
    left = {g for g, members in recorded.items()
            if g.startswith(first_token) and len(members) == 2} - set(trained)
    assert left <= {s.group_id for s in skipped}, "a first-run group was neither trained nor stale"
    assert {g.split("-")[0] for g in trained} == {first_token,
                                                  checkpoints[-1].trained[0].split("-")[0]}


if __name__ == "__main__":
    child(*sys.argv[1:])
