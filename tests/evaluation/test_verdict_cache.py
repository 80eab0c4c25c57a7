"""The judge's verdict cache never unpickles: a planted pickle is a damaged record, never run."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import diskcache
import pytest

from tests.conftest import serve_app
from tests.evaluation.test_eval import CALLS, judge_app
from webresearch.envs.web_research import WebResearchEnv
from webresearch.evaluation import OpenAIJudge, evaluate
from webresearch.evaluation.judge import verdict_key
from webresearch.evaluation.verdict_cache import CachedVerdict, VerdictCache
from webresearch.policies import NoToolPolicy
from webresearch.replay.store import ReplayStore

QUESTION, ANSWER, GOLDS = "Who?", "President Barack Obama", ["Barack Obama"]


class Planted:
    """Unpickling this makes the folder ``marker``: proof that a pickle ran (no command)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.mkdir, (str(self.marker),)


def plant(directory: Path, key: str, marker: Path) -> None:
    """Write a pickled value under ``key`` as a plain ``diskcache.Cache`` would."""
    with diskcache.Cache(str(directory)) as cache:
        cache.set(key, Planted(marker))


def test_the_plant_is_live_for_a_plain_diskcache(tmp_path: Path) -> None:
    """The attack the judge must resist: a plain cache runs the planted value."""
    marker = tmp_path / "ran"
    plant(tmp_path / "cache", "k", marker)
    with diskcache.Cache(str(tmp_path / "cache")) as cache:
        cache.get("k")
    assert marker.is_dir()


def test_a_planted_pickle_in_the_judges_cache_is_a_miss_not_code(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    marker, cache_dir = tmp_path / "ran", tmp_path / "judge"
    app = judge_app()

    async def scenario(url: str) -> tuple[str, str, bool]:
        key = OpenAIJudge.identity_of(url, "judge").key  # the judge's identity keys its cache
        plant(cache_dir, verdict_key(key, QUESTION, ANSWER, GOLDS), marker)
        judge = OpenAIJudge(url, "judge", cache_dir=cache_dir)
        try:
            first = await judge.judge(QUESTION, ANSWER, GOLDS)  # the planted record: a miss
            second = await judge.judge(QUESTION, ANSWER, GOLDS)  # the judge's own verdict
        finally:
            await judge.aclose()
        return first.source, second.source, second.correct

    with caplog.at_level(logging.WARNING, "webresearch.evaluation.verdict_cache"):
        assert serve_app(app, scenario) == ("judge", "cache", True)
    assert not marker.exists()
    assert len(app[CALLS]) == 1
    assert "is damaged" in caplog.text and "not a webresearch store value" in caplog.text


def test_the_eval_with_a_planted_cache_runs_nothing(tmp_path: Path) -> None:
    tasks = WebResearchEnv().tasks[:3]
    marker, cache_dir = tmp_path / "ran", tmp_path / "judge"
    app = judge_app()

    async def scenario(url: str) -> float | None:
        key = OpenAIJudge.identity_of(url, "judge").key
        for task in tasks:  # NoToolPolicy's answer, which is no exact match: the cache is read
            plant(cache_dir, verdict_key(key, task.question, "I don't know", task.answers),
                  marker)
        judge = OpenAIJudge(url, "judge", cache_dir=cache_dir)
        try:
            with ReplayStore(tmp_path / "store") as store:
                report = await evaluate(policy=NoToolPolicy(), tasks=tasks,
                                        make_env=WebResearchEnv, store=store, judge=judge)
        finally:
            await judge.aclose()
        return report.tables["other"]["Avg"]["MBE"]

    assert serve_app(app, scenario) == 0.0
    assert not marker.exists()
    assert len(app[CALLS]) == len(tasks)  # each planted record was a miss: the judge was asked


@pytest.mark.parametrize("raw", ["not json", '{"correct": "yes"}', "[1, 2]", 7, b"\x80\x04"],
                         ids=["text", "wrong-type", "list", "int", "bytes"])
def test_records_that_are_not_verdicts_are_misses(tmp_path: Path, raw: object) -> None:
    with diskcache.Cache(str(tmp_path)) as cache:
        cache.set("k", raw)
    verdicts = VerdictCache(tmp_path)
    try:
        assert verdicts.get("k") is None and verdicts.damaged == 1
        verdicts.put("k", CachedVerdict(False, "differs"))
        assert verdicts.get("k") == CachedVerdict(False, "differs")
    finally:
        verdicts.close()


def test_a_folder_that_is_not_a_cache_leaves_the_judge_without_one(tmp_path: Path) -> None:
    (tmp_path / "cache.db").write_bytes(b"not sqlite at all" * 10)
    verdicts = VerdictCache(tmp_path)
    assert not verdicts.usable and verdicts.get("k") is None
    verdicts.put("k", CachedVerdict(True, ""))  # dropped, not raised
    verdicts.close()
    verdicts.close()
