"""The viewer's first paint, rendered on the server: the run list with labelled histograms.

Everything taken from the store is HTML-escaped; the page's script and style come
from the viewer's own files (its Content-Security-Policy allows nothing inline), so a
screenshot taken before any script runs already shows every run.
"""

from __future__ import annotations

import html
import time
from importlib import resources
from string import Template
from typing import Any

from webresearch.replay.store import ReplayStore

__all__ = ["BINS", "histogram", "histogram_svg", "render_index", "run_rows"]

BINS = 20

_W, _H = 300, 92
"""The histogram's size in pixels; the plot sits inside the axes' margins below."""
_LEFT, _RIGHT, _TOP, _BOTTOM = 34, 292, 8, 62


def histogram(rewards: list[float]) -> list[int]:
    """Counts of rewards in ``BINS`` equal bins over [-1, 1].

    Example:
        >>> sum(histogram([-1.0, 0.0, 1.0])), histogram([1.0])[-1]
        (3, 1)
    """
    counts = [0] * BINS
    for reward in rewards:
        counts[min(BINS - 1, max(0, int((reward + 1.0) / 2.0 * BINS)))] += 1
    return counts


def histogram_svg(counts: list[int]) -> str:
    """An SVG bar chart of ``counts`` with both axes, ticks and their labels.

    Example:
        >>> svg = histogram_svg(histogram([1.0, 1.0, 0.0]))
        >>> "reward" in svg and "episodes" in svg and ">2</text>" in svg
        True
    """
    top, width = max(1, *counts), (_RIGHT - _LEFT) / len(counts)
    bars = []
    for i, n in enumerate(counts):
        height = (_BOTTOM - _TOP) * n / top
        low = -1 + 2 * i / len(counts)
        bars.append(f'<rect class="bar" x="{_LEFT + i * width + 0.5:.1f}" '
                    f'y="{_BOTTOM - height:.1f}" width="{width - 1:.1f}" height="{height:.1f}">'
                    f"<title>reward {low:.1f} to {low + 2 / len(counts):.1f}: {n} episodes"
                    "</title></rect>")
    ticks = [(-1.0, "-1"), (-0.5, "-0.5"), (0.0, "0"), (0.5, "0.5"), (1.0, "1")]
    x_ticks = "".join(
        f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{_BOTTOM}" y2="{_BOTTOM + 3}"/>'
        f'<text x="{x:.1f}" y="{_BOTTOM + 13}" text-anchor="middle">{label}</text>'
        for x, label in ((_LEFT + (v + 1) / 2 * (_RIGHT - _LEFT), label) for v, label in ticks))
    return (
        f'<svg class="hist" viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" role="img" '
        f'aria-label="reward histogram">{"".join(bars)}'
        f'<line class="axis" x1="{_LEFT}" x2="{_RIGHT}" y1="{_BOTTOM}" y2="{_BOTTOM}"/>'
        f'<line class="axis" x1="{_LEFT}" x2="{_LEFT}" y1="{_TOP}" y2="{_BOTTOM}"/>{x_ticks}'
        f'<text x="{_LEFT - 4}" y="{_TOP + 8}" text-anchor="end">{top}</text>'
        f'<text x="{_LEFT - 4}" y="{_BOTTOM}" text-anchor="end">0</text>'
        f'<text x="{(_LEFT + _RIGHT) / 2:.0f}" y="{_H - 2}" text-anchor="middle" '
        f'class="label">reward</text>'
        f'<text x="10" y="{(_TOP + _BOTTOM) / 2:.0f}" text-anchor="middle" class="label" '
        f'transform="rotate(-90 10 {(_TOP + _BOTTOM) / 2:.0f})">episodes</text></svg>')


def run_rows(store: ReplayStore) -> list[dict[str, Any]]:
    """Each readable run, newest first, with its episode count, mean reward and histogram."""
    out = []
    for run in reversed(store.runs()):
        rows = store.summaries(run.run_id)
        rewards = [r["reward"] for r in rows if r["reward"] is not None]  # None: broken
        out.append({"run_id": run.run_id, "policy": run.policy, "created_at": run.created_at,
                    "episodes": len(rows), "histogram": histogram(rewards),
                    "mean_reward": sum(rewards) / len(rewards) if rewards else 0.0})
    return out


def render_index(store: ReplayStore, selected: str | None) -> str:
    """The viewer's page with the run list (``selected`` highlighted) already in it."""
    runs = run_rows(store)
    if selected is None and runs:
        selected = runs[0]["run_id"]
    items = "".join(_run_item(run, run["run_id"] == selected) for run in runs)
    known = {r["run_id"] for r in runs}
    rows = store.summaries(selected) if selected is not None and selected in known else []
    page = resources.files("webresearch.replay").joinpath("viewer.html").read_text("utf-8")
    return Template(page).substitute(
        runs=items or '<p class="meta">No runs recorded yet.</p>',
        selected=html.escape(selected or "", quote=True), count=f"({len(rows)})",
        episodes="".join(_episode_row(row) for row in rows[:FIRST_ROWS]))


FIRST_ROWS = 200
"""Episodes of the selected run rendered into the first paint (the script lists them all)."""


def _episode_row(row: dict[str, Any]) -> str:
    e = html.escape
    status = "ok" if row["status"] == "answered" else "bad"
    return (f'<div class="row"><span title="{e(row["task_id"])}">{e(row["task_id"])}</span>'
            f'<span class="meta">{e(row["dataset"] or "-")}</span>'
            f'<span class="{status}">{e(row["status"])}</span>'
            f'<span>{"-" if row["reward"] is None else format(row["reward"], ".2f")}</span>'
            "</div>")


def _run_item(run: dict[str, Any], active: bool) -> str:
    e = html.escape
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(run["created_at"]))
    return (f'<a class="run{" active" if active else ""}" href="?run={e(run["run_id"])}">'
            f'<div class="ellipsis" title="{e(run["run_id"])}">{e(run["run_id"])} · '
            f'{e(run["policy"] or "-")} · {run["episodes"]} episodes</div>'
            f'<div class="meta">mean reward {run["mean_reward"]:.3f} · {e(when)}</div>'
            f'{histogram_svg(run["histogram"])}</a>')
