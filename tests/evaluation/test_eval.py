"""Evaluation: the judge (scripted, on loopback), scoring rules, tables, resume, the command."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import dev_questions, serve_app
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import PolicyError
from webresearch.evaluation import (
    EvalReport,
    JudgeError,
    OpenAIJudge,
    Scored,
    domain_tables,
    evaluate,
    score,
)
from webresearch.evaluation.judge import parse_judgement
from webresearch.policies import NoToolPolicy, OraclePolicy
from webresearch.policies.policy import Completion, Policy, PromptLike, SamplingParams
from webresearch.replay.schema import EpisodeRecord, RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.tasks import Task

CALLS = web.AppKey("calls", list[str])


def judge_app(*, broken: bool = False) -> web.Application:
    """A scripted judge: correct when a gold alias's words all appear in the answer."""
    app = web.Application()
    app[CALLS] = []

    async def chat(request: web.Request) -> web.Response:
        prompt = (await request.json())["messages"][0]["content"]
        app[CALLS].append(prompt)
        golds = json.loads(re.search(r"Gold answers \(any one is correct\): (.*)", prompt)[1])
        answer = re.search(r"Answer to grade: (.*)", prompt)[1]
        words = set(answer.lower().split())
        correct = any(set(g.lower().split()) <= words for g in golds)
        text = "no idea" if broken else json.dumps(
            {"rationale": "compared", "judgement": "correct" if correct else "incorrect"})
        return web.json_response({"choices": [{"message": {"content": text},
                                               "finish_reason": "stop"}]})

    app.add_routes([web.post("/v1/chat/completions", chat)])
    return app


def test_parse_judgement() -> None:
    assert not parse_judgement('{"judgement": "Incorrect", "rationale": "x"}').correct
    for bad in ["", "correct", '{"judgement": "maybe"}', "{not json}"]:
        with pytest.raises(JudgeError, match="Expects a JSON verdict"):
            parse_judgement(bad)


def test_judge_exact_matches_skip_the_call_and_verdicts_are_cached(tmp_path: Path) -> None:
    app = judge_app()

    async def scenario(url: str) -> list[str]:
        judge = OpenAIJudge(url, "judge", cache_dir=tmp_path)
        golds = ["Barack Obama", "Obama"]
        verdicts = [await judge.judge("Who?", "barack obama", golds),  # exact: no call
                    await judge.judge("Who?", "President Barack Obama", golds),
                    await judge.judge("Who?", "President Barack Obama", golds),  # cached
                    await judge.judge("Who?", "Joe Biden", golds)]
        await judge.aclose()
        assert [v.correct for v in verdicts] == [True, True, True, False]
        return [v.source for v in verdicts]

    assert serve_app(app, scenario) == ["exact", "judge", "cache", "judge"]
    assert len(app[CALLS]) == 2


def test_an_unreadable_verdict_is_an_error_never_a_silent_zero() -> None:
    async def scenario(url: str) -> None:
        judge = OpenAIJudge(url, "judge", attempts=2)
        with pytest.raises(JudgeError, match="Expects a JSON verdict"):
            await judge.judge("Who?", "someone", ["Ada"])
        dead = OpenAIJudge("http://127.0.0.1:9/v1", "judge")
        with pytest.raises(JudgeError, match=re.escape("the judge at http://127.0.0.1:9/v1")):
            await dead.judge("Who?", "someone", ["Ada"])
        await judge.aclose()
        await dead.aclose()

    serve_app(judge_app(broken=True), scenario)


def test_format_failures_score_zero_not_minus_one() -> None:
    task = Task(id="t", question="Q", answers=("a",))
    failed = EpisodeRecord("r", task, 0, "format_error", -1.0, 0.0, 0.0)
    answered = EpisodeRecord("r", task, 0, "answered", 1.0, 1.0, 1.0, answer="A.")
    assert score(failed) == (0.0, 0.0) and score(answered) == (1.0, 1.0)


