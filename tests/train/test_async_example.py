"""``examples/train_grpo.py --async``: the tiny model learns on CPU with producers and learner
overlapped, locally and with Ray workers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from webresearch.replay import GroupKey, ReplayStore

ROOT = Path(__file__).resolve().parents[2]


def example(*args: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "train_grpo.py"), "--async",
                          *args], capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    figures: dict[str, object] = json.loads(out.stdout.splitlines()[-1])
    return figures


def test_the_asynchronous_example_learns_on_cpu(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    figures = example("--steps", "16", "--staleness", "1", "--seed", "0", "--out", str(tmp_path))
    first, last = float(figures["first_reward"]), float(figures["last_reward"])  # type: ignore[arg-type]
    assert last > first + 0.04 and last > 2 * first, figures
    assert (tmp_path / "checkpoints" / "step-000016" / "learner.pt").exists()
    with ReplayStore(tmp_path / "store") as store:
        (run,) = store.runs()
        summaries = store.summaries(run.run_id)
    assert all(GroupKey.parse(s["episode_id"]) is not None for s in summaries)
    assert {s["policy_version"] for s in summaries} >= set(range(15))


@pytest.mark.ray
def test_the_asynchronous_example_runs_on_ray_workers(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("ray")
    figures = example("--steps", "3", "--groups", "2", "--group-size", "2", "--workers", "1",
                      "--staleness", "1", "--out", str(tmp_path))
    assert figures["steps"] == 3
    with ReplayStore(tmp_path / "store") as store:
        (run,) = store.runs()
        versions = {s["policy_version"] for s in store.summaries(run.run_id)}
    assert versions >= {0, 1}  # the policy actor took the learner's weights in flight


def test_the_asynchronous_benchmark_runs() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "async_train.py"), "--steps",
                          "2", "--repeats", "1", "--curve", "0", "--staleness", "1"],
                         capture_output=True, text=True, timeout=1200, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    figures = json.loads(out.stdout.splitlines()[-1])
    assert figures["sync_s"] > 0 and figures["async_s"] > 0 and figures["speedup"] > 0
    assert figures["max_staleness"] <= figures["max_staleness_setting"] == 1
    assert set(figures["curve"]) == {"0", "1"}
    assert 0 <= figures["generator_idle_fraction"] <= 1
    assert 0 <= figures["learner_idle_fraction"] <= 1
