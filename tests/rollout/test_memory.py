"""A long rollout holds its memory flat: nothing accumulates per finished episode."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"


@pytest.mark.slow
def test_twenty_thousand_episodes_in_flat_memory() -> None:
    process = subprocess.Popen([sys.executable, str(SOAK), "--web", "sim", "--episodes",
                                "20000"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
    try:
        out, _ = process.communicate(timeout=1800)  # a safety net: ~2 minutes when idle
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0, out
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["recorded"] == figures["episodes"] == 20000 and figures["duplicates"] == 0
    assert figures["rss_slope_kb_per_1000_episodes"] < 50, figures
    assert figures["rss_last_third_mb"] <= 1.1 * figures["rss_first_third_mb"], figures
