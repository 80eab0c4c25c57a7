"""Run an evaluation: episodes through the rollout layer (recorded, resumable), then the tables."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from webresearch.envs.web_research import WebResearchEnv
from webresearch.evaluation.blocking import blocking
from webresearch.evaluation.frozen import (
    VerdictNotRecorded,
    by_judge,
    choose_judge,
    missing_error,
    to_record,
)
from webresearch.evaluation.judge import Judge
from webresearch.evaluation.tables import Scored, domain_tables, leaks_seen, score
from webresearch.policies.policy import Policy, SamplingParams
from webresearch.replay.schema import EpisodeRecord, RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.replay.verdicts import JudgeIdentity, VerdictRecord, VerdictSource
from webresearch.rollout import RolloutConfig, rollout
from webresearch.status import EpisodeStatus
from webresearch.tasks import Task

__all__ = ["EvalReport", "evaluate", "rescore"]

logger = logging.getLogger(__name__)

_VERDICT_BATCH = 64
"""Verdicts recorded per store transaction while judging."""


@dataclass(frozen=True, slots=True)
class EvalReport:
    """An evaluation's run, its scored episodes, and the tables by domain."""

    run_id: str
    scored: list[Scored]
    tables: dict[str, dict[str, Any]]
    skipped: int
    """Tasks already in the run (``resume``), not run again."""
    asked: int = 0
    """Verdicts the judge was asked for (its disk cache and exact matches not counted)."""
    reused: int = 0
    """Verdicts read back from the store (recorded earlier by the same judge)."""
    broken: dict[str, int] = field(default_factory=dict)
    """Episodes broken from outside (a dead policy server, a timeout), by status."""

    @property
    def all_broken(self) -> bool:
        """Whether there were episodes and every one was broken from outside."""
        return bool(self.scored) and sum(self.broken.values()) == len(self.scored)


def _broken(episodes: Iterable[EpisodeRecord]) -> dict[str, int]:
    return dict(Counter(str(e.status) for e in episodes if not EpisodeStatus(e.status).scored))


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
    blocked_domains: Sequence[str] | None = ("benchmarks",),
) -> EvalReport:
    """Answer every task once, record it, and score the final answers (F1, EM, and MBE).

    With ``resume``, tasks that ``run`` already holds are not run again: their recorded
    episodes are scored with the new ones. Every verdict is recorded in the store with
    the judge's identity and prompt; a verdict the same judge recorded before is read
    back, not asked again, and one by another judge is never reused (:func:`rescore`
    scores a run from its records alone).

    Envs that chose no blocklist (``blocked_domains`` unset) block ``blocked_domains``: by
    default the hosts of the benchmarks' copies (``None``: envs are used as made).
    """
    run = run or RunRecord(policy=policy.name, notes="evaluation")
    known = {r.run_id for r in store.runs()}
    done: dict[str, EpisodeRecord] = {}
    if resume and run.run_id in known:
        done = {e.task.id: e for e in store.episodes(run.run_id)}
    todo = [t for t in tasks if t.id not in done]
    if todo:
        config = RolloutConfig(concurrency=concurrency, sampling=sampling, progress=True)
        if blocked_domains is not None:
            make_env = blocking(make_env, blocked_domains)
        await rollout(make_env, policy, todo, config, store=store, run=run)
    episodes = _in_task_order(store.episodes(run.run_id), tasks)  # read back, not kept
    if judge is None:
        frozen = _recorded_only(store, run.run_id, episodes)
        scored = [_scored(e, frozen.get(e.episode_id)) for e in episodes]
        return EvalReport(run.run_id, scored, domain_tables(scored), skipped=len(done),
                          reused=len(frozen), broken=_broken(episodes))
    recorded = by_judge(store.verdicts(run.run_id), judge.identity, run_id=run.run_id)
    verdicts = await _judge_all([e for e in episodes if e.episode_id not in recorded], judge,
                                judge_concurrency, store)
    asked = sum(v.source is VerdictSource.JUDGE for v in verdicts.values())
    scored = [_scored(e, recorded.get(e.episode_id) or verdicts[e.episode_id])
              for e in episodes]
    return EvalReport(run.run_id, scored, domain_tables(scored), skipped=len(done),
                      asked=asked, reused=len(episodes) - len(verdicts),
                      broken=_broken(episodes))


