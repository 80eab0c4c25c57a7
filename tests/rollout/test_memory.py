"""A long rollout holds its memory flat: nothing accumulates per finished episode."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest

from webresearch.rollout.memory import MemoryTrimmer, full_collections

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


def test_the_trimmer_empties_free_lists_with_a_full_collection_when_none_ran() -> None:
    now = [0.0]
    trimmer = MemoryTrimmer(period_s=10, clock=lambda: now[0], max_gc_share=1.0)
    before = full_collections()
    now[0] = 10.0
    trimmer.tick()
    assert trimmer.collections == 1 and full_collections() > before
    gc.collect()  # the program collected by itself since: no second collection needed
    now[0] = 20.0
    trimmer.tick()
    assert trimmer.collections == 1
    now[0] = 30.0
    trimmer.tick()
    assert trimmer.collections == 2


def test_the_trimmer_collects_at_most_its_share_of_the_time() -> None:
    now = [0.0]
    trimmer = MemoryTrimmer(period_s=1, clock=lambda: now[0], max_gc_share=1e-9)
    for second in range(1, 6):  # a collection of any length then waits ~forever
        now[0] = float(second)
        trimmer.tick()
    assert trimmer.collections == 1
