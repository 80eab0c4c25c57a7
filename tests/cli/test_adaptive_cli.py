"""``webresearch rollout --adaptive``: the controller from the command line, and its limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from webresearch.cli import main
from webresearch.replay.store import ReplayStore


def test_an_adaptive_rollout_records_its_bounds_and_finishes_every_episode(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    code = main(["rollout", "--policy", "oracle", "--episodes", "12", "--concurrency", "6",
                 "--adaptive", "--min-concurrency", "2", "--no-progress", "--json",
                 "--store", str(store)])
    assert code == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["episodes"] == 12
    with ReplayStore(store) as replay:
        run = replay.runs()[-1]
        assert replay.count(run.run_id) == 12
    rollout = run.config["rollout"]
    assert (rollout["adaptive"], rollout["min_concurrency"], rollout["concurrency"]) == (
        True, 2, 6)


def test_adaptive_on_ray_workers_is_refused_before_anything_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["rollout", "--adaptive", "--workers", "2", "--no-progress",
                 "--store", str(tmp_path / "store")])
    assert code == 2  # a configuration error, as the CLI reports them
    assert "Expects --adaptive on the local runner (--workers 0)" in capsys.readouterr().err
    assert not (tmp_path / "store").exists()


def test_bounds_out_of_order_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["rollout", "--adaptive", "--concurrency", "4", "--min-concurrency", "5",
                 "--no-store", "--no-progress"])
    assert code == 2  # a configuration error, as the CLI reports them
    assert "Expects 1 <= min_concurrency <= concurrency, actual: 5, 4" in (
        capsys.readouterr().err)
