"""Run an evaluation: episodes through the rollout layer (recorded, resumable), then the tables."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from webresearch.envs.web_research import WebResearchEnv
from webresearch.evaluation.judge import Judge
from webresearch.evaluation.tables import Scored, domain_tables, score
from webresearch.policies.base import Policy, SamplingParams
from webresearch.replay.schema import EpisodeRecord, RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.rollout import RolloutConfig, rollout
from webresearch.status import EpisodeStatus
from webresearch.tasks import Task

__all__ = ["EvalReport", "evaluate"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EvalReport:
    """An evaluation's run, its scored episodes, and the tables by domain."""

    run_id: str
    scored: list[Scored]
    tables: dict[str, dict[str, Any]]
    skipped: int
    """Tasks already in the run (``resume``), not run again."""


async def evaluate(
    *,
    policy: Policy,
    tasks: Sequence[Task],
    make_env: Callable[[], WebResearchEnv],
    store: ReplayStore,
    judge: Judge | None = None,
    run: RunRecord | None = None,
    resume: bool = False,
    concurrency: int = 64,
    sampling: SamplingParams | None = None,
    judge_concurrency: int = 16,
) -> EvalReport:
    """Answer every task once, record it, and score the final answers (F1, EM, and MBE).

    With ``resume``, tasks that ``run`` already holds are not run again: their recorded
    episodes are scored with the new ones.
    """
    run = run or RunRecord(policy=policy.name, notes="evaluation")
    known = {r.run_id for r in store.runs()}
    done: dict[str, EpisodeRecord] = {}
    if resume and run.run_id in known:
        done = {e.task.id: e for e in store.episodes(run.run_id)}
    todo = [t for t in tasks if t.id not in done]
    if todo:
        config = RolloutConfig(concurrency=concurrency, sampling=sampling, progress=True)
        await rollout(make_env, policy, todo, config, store=store, run=run)
    recorded = {e.task.id: e for e in store.episodes(run.run_id)}  # read back, not kept
    episodes = [recorded[t.id] for t in tasks if t.id in recorded]
    scored = await _score(episodes, judge, judge_concurrency)
    return EvalReport(run.run_id, scored, domain_tables(scored), skipped=len(done))


async def _score(episodes: Sequence[EpisodeRecord], judge: Judge | None,
                 concurrency: int) -> list[Scored]:
    slots = asyncio.Semaphore(concurrency)

    async def one(episode: EpisodeRecord) -> Scored:
        f1, em = score(episode)
        mbe = None
        if judge is not None:
            if episode.status is not EpisodeStatus.ANSWERED or episode.answer is None:
                mbe = 0.0  # no final answer: incorrect without asking
            else:
                async with slots:
                    verdict = await judge.judge(episode.task.question, episode.answer,
                                                episode.task.answers)
                mbe = float(verdict.correct)
        return Scored(episode.episode_id, episode.task.dataset, f1, em, mbe)

    return list(await asyncio.gather(*(one(e) for e in episodes)))