def rescore(store: ReplayStore, run_id: str, *, judge: JudgeIdentity | None = None,
            tasks: Sequence[Task] | None = None) -> EvalReport:
    """An evaluation's tables again, from the store alone: its episodes and the verdicts
    recorded with them; no policy or judge is called.

    ``judge`` picks whose verdicts (by default the run's only judge; none recorded: no
    MBE); ``tasks`` restricts and orders the episodes as :func:`evaluate` did. A verdict
    by another judge is never used: a :class:`~webresearch.evaluation.frozen.VerdictNotRecorded`
    says whose verdicts the run holds, as it does for episodes without one.
    """
    store.run(run_id)  # an unknown run is a clear error
    episodes = list(store.episodes(run_id))
    if tasks is not None:
        episodes = _in_task_order(episodes, tasks)
    verdicts = _frozen(store, run_id, episodes, judge)
    scored = [_scored(e, None if verdicts is None else verdicts[e.episode_id])
              for e in episodes]
    return EvalReport(run_id, scored, domain_tables(scored), skipped=len(episodes),
                      reused=len(scored) if verdicts is not None else 0,
                      broken=_broken(episodes))


def _frozen(store: ReplayStore, run_id: str, episodes: Sequence[EpisodeRecord],
            judge: JudgeIdentity | None) -> dict[str, VerdictRecord] | None:
    """The verdicts ``judge`` (by default the run's only one) recorded on every episode;
    ``None`` when the run holds none, :class:`VerdictNotRecorded` when some are missing."""
    recorded = store.verdicts(run_id)
    chosen = choose_judge(recorded, judge, run_id)
    if chosen is None:
        return None
    verdicts = by_judge(recorded, chosen, run_id=run_id)
    if missing := [e for e in episodes if e.episode_id not in verdicts]:
        raise missing_error(missing, chosen, run_id)
    return verdicts


def _recorded_only(store: ReplayStore, run_id: str,
                   episodes: Sequence[EpisodeRecord]) -> dict[str, VerdictRecord]:
    """Without a judge, a resumed run's recorded verdicts, when one judge gave them on
    every episode (its table again, MBE and all); otherwise none (F1 and EM only)."""
    try:
        return _frozen(store, run_id, episodes, None) or {}
    except VerdictNotRecorded as exc:
        logger.warning("no MBE: %s", exc)
        return {}


def _in_task_order(episodes: Iterable[EpisodeRecord],
                   tasks: Sequence[Task]) -> list[EpisodeRecord]:
    by_task = {e.task.id: e for e in episodes}
    return [by_task[t.id] for t in tasks if t.id in by_task]


def _scored(episode: EpisodeRecord, verdict: VerdictRecord | None) -> Scored:
    f1, em = score(episode)
    mbe = float(verdict.correct) if verdict is not None else None
    return Scored(episode.episode_id, episode.task.dataset, f1, em, mbe, *leaks_seen(episode))


async def _judge_all(episodes: Sequence[EpisodeRecord], judge: Judge, concurrency: int,
                     store: ReplayStore) -> dict[str, VerdictRecord]:
    """Ask ``judge`` about each answered episode (one without an answer is incorrect
    without asking), recording each verdict in the store as a batch completes."""
    slots, identity = asyncio.Semaphore(concurrency), judge.identity
    pending: list[VerdictRecord] = []
    out: dict[str, VerdictRecord] = {}

    async def one(episode: EpisodeRecord) -> None:
        judgement = None
        if episode.status is EpisodeStatus.ANSWERED and episode.answer is not None:
            async with slots:
                judgement = await judge.judge(episode.task.question, episode.answer,
                                              episode.task.answers)
        out[episode.episode_id] = record = to_record(episode, identity, judgement)
        pending.append(record)
        if len(pending) >= _VERDICT_BATCH:
            _flush(store, pending)

    try:
        await asyncio.gather(*(one(e) for e in episodes))
    finally:
        _flush(store, pending)  # what was judged is kept, even when another verdict failed
    return out


def _flush(store: ReplayStore, pending: list[VerdictRecord]) -> None:
    if pending:
        batch = pending[:]
        pending.clear()
        store.add_verdicts(batch)
