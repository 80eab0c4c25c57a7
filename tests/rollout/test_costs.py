"""Costs: every episode's web calls priced (replays and cache hits free); a budget stops a
run at the right count, what was in flight finishing and nothing lost."""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.conftest import answer, search
from webresearch.envs import WebResearchEnv
from webresearch.errors import ConfigError
from webresearch.policies.policy import ChatMessage
from webresearch.policies.scripted import ScriptedPolicy
from webresearch.replay.schema import EpisodeRecord, StepRecord
from webresearch.replay.store import ReplayStore
from webresearch.rollout import RolloutConfig, rollout
from webresearch.rollout.costs import Meter
from webresearch.tasks import Task
from webresearch.web.backend import Page, SearchResults
from webresearch.web.calls import WebCall
from webresearch.web.costs import CallRates, Cost, Prices
from webresearch.web.reader import Extract

SEARCHES = 2
"""Searches each episode of :class:`TwoSearches` makes (one query each)."""
PRICES = Prices(search_usd={"sim": 0.25}, fetch_usd=1.0)  # exact in binary: sums are exact


class TwoSearches(ScriptedPolicy):
    """Searches twice, then answers: every episode costs the same."""

    name = "two-searches"

    def act(self, conversation: Sequence[ChatMessage]) -> str:
        turns = sum(m["role"] == "assistant" for m in conversation)
        return search(f"query {turns}") if turns < SEARCHES else answer("something")


def _tasks() -> list[Task]:
    return WebResearchEnv(web="sim").tasks[:5]


def _run(budget: float | None, *, concurrency: int = 1, episodes: int = 12,
         store: ReplayStore | None = None) -> tuple[list[EpisodeRecord], object]:
    tasks = _tasks()
    config = RolloutConfig(episodes=episodes, concurrency=concurrency, progress=False,
                           keep_results=True, budget_usd=budget, prices=PRICES)
    report = asyncio.run(rollout(lambda: WebResearchEnv(web="sim", tasks=tasks),
                                 TwoSearches(), tasks, config, store=store))
    return report.results, report


@pytest.mark.parametrize(("budget", "expected"), [
    (0.25, 1), (0.5, 1), (0.75, 2), (1.0, 2), (1.01, 3), (2.5, 5), (100.0, 12)],
    ids=str)
def test_a_budget_stops_after_the_expected_number_of_episodes(budget: float,
                                                              expected: int) -> None:
    """One at a time, episode n starts while (n - 1) x $0.50 < budget: ceil(budget / 0.5)."""
    episodes, report = _run(budget)
    assert len(episodes) == expected == min(12, math.ceil(budget / 0.5))
    assert all(e.cost == Cost(searches=2, usd=0.5, step_usd=(0.25, 0.25, 0.0))
               for e in episodes)
    assert report.summary.cost_usd == 0.5 * expected
    assert report.summary.usd_per_episode == 0.5


def test_in_flight_episodes_finish_and_are_recorded_nothing_lost(tmp_path: Path) -> None:
    with ReplayStore(tmp_path / "store") as store:
        episodes, report = _run(1.0, concurrency=4, store=store)
        stored = list(store.episodes(report.run_id))
        run = store.run(report.run_id)
    assert 2 <= len(episodes) <= 2 + 3  # the budget's two, and at most three in flight
    assert sorted(e.episode_id for e in stored) == sorted(e.episode_id for e in episodes)
    assert all(e.status == "answered" and e.cost is not None for e in stored)
    assert math.fsum(e.cost.usd for e in stored) == report.summary.cost_usd
    assert run.config["rollout"]["budget_usd"] == 1.0
    assert run.config["rollout"]["prices"]["search_usd"] == {"sim": 0.25}