def test_tables_follow_the_paper() -> None:
    rows = [Scored("1", "nq", 1.0, 1.0, 1.0), Scored("2", "tq", 0.0, 0.0, 0.0),
            Scored("3", "bamboogle", 0.5, 0.0, None), Scored("4", "custom", 1.0, 1.0, 1.0)]
    tables = domain_tables(rows)
    assert list(tables) == ["in-domain", "out-of-domain", "other"]
    assert tables["in-domain"]["Avg"] == {"F1": 50.0, "EM": 50.0, "MBE": 50.0, "n": 2}
    assert tables["out-of-domain"]["Bamboogle"]["MBE"] is None


async def run_eval(url: str, store: ReplayStore, policy: object, *, resume: bool = False,
                   run: RunRecord | None = None) -> EvalReport:
    judge = OpenAIJudge(url, "judge")
    try:
        return await evaluate(policy=policy, tasks=WebResearchEnv().tasks[:20],
                              make_env=WebResearchEnv, store=store, judge=judge, run=run,
                              resume=resume)
    finally:
        await judge.aclose()


def test_evaluate_with_a_judge_and_resume(tmp_path: Path) -> None:
    async def scenario(url: str) -> tuple[EvalReport, EvalReport, EvalReport]:
        with ReplayStore(tmp_path) as store:
            tasks = WebResearchEnv().tasks[:20]
            oracle = await run_eval(url, store, OraclePolicy(tasks))
            floor = await run_eval(url, store, NoToolPolicy())
            again = await run_eval(url, store, OraclePolicy(tasks), resume=True,
                                   run=store.run(oracle.run_id))
        return oracle, floor, again

    oracle, floor, again = serve_app(judge_app(), scenario)
    assert oracle.tables["other"]["Avg"]["MBE"] == 100.0  # the sim's dataset is "sim"
    assert floor.tables["other"]["Avg"]["MBE"] == 0.0
    assert (again.skipped, len(again.scored), again.run_id) == (20, 20, oracle.run_id)


def test_the_eval_command_on_the_dev_set(dev_dataset: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from webresearch.cli import main

    assert main(["eval", "--tasks", str(dev_dataset), "--store", str(tmp_path),
                 "--json"]) == 0
    out = capsys.readouterr().out
    assert "### in-domain" in out and "### out-of-domain" in out and "| MBE | - |" in out
    tables: dict[str, Any] = json.loads(out.splitlines()[-1])["tables"]
    per_dataset = dev_questions(dev_dataset) // 7  # 125 in ../shared, 3 in the sample
    assert tables["in-domain"]["Avg"]["n"] == 4 * per_dataset
    assert tables["out-of-domain"]["Avg"]["n"] == 3 * per_dataset
    assert set(tables["out-of-domain"]) == {"Musique", "Bamboogle", "PopQA", "Avg"}


class _DeadServer(Policy):
    """A policy whose server went away after the checks: every call raises."""

    name = "dead"

    async def generate(self, prompts: Sequence[PromptLike],
                       sampling: SamplingParams | None = None) -> list[Completion]:
        raise PolicyError("Expects an answer from the policy server, actual: 502")


def test_an_evaluation_whose_every_episode_failed_says_so_and_exits_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from webresearch.cli.eval import _print_report

    async def scenario() -> EvalReport:
        with ReplayStore(tmp_path) as store:
            env = WebResearchEnv()
            return await evaluate(policy=_DeadServer(), tasks=env.tasks[:4],
                                  make_env=WebResearchEnv, store=store)

    report = asyncio.run(scenario())
    assert report.broken == {"policy_error": 4} and report.all_broken
    args = argparse.Namespace(store=tmp_path, json=False)
    assert _print_report(args, report, "") == 1
    assert "every episode failed (policy_error 4)" in capsys.readouterr().err
    healthy = EvalReport(report.run_id, report.scored, report.tables, skipped=0,
                         broken={"policy_error": 3})
    assert not healthy.all_broken and _print_report(args, healthy, "") == 0
