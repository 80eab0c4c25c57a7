"""``train``: the synchronous schedule of the one loop, every episode through the store."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.train.test_async_loop import TASKS, groups_in, make_env, simulated
from webresearch.replay.cursor import GroupKey
from webresearch.replay.schema import EpisodeRecord
from webresearch.replay.store import ReplayStore
from webresearch.rollout import LocalRunner, RolloutConfig, RolloutReport
from webresearch.tasks import Task
from webresearch.train import StepMetrics, TrainConfig, TrainLog, train
from webresearch.train.checkpoints import Checkpoint
from webresearch.train.simulated import SimulatedLearner


class RecordingLearner(SimulatedLearner):
    """Keeps the episodes of every step it took."""

    def __init__(self) -> None:
        super().__init__(s_per_token=0.0)
        self.seen: list[list[list[EpisodeRecord]]] = []

    def step(self, groups: list[list[EpisodeRecord]]) -> StepMetrics:
        self.seen.append(groups)
        return super().step(groups)


class CountingRunner(LocalRunner):
    """Counts the tasks of each call."""

    calls: list[int]

    async def run(self, tasks: Sequence[Task], config: RolloutConfig | None = None,
                  **options: Any) -> RolloutReport:
        self.calls.append(len(tasks))
        return await super().run(tasks, config, **options)


def sync_train(store: ReplayStore, config: TrainConfig, *, timeout_s: float | None = None,
               **options: Any) -> list[TrainLog]:
    policy, learner = simulated()
    options = {"policy": policy, "learner": learner, **options}
    return asyncio.run(asyncio.wait_for(train(make_env=make_env, tasks=TASKS, store=store,
                                              config=config, **options), timeout_s))


def test_every_episode_reaches_the_learner_through_the_store(tmp_path: Path) -> None:
    """Runner, store, cursor, learner: the learner gets the records the store holds, under
    the ids of their groups, each step's groups rolled out together in one runner call
    with the weights of the step before (the policy may hold the learner's model)."""
    policy, _ = simulated()
    learner = RecordingLearner()
    policy.model = learner.model  # type: ignore[attr-defined]
    runner = CountingRunner(make_env, policy)
    runner.calls = []
    config = TrainConfig(steps=3, groups_per_step=2, group_size=3)
    with ReplayStore(tmp_path) as store:
        logs = sync_train(store, config, policy=policy, learner=learner, runner=runner)
        recorded = groups_in(store)
        stored = {g: [store.episode(s["episode_id"]) for s in members]
                  for g, members in recorded.items()}
    assert [log.metrics.step for log in logs] == [1, 2, 3]
    assert runner.calls == [2, 2, 2]  # and nothing rolled out after the last step
    assert len(stored) == 6 and all(len(members) == 3 for members in stored.values())
    for step, groups in enumerate(learner.seen):
        for group in groups:
            key = GroupKey.parse(group[0].episode_id)
            assert key is not None and group == stored[key[0].id]
            assert {e.policy_version for e in group} == {step}
        assert [e.task.id for g in groups for e in g] == [
            t.id for t in TASKS[2 * step:2 * step + 2] for _ in range(3)]


class DyingRunner(LocalRunner):
    """Its fourth call returns all but its last episode: a producer killed while it recorded."""

    calls = 0

    async def run(self, tasks: Sequence[Task], config: RolloutConfig | None = None,
                  **options: Any) -> RolloutReport:
        report = await super().run(tasks, config, **options)
        self.calls += 1
        return report if self.calls != 4 else replace(report, kept=report.results[:-1])


async def killed_in_step_4(store: ReplayStore, config: TrainConfig, learner: RecordingLearner
                           ) -> None:
    """Runs until step 4's groups are recorded but one episode, then kills the run."""
    policy, _ = simulated()
    running = asyncio.create_task(train(policy=policy, learner=learner, make_env=make_env,
                                        tasks=TASKS, store=store, config=config,
                                        runner=DyingRunner(make_env, policy)))
    deadline = time.monotonic() + 120
    while not store.runs() or store.count(store.runs()[0].run_id) < 3 * 4 + 3:
        assert not running.done() and time.monotonic() < deadline, "step 4 was not recorded"
        await asyncio.sleep(0.02)
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running


@pytest.mark.parametrize("stop", ["after-step-3", "killed-in-step-4"])
def test_a_stopped_synchronous_run_resumes_to_the_same_step_count(tmp_path: Path, stop: str
                                                                  ) -> None:
    """Stopped after 3 of 6 steps, or killed in step 4 when its producer had recorded all
    but one of its episodes, and started again (a new learner, as in a new process), it
    carries on from its checkpoint: the same run, steps 4 to 6, no group trained twice,
    every recorded episode trained on once. The dead producer's partial group is trained
    on at once: the resumed run finishes well within its 120 s, the group deadline is 600 s."""
    config = TrainConfig(steps=6, groups_per_step=2, group_size=2, group_deadline_s=600.0,
                         poll_s=0.05, checkpoint_dir=tmp_path / "ckpt", keep_checkpoints=None)

    def stop_at_3(log: TrainLog) -> None:
        if log.metrics.step == 3:
            raise KeyboardInterrupt

    first, learner = RecordingLearner(), RecordingLearner()
    with ReplayStore(tmp_path / "store") as store:
        if stop == "after-step-3":
            with pytest.raises(KeyboardInterrupt):
                sync_train(store, config, learner=first, on_step=stop_at_3)
        else:
            asyncio.run(killed_in_step_4(store, config, first))
        logs = sync_train(store, config, learner=learner, timeout_s=120.0)
        (run,) = store.runs()
        recorded = [s["episode_id"] for s in store.summaries(run.run_id)]
    assert [log.metrics.step for log in logs] == [4, 5, 6] and learner.policy_version == 6
    checkpoints = [Checkpoint.read(tmp_path / "ckpt" / f"step-{s:06d}") for s in range(1, 7)]
    trained = [g for c in checkpoints for g in c.trained]
    assert len(trained) == len(set(trained)) == 12 and not any(c.skipped for c in checkpoints)
    assert {c.cursor.run_id for c in checkpoints} == {run.run_id}
    assert {e.policy_version for groups in learner.seen for g in groups for e in g} == {3, 4, 5}
    seen = [e.episode_id for x in (first, learner) for groups in x.seen for g in groups for e in g]
    assert sorted(seen) == sorted(recorded)  # nothing lost, nothing trained twice
    assert stop == "after-step-3" or len(recorded) == 6 * 4 - 1