def test_without_a_budget_everything_runs_and_the_sim_is_free_by_default() -> None:
    tasks = _tasks()
    config = RolloutConfig(episodes=3, progress=False, keep_results=True)
    report = asyncio.run(rollout(lambda: WebResearchEnv(web="sim", tasks=tasks),
                                 TwoSearches(), tasks, config))
    assert [e.cost.usd for e in report.results] == [0.0, 0.0, 0.0]
    assert report.results[0].cost.searches == 2
    assert "cost: $0.0000" in report.table()


def _call(kind: str, *, cached: bool = False, tokens: int = 0) -> WebCall:
    if kind == "search":
        return WebCall(kind, "q", SearchResults(query="q", from_cache=cached))
    if kind == "fetch":
        return WebCall(kind, "u", Page("u", "u", 200, "", "x", from_cache=cached))
    return WebCall(kind, "r", Extract("info", tokens=tokens, from_cache=cached))


def test_prices_by_engine_and_free_calls() -> None:
    prices = Prices(fetch_usd=0.5, read_usd=0.25, read_usd_per_1k_tokens=1.0)
    assert prices.rates("live:serper").search == 0.001
    assert prices.rates("live:brave").search == 0.005
    assert prices.rates("live:searxng").search == 0.0
    assert prices.rates("corpus:x.jsonl").search == 0.0
    assert prices.rates("replay:runs/store#r") == CallRates()  # a replay costs nothing
    rates = prices.rates("live:serper")
    cost = rates.cost([[_call("search"), _call("search", cached=True)],
                       [_call("fetch"), _call("fetch", cached=True)],
                       [_call("read", tokens=500), _call("read", cached=True, tokens=9)]])
    assert cost.step_usd == (0.001, 0.5, 0.25 + 0.5)
    assert (cost.searches, cost.fetches, cost.reads, cost.cached, cost.reader_tokens) == \
        (2, 2, 2, 3, 509)
    assert Cost.from_json(json.loads(json.dumps(cost.to_json()))) == cost


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), True])
def test_a_bad_budget_or_price_is_a_config_error(bad: float) -> None:
    with pytest.raises(ConfigError, match="Expects budget_usd > 0"):
        RolloutConfig(budget_usd=bad)
    if bad != 0 and bad is not True:
        with pytest.raises(ConfigError, match="Expects a price >= 0 for fetch_usd"):
            Prices(fetch_usd=bad)


def test_the_meter_stops_once_spent() -> None:
    meter = Meter(PRICES, "sim", budget_usd=0.5)
    record = EpisodeRecord("r", _tasks()[0], 0, "answered", 0.0, 0.0, 0.0)
    gate = meter.gate(range(5))
    assert next(gate) == 0
    step = StepRecord("a", "search", ("q",), "o", web=(_call("search"), _call("search")))
    meter.charge(EpisodeRecord("r", record.task, 0, "answered", 0.0, 0.0, 0.0, steps=(step,)))
    assert meter.reached and list(gate) == [] and meter.stopped


def test_old_records_read_without_cost_or_leaks() -> None:
    record = EpisodeRecord("r", _tasks()[0], 0, "answered", 1.0, 1.0, 1.0)
    data = record.to_json()
    assert "cost" not in data and "leaks" not in data
    again = EpisodeRecord.from_json(data)
    assert again.cost is None and again.leaks is None and again == record


def test_the_command_stops_at_the_budget_with_exit_0_and_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "webresearch.cli", "rollout", "--policy", "oracle", "--episodes",
         "40", "--concurrency", "1", "--no-progress", "--store", str(tmp_path / "store"),
         "--search-usd", "0.25", "--budget-usd", "1.0", "--json"],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["cost_usd"] >= 1.0 and summary["episodes"] < 40
    notes = [line for line in done.stderr.splitlines() if line.startswith("budget reached")]
    assert len(notes) == 1 and f"{summary['episodes']} of 40 episodes ran" in notes[0]
    with ReplayStore(tmp_path / "store") as store:
        (run,) = store.runs()
        assert store.count(run.run_id) == summary["episodes"]
