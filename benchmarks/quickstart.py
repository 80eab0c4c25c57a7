"""The README's first command on a fresh clone: how long it takes, how big the venv, what it pulls.

Clones this repository's committed HEAD into a temporary folder (no ``../shared`` beside
it), runs the README's first fenced bash block there verbatim, and reports its wall time,
the size of the ``.venv`` it made, how many packages it holds and any ``nvidia-*`` or
``triton`` among them (the CUDA build of torch). Run it twice to see a warm pip cache.
Usage: ``python benchmarks/quickstart.py [--repeats 1]``; the last line is one JSON object.
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


def first_command() -> str:
    """The README's first fenced bash block: the install-and-run command."""
    match = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    if match is None:
        raise SystemExit("Expects a ```bash block in README.md, actual: none")
    return match.group(1).strip()


def folder_mb(path: Path) -> float:
    total = sum(f.lstat().st_size for f in path.rglob("*") if f.is_file() or f.is_symlink())
    return total / 2**20


def one_run(command: str, timeout_s: float) -> dict[str, Any]:
    """Clone, run the command, measure; the clone is removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "webresearch"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        start = time.perf_counter()
        done = subprocess.run(["bash", "-c", command], cwd=clone, env=env, capture_output=True,
                              text=True, timeout=timeout_s, check=False)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"Expects the command to succeed, actual: exit {done.returncode}\n"
                             f"{done.stderr[-3000:]}")
        listed = subprocess.run([str(clone / ".venv/bin/pip"), "list", "--format", "json"],
                                capture_output=True, text=True, check=True, timeout=120)
        names = sorted(p["name"].lower() for p in json.loads(listed.stdout))
        return {"seconds": round(seconds, 1), "venv_mb": round(folder_mb(clone / ".venv")),
                "packages": len(names),
                "cuda_packages": [n for n in names if n.startswith("nvidia") or n == "triton"],
                "heavy": [n for n in names if n in ("torch", "ray", "faiss-cpu", "vllm")],
                "summary": done.stdout.strip().splitlines()[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--timeout-s", type=float, default=900.0, help="per run")
    args = parser.parse_args()
    command = first_command()
    runs = []
    for _ in range(args.repeats):
        runs.append(one_run(command, args.timeout_s))
        print(json.dumps(runs[-1]), flush=True)
    print(json.dumps({"command": command, "cpus": os.cpu_count(), "python": sys.version.split()[0],
                      "load_1min": round(os.getloadavg()[0], 2), "runs": runs,
                      "seconds": [min(r["seconds"] for r in runs),
                                  max(r["seconds"] for r in runs)],
                      "venv_mb": max(r["venv_mb"] for r in runs),
                      "cuda_packages": sorted({n for r in runs for n in r["cuda_packages"]})}))


if __name__ == "__main__":
    main()
