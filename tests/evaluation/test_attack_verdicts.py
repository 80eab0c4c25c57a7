"""Recorded verdicts against a damaged or hostile store (found by a hostile review): a
verdict count far past the records is not walked key by key, and a record whose prompt
or reply is not text is damaged, never used."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.evaluation.test_frozen_verdicts import TASKS, Counting
from webresearch.envs.web_research import WebResearchEnv
from webresearch.evaluation import VerdictNotRecorded, evaluate, rescore
from webresearch.policies import NoToolPolicy
from webresearch.replay.records import compress, serialize
from webresearch.replay.store import ReplayStore
from webresearch.replay.verdicts import MAX_MISSING


def _evaluated(store: ReplayStore, tasks: int = 2) -> str:
    report = asyncio.run(evaluate(policy=NoToolPolicy(), tasks=TASKS[:tasks],
                                  make_env=WebResearchEnv, store=store, judge=Counting()))
    return report.run_id


def test_a_count_far_past_the_records_stops_after_a_bounded_gap(tmp_path: Path) -> None:
    with ReplayStore(tmp_path) as store:
        run_id = _evaluated(store)
        store._cache.set(f"vd#{run_id}", 10**12)
        verdicts = store.verdicts(run_id)  # was: 10**12 lookups, each noted
        assert len(verdicts) == 2
        assert f"vd#{run_id}" in store.damaged
        assert len(store.damaged) <= MAX_MISSING + 1


def test_a_gap_inside_the_records_loses_none_after_it(tmp_path: Path) -> None:
    with ReplayStore(tmp_path) as store:
        run_id = _evaluated(store, tasks=3)
        store._cache.delete(f"vd/{run_id}/{1:010d}")
        assert len(store.verdicts(run_id)) == 2
        assert list(store.damaged) == [f"vd/{run_id}/{1:010d}"]


@pytest.mark.parametrize("field", ["prompt", "reply", "prompt_sha256"])
def test_a_verdict_whose_texts_are_not_text_is_damaged(tmp_path: Path, field: str) -> None:
    with ReplayStore(tmp_path) as store:
        run_id = _evaluated(store)
        key = f"vd/{run_id}/{0:010d}"
        data = store._record(key)
        data[field] = {"not": "text"}
        store._cache.set(key, compress(serialize(data)))
        assert len(store.verdicts(run_id)) == 1 and list(store.damaged) == [key]
        with pytest.raises(VerdictNotRecorded, match="1 without one"):
            rescore(store, run_id)
