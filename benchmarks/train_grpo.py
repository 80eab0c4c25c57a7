"""The GRPO example's figures as a user sees them: wall time and reward, over several runs.

Runs ``examples/train_grpo.py --steps N`` (a new tiny model, CPU) ``--repeats`` times in
a fresh subprocess each, seeds 0, 1, ..., and times each run end to end (start-up, model
build, rollouts, learner steps, plot, checkpoint), the way the README's command does.
The reward is the example's own: first step's mean, and the mean of the last three
steps; ``rewards`` is every step's mean (the learning curve). Usage:
``python benchmarks/train_grpo.py [--steps 20 --repeats 3 --workers 0]``; the last
line is one JSON object with each run and the ranges.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STEP = re.compile(r"step +\d+ +reward (?P<reward>[-0-9.]+)")


def one_run(steps: int, seed: int, workers: int, timeout_s: float) -> dict[str, Any]:
    """One run of the example in its own process: seconds and its summary line."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, str(ROOT / "examples" / "train_grpo.py"), "--steps",
                   str(steps), "--seed", str(seed), "--workers", str(workers), "--out", out]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s,
                              cwd=ROOT, check=False)
        seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"Expects the example to succeed, actual: exit {done.returncode}\n"
                         f"{done.stderr[-2000:]}")
    lines = done.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    return {"seed": seed, "seconds": round(seconds, 1),
            "first_reward": round(summary["first_reward"], 3),
            "last_reward": round(summary["last_reward"], 3),
            "rewards": [float(m["reward"]) for m in map(STEP.match, lines) if m]}


def span(runs: list[dict[str, Any]], key: str) -> list[float]:
    """[min, max] of one figure over the runs."""
    values = [run[key] for run in runs]
    return [min(values), max(values)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0, help="Ray workers (0: none)")
    parser.add_argument("--timeout-s", type=float, default=1800.0, help="per run")
    args = parser.parse_args()
    runs = []
    for seed in range(args.repeats):
        runs.append(one_run(args.steps, seed, args.workers, args.timeout_s))
        print(json.dumps(runs[-1]), flush=True)
    print(json.dumps({"steps": args.steps, "workers": args.workers, "cpus": os.cpu_count(),
                      "load_1min": round(os.getloadavg()[0], 2), "runs": runs,
                      "seconds": span(runs, "seconds"),
                      "first_reward": span(runs, "first_reward"),
                      "last_reward": span(runs, "last_reward")}))


if __name__ == "__main__":
    main()
