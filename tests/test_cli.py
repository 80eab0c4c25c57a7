"""The ``webresearch`` command: the README's main job, JSON output, errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import dev_questions
from webresearch.cli import main


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "webresearch.cli", *args], capture_output=True,
                          text=True, timeout=300)


def test_rollout_prints_a_summary_and_json_last() -> None:
    out = run("rollout", "--policy", "oracle", "--episodes", "30", "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("episodes", "mean_reward", "mean_f1", "mean_em", "mean_tool_calls", "seconds"):
        assert key in summary
    assert summary["episodes"] == 30 and summary["mean_f1"] >= 0.95
    assert "dataset" in out.stdout and "30/30" in out.stderr  # table, then the progress bar


def test_no_tool_and_output_file(tmp_path: Path, capsys: object) -> None:
    path = tmp_path / "eps.jsonl"
    code = main(["rollout", "--policy", "no-tool", "--episodes", "5", "--no-progress",
                 "--output", str(path), "--json"])
    assert code == 0
    lines = path.read_text().splitlines()
    assert len(lines) == 5 and json.loads(lines[0])["status"] == "answered"


def test_errors_are_one_clear_line(tmp_path: Path) -> None:
    out = run("rollout", "--tasks", str(tmp_path / "none.jsonl"), "--no-progress")
    assert out.returncode == 2
    assert out.stderr.strip().startswith("webresearch: error: Expects a task file")
    out = run("rollout", "--policy", "gpt")
    assert out.returncode == 2 and "invalid choice: 'gpt'" in out.stderr


def test_dev_dataset_rollout(dev_dataset: Path) -> None:
    n = dev_questions(dev_dataset)
    out = run("rollout", "--policy", "no-tool", "--tasks", str(dev_dataset), "--episodes", str(n),
              "--no-progress", "--json", "--no-store")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["episodes"] == n and summary["errors"] == 0


def first_episode_recorded(store: Path, proc: subprocess.Popen[str], deadline_s: float) -> None:
    """Wait until the rollout writing ``store`` has recorded an episode, or fail at the deadline."""
    from webresearch.replay.store import ReplayStore

    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        if (store / "cache.db").exists():
            with ReplayStore(store) as s:
                if any(s.count(run.run_id) for run in s.runs()):
                    return
        time.sleep(0.05)
    raise AssertionError(f"no episode recorded within {deadline_s} s")


def test_ctrl_c_stops_cleanly_and_keeps_what_finished(tmp_path: Path) -> None:
    from webresearch.replay.store import ReplayStore

    store = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, "-m", "webresearch.cli", "rollout", "--episodes",
                             "100000", "--store", str(store), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first_episode_recorded(store, proc, deadline_s=120)  # ~1 s here, even on a busy machine
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "interrupted:" in err and "finished episodes kept as run" in err
    kept = int(err.split("interrupted: ")[1].split()[0])
    with ReplayStore(store) as s:
        (run,) = s.runs()
        assert s.count(run.run_id) == kept > 0
        assert all(e.status == "answered" for e in s.episodes(run.run_id))
