"""A damaged count of a numbered listing (the runs) is not walked key by key."""

from __future__ import annotations

from pathlib import Path

from webresearch.replay.reading import MAX_MISSING
from webresearch.replay.schema import RunRecord
from webresearch.replay.store import ReplayStore


def test_a_run_count_far_past_the_runs_stops_after_a_bounded_gap(tmp_path: Path) -> None:
    with ReplayStore(tmp_path) as store:
        runs = [store.create_run(RunRecord(policy=f"p{i}")) for i in range(3)]
        store._cache.set("runs#", 10**12)  # damaged: would be 10**12 lookups, each noted
        assert store.runs() == runs
        assert "runs#" in store.damaged and len(store.damaged) <= MAX_MISSING + 1


def test_a_gap_in_the_runs_loses_none_after_it(tmp_path: Path) -> None:
    with ReplayStore(tmp_path) as store:
        runs = [store.create_run(RunRecord(policy=f"p{i}")) for i in range(3)]
        store._cache.delete("runs/00000001")
        assert store.runs() == [runs[0], runs[2]]
        assert list(store.damaged) == ["runs/00000001"]
