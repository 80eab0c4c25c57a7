"""Frozen verdicts: which recorded verdicts a table may use, and clear errors when none fit.

A verdict is reused only for the judge that gave it (an equal
:class:`~webresearch.replay.verdicts.JudgeIdentity`: model, server, sampling, prompt);
a verdict by another judge is never silently taken for this one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from webresearch.evaluation.judge import JudgeError, Judgement
from webresearch.replay.schema import EpisodeRecord
from webresearch.replay.verdicts import JudgeIdentity, VerdictRecord, VerdictSource

__all__ = ["VerdictNotRecorded", "by_judge", "choose_judge", "missing_error", "to_record"]

logger = logging.getLogger(__name__)


class VerdictNotRecorded(JudgeError):
    """A table asked to be scored from recorded verdicts that the store does not hold."""


def to_record(episode: EpisodeRecord, judge: JudgeIdentity,
              judgement: Judgement | None) -> VerdictRecord:
    """The record of ``judgement`` on ``episode`` (``None``: no final answer, incorrect)."""
    if judgement is None:
        return VerdictRecord(episode.run_id, episode.episode_id, judge, False,
                             "no final answer", VerdictSource.NO_ANSWER)
    known = {s.value for s in VerdictSource}  # another Judge's own word for it: asked
    source = VerdictSource(judgement.source if judgement.source in known else "judge")
    return VerdictRecord(episode.run_id, episode.episode_id, judge, judgement.correct,
                         judgement.rationale, source, prompt=judgement.prompt,
                         reply=judgement.reply)


def by_judge(verdicts: Sequence[VerdictRecord], judge: JudgeIdentity,
             *, run_id: str = "") -> dict[str, VerdictRecord]:
    """The first verdict per episode by ``judge``; verdicts by other judges are left out,
    and said so in the log."""
    key, others = judge.key, set()
    out: dict[str, VerdictRecord] = {}
    for verdict in verdicts:
        if verdict.judge.key == key:
            out.setdefault(verdict.episode_id, verdict)
        else:
            others.add(verdict.judge.describe())
    if others:
        logger.info("run %s: verdicts by %s are not reused for the judge %s", run_id,
                    "; ".join(sorted(others)), judge.describe())
    return out


def _judges(verdicts: Sequence[VerdictRecord]) -> list[JudgeIdentity]:
    seen: dict[str, JudgeIdentity] = {}
    for verdict in verdicts:
        seen.setdefault(verdict.judge.key, verdict.judge)
    return list(seen.values())


def choose_judge(verdicts: Sequence[VerdictRecord], wanted: JudgeIdentity | None,
                 run_id: str) -> JudgeIdentity | None:
    """The judge whose recorded verdicts score ``run_id``: ``wanted`` if the run holds its
    verdicts, else the run's only judge; ``None`` when no verdict was recorded (the
    evaluation had no judge). Otherwise a :class:`VerdictNotRecorded` that names them."""
    judges = _judges(verdicts)
    named = "; ".join(j.describe() for j in judges) or "none"
    if wanted is not None:
        if any(j.key == wanted.key for j in judges):
            return wanted
        raise VerdictNotRecorded(
            f"Expects verdicts by the judge {wanted.describe()} recorded for run {run_id!r}, "
            f"actual: verdicts by {named}. A verdict by another judge is never reused; "
            "score with the judge that gave them, or evaluate again (without --from-store) "
            "to ask this judge")
    if len(judges) > 1:
        raise VerdictNotRecorded(
            f"Expects one judge's verdicts for run {run_id!r}, actual: {len(judges)} judges "
            f"({named}); name one (--judge URL --judge-model MODEL)")
    return judges[0] if judges else None


def missing_error(missing: Sequence[EpisodeRecord], judge: JudgeIdentity,
                  run_id: str) -> VerdictNotRecorded:
    """The error for episodes of ``run_id`` that ``judge`` has no recorded verdict on."""
    return VerdictNotRecorded(
        f"Expects a recorded verdict by the judge {judge.describe()} on every episode of "
        f"run {run_id!r}, actual: {len(missing)} without one (first: episode "
        f"{missing[0].episode_id!r}, task {missing[0].task.id!r}); no judge is called when "
        "scoring from the store: evaluate again with the judge (--resume) to complete them")
