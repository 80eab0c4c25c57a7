"""Frozen verdicts: each is recorded with its judge and prompt, and a table scored again
from the store is the same, with no judge call; another judge's verdicts are never reused."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import serve_app
from tests.evaluation.test_eval import CALLS, judge_app
from webresearch.envs.web_research import WebResearchEnv
from webresearch.evaluation import (
    EvalReport,
    Judge,
    Judgement,
    OpenAIJudge,
    VerdictNotRecorded,
    evaluate,
    rescore,
)
from webresearch.evaluation.judge import JUDGE_PROMPT, PROMPT_ID
from webresearch.policies import HeuristicPolicy, NoToolPolicy
from webresearch.replay.schema import RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.replay.verdicts import VerdictRecord, VerdictSource, public_url, sha256_text

TASKS = WebResearchEnv().tasks[:8]


async def judged(url: str, store: ReplayStore, *, model: str = "judge", resume: bool = False,
                 run: RunRecord | None = None) -> EvalReport:
    judge = OpenAIJudge(url, model)
    try:
        return await evaluate(policy=HeuristicPolicy(), tasks=TASKS, make_env=WebResearchEnv,
                              store=store, judge=judge, run=run, resume=resume)
    finally:
        await judge.aclose()


def test_every_verdict_is_recorded_with_its_judge_and_prompt(tmp_path: Path) -> None:
    app = judge_app()

    async def scenario(url: str) -> tuple[EvalReport, list[VerdictRecord], str]:
        with ReplayStore(tmp_path) as store:
            report = await judged(url, store)
            return report, store.verdicts(report.run_id), url

    report, verdicts, url = serve_app(app, scenario)
    assert {v.episode_id for v in verdicts} == {s.episode_id for s in report.scored}
    asked = [v for v in verdicts if v.source is VerdictSource.JUDGE]
    assert len(asked) == len(app[CALLS]) == report.asked > 0
    for verdict in verdicts:
        judge = verdict.judge
        assert (judge.model, judge.base_url, judge.temperature, judge.max_tokens) == (
            "judge", url, 0.0, 256)
        assert (judge.prompt_id, judge.prompt_sha256) == (PROMPT_ID, sha256_text(JUDGE_PROMPT))
    for verdict in asked:  # the full prompt as sent, its hash, and the judge's reply
        assert verdict.prompt in app[CALLS]
        assert verdict.prompt_sha256 == sha256_text(verdict.prompt)
        assert json.loads(verdict.reply or "")["judgement"] in ("correct", "incorrect")
    by_id = {s.episode_id: s.mbe for s in report.scored}
    assert all(by_id[v.episode_id] == float(v.correct) for v in verdicts)


def test_a_table_scored_from_the_store_is_the_same_with_no_judge_call(tmp_path: Path) -> None:
    app = judge_app()

    async def scenario(url: str) -> EvalReport:
        with ReplayStore(tmp_path) as store:
            return await judged(url, store)

    first = serve_app(app, scenario)  # the judge's server is gone after this
    calls = len(app[CALLS])
    with ReplayStore(tmp_path, create=False) as store:
        again = rescore(store, first.run_id)
        ordered = rescore(store, first.run_id, tasks=TASKS[::-1])
    assert again.tables == ordered.tables == first.tables
    assert {(s.episode_id, s.mbe) for s in again.scored} == {
        (s.episode_id, s.mbe) for s in first.scored}
    assert (again.asked, again.reused, len(app[CALLS])) == (0, len(TASKS), calls)


def test_resume_reads_the_same_judges_verdicts_back(tmp_path: Path) -> None:
    app = judge_app()

    async def scenario(url: str) -> tuple[EvalReport, EvalReport, int]:
        with ReplayStore(tmp_path) as store:
            first = await judged(url, store)
            calls = len(app[CALLS])
            again = await judged(url, store, resume=True, run=store.run(first.run_id))
            return first, again, calls

    first, again, calls = serve_app(app, scenario)
    assert len(app[CALLS]) == calls  # not one more call
    assert (again.asked, again.reused, again.tables) == (0, len(TASKS), first.tables)


def test_a_resumed_evaluation_without_a_judge_keeps_the_recorded_verdicts(
        tmp_path: Path) -> None:
    app = judge_app()

    async def scenario(url: str) -> EvalReport:
        with ReplayStore(tmp_path) as store:
            return await judged(url, store)

    first = serve_app(app, scenario)
    with ReplayStore(tmp_path) as store:
        again = asyncio.run(evaluate(policy=HeuristicPolicy(), tasks=TASKS,
                                     make_env=WebResearchEnv, store=store,
                                     run=store.run(first.run_id), resume=True))
    assert again.tables == first.tables and again.tables["other"]["Avg"]["MBE"] is not None
    assert (again.skipped, again.reused, again.asked) == (len(TASKS), len(TASKS), 0)


def test_another_judges_verdicts_are_never_reused(tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    app = judge_app()

    async def scenario(url: str) -> tuple[str, int, EvalReport]:
        with ReplayStore(tmp_path) as store:
            first = await judged(url, store)
            calls = len(app[CALLS])
            with caplog.at_level(logging.INFO, "webresearch.evaluation.frozen"):
                other = await judged(url, store, model="judge-2", resume=True,
                                     run=store.run(first.run_id))
            return url, calls, other

    url, calls, other = serve_app(app, scenario)
    assert len(app[CALLS]) == 2 * calls and other.asked == calls and other.reused == 0
    assert "are not reused for the judge judge-2" in caplog.text
    with ReplayStore(tmp_path, create=False) as store:
        with pytest.raises(VerdictNotRecorded, match=r"2 judges .*judge at .*judge-2 at"):
            rescore(store, other.run_id)  # two judges: which one is for the caller to say
        assert rescore(store, other.run_id,
                       judge=OpenAIJudge.identity_of(url, "judge-2")).tables == other.tables
        for stranger in (OpenAIJudge.identity_of(url, "judge-3"),
                         OpenAIJudge.identity_of("http://127.0.0.1:9/v1", "judge")):
            with pytest.raises(VerdictNotRecorded, match="never reused"):
                rescore(store, other.run_id, judge=stranger)
    with ReplayStore(tmp_path) as store:  # no judge named, two recorded: F1 and EM only
        plain = asyncio.run(evaluate(policy=HeuristicPolicy(), tasks=TASKS,
                                     make_env=WebResearchEnv, store=store,
                                     run=store.run(other.run_id), resume=True))
    assert plain.tables["other"]["Avg"]["MBE"] is None and plain.reused == 0


class Counting(Judge):
    """A judge stand-in that counts its calls (every answer it is asked about is correct)."""

    def __init__(self) -> None:
        self.calls = 0

    async def _judge(self, question: str, answer: str, golds: Sequence[str]) -> Judgement:
        self.calls += 1
        return Judgement(True, "stand-in", "stand-in", prompt=f"{question} / {answer}")


def test_a_stand_in_judge_is_recorded_by_its_class_and_asked_once(tmp_path: Path) -> None:
    judge = Counting()
    with ReplayStore(tmp_path) as store:
        first = asyncio.run(evaluate(policy=NoToolPolicy(), tasks=TASKS,
                                     make_env=WebResearchEnv, store=store, judge=judge))
        again = asyncio.run(evaluate(policy=NoToolPolicy(), tasks=TASKS,
                                     make_env=WebResearchEnv, store=store, judge=judge,
                                     run=store.run(first.run_id), resume=True))
        (identity,) = {v.judge for v in store.verdicts(first.run_id)}
    assert judge.calls == len(TASKS) and first.asked == len(TASKS) and again.reused == len(TASKS)
    assert identity.model.endswith("test_frozen_verdicts.Counting")
    assert first.tables["other"]["Avg"]["MBE"] == 100.0 == again.tables["other"]["Avg"]["MBE"]


def test_a_run_without_verdicts_scores_without_mbe(tmp_path: Path) -> None:
    with ReplayStore(tmp_path) as store:
        first = asyncio.run(evaluate(policy=NoToolPolicy(), tasks=TASKS,
                                     make_env=WebResearchEnv, store=store))
        assert store.verdicts(first.run_id) == []  # what a store written before verdicts holds
        assert rescore(store, first.run_id).tables == first.tables
        with pytest.raises(VerdictNotRecorded, match="actual: verdicts by none"):
            rescore(store, first.run_id, judge=OpenAIJudge.identity_of("http://h/v1", "m"))


def test_the_judges_server_is_recorded_without_secrets() -> None:
    assert public_url("https://me:sk-123@api.example.com:8443/v1/?api_key=sk-123#x") == (
        "https://api.example.com:8443/v1")
    identity = OpenAIJudge.identity_of("http://u:p@[::1]:8000/v1", "m")
    assert identity.base_url == "http://[::1]:8000/v1" and "p@" not in identity.describe()


# ------------------------------------------------------------------- the command
@contextmanager
def threaded_judge(*, tripwire: bool = False) -> Iterator[tuple[str, list[str]]]:
    """An OpenAI-compatible judge on loopback in a thread: correct when every word of a
    gold alias is in the answer. A ``tripwire`` judge answers every call with an error."""
    calls: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            prompt = body["messages"][0]["content"]
            calls.append(prompt)
            golds = json.loads(prompt.split("(any one is correct): ")[1].split("\n")[0])
            words = set(prompt.split("Answer to grade: ")[1].split("\n")[0].lower().split())
            correct = any(set(g.lower().split()) <= words for g in golds)
            text = json.dumps({"rationale": "r", "judgement": "correct" if correct
                               else "incorrect"})
            reply = json.dumps({"choices": [{"message": {"content": text},
                                             "finish_reason": "stop"}]}).encode()
            self.send_response(500 if tripwire else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", calls
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


def test_the_eval_command_scores_from_the_store_with_no_judge_call(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from webresearch.cli import main

    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps(t.to_json()) + "\n" for t in TASKS), encoding="utf-8")
    store = tmp_path / "store"
    common = ["--store", str(store), "--run", "ev1", "--json"]
    with threaded_judge() as (url, calls):
        assert main(["eval", "--tasks", str(tasks), "--judge", url, *common]) == 0
        first = json.loads(capsys.readouterr().out.splitlines()[-1])
        asked = len(calls)
        assert asked > 0 and first["tables"]["other"]["Avg"]["MBE"] is not None
        # the same judge named, and its server up: its recorded verdicts, no call
        assert main(["eval", "--from-store", "--judge", url, *common]) == 0
        assert json.loads(capsys.readouterr().out.splitlines()[-1]) == first
        assert len(calls) == asked
    assert main(["eval", "--from-store", *common]) == 0  # no judge anywhere
    out = capsys.readouterr().out
    assert json.loads(out.splitlines()[-1]) == first and "no judge call" in out
    assert main(["eval", "--tasks", str(tasks), "--resume", *common]) == 0  # nothing to run
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == first
    with threaded_judge(tripwire=True) as (other, calls):  # another server: never reused
        assert main(["eval", "--from-store", "--judge", other, *common]) == 2
        assert not calls
    err = capsys.readouterr().err
    assert "never reused" in err and "judge" in err and url in err


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_an_exported_store_imported_elsewhere_gives_the_same_tables_with_no_judge_call(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str) -> None:
    from webresearch.cli import main

    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps(t.to_json()) + "\n" for t in TASKS), encoding="utf-8")
    here, there, out = tmp_path / "here", tmp_path / "there", tmp_path / f"export{suffix}"
    with threaded_judge() as (url, calls):
        assert main(["eval", "--tasks", str(tasks), "--judge", url, "--store", str(here),
                     "--run", "ev1", "--json"]) == 0
        first = json.loads(capsys.readouterr().out.splitlines()[-1])
        asked = len(calls)
    assert asked > 0 and first["tables"]["other"]["Avg"]["MBE"] is not None
    assert main(["replay", "export", str(here), "--out", str(out)]) == 0
    for _ in range(2):  # imported twice: no verdict is recorded twice
        assert main(["replay", "import", str(there), str(out)]) == 0
    with ReplayStore(here) as a, ReplayStore(there) as b:
        assert b.verdicts("ev1") == a.verdicts("ev1") and len(a.verdicts("ev1")) == len(TASKS)
    capsys.readouterr()
    assert main(["eval", "--from-store", "--store", str(there), "--run", "ev1", "--json"]) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed.splitlines()[-1]) == first and "no judge call" in printed
    assert len(calls) == asked  # the judge's server is gone: nothing could have asked it


def test_from_store_needs_a_run_and_tasks_are_needed_otherwise(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from webresearch.cli import main

    assert main(["eval", "--from-store", "--store", str(tmp_path)]) == 2
    assert "Expects --run" in capsys.readouterr().err
    assert main(["eval", "--store", str(tmp_path)]) == 2
    assert "Expects --tasks" in capsys.readouterr().err


def test_a_verdict_record_round_trips() -> None:
    identity = OpenAIJudge.identity_of("http://h/v1", "m")
    verdict = VerdictRecord("r", "e", identity, True, "why", "judge", prompt="p", reply="{}")
    assert VerdictRecord.from_json(json.loads(json.dumps(verdict.to_json()))) == verdict
    assert verdict.prompt_sha256 == sha256_text("p")


@pytest.mark.parametrize("garbage", [b"not zlib", 7, "text", b"x\x9c\x03\x00\x00\x00\x00\x01"],
                         ids=["bytes", "int", "str", "empty-zlib"])
def test_a_damaged_verdict_is_skipped_and_named_never_used(tmp_path: Path,
                                                           garbage: object) -> None:
    judge = Counting()
    with ReplayStore(tmp_path) as store:
        first = asyncio.run(evaluate(policy=NoToolPolicy(), tasks=TASKS[:2],
                                     make_env=WebResearchEnv, store=store, judge=judge))
        store._cache.set(f"vd/{first.run_id}/{0:010d}", garbage)  # one record garbled
        verdicts = store.verdicts(first.run_id)
        assert len(verdicts) == 1 and list(store.damaged) == [f"vd/{first.run_id}/{0:010d}"]
        with pytest.raises(VerdictNotRecorded, match="1 without one"):
            rescore(store, first.run_id)
        again = asyncio.run(evaluate(policy=NoToolPolicy(), tasks=TASKS[:2],
                                     make_env=WebResearchEnv, store=store, judge=judge,
                                     run=store.run(first.run_id), resume=True))
    assert (again.asked, again.reused, judge.calls) == (1, 1, 3)  # the lost one asked again
