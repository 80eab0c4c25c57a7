"""Configuration that cannot work is one line and status 2 before the first episode; a run
whose every episode failed is status 1; hf policies get sensible torch threads; a replay
store is read once per command."""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import serve_app
from tests.policies.test_openai import fake_server
from webresearch.cli import build_parser, main
from webresearch.cli.preflight import set_torch_threads, torch_threads

TASK = {"id": "t1", "question": "Who founded Pogre Works?", "answers": ["Kraemukreisk Jepudou"]}


@pytest.fixture
def tasks_file(tmp_path: Path) -> Path:
    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps(TASK) + "\n")
    return path


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("webresearch: error: "), err
    return err


@pytest.mark.parametrize(("spec", "variable"), [("live", "SERPER_API_KEY"),
                                                 ("live:brave", "BRAVE_API_KEY"),
                                                 ("live:searxng", "SEARXNG_URL")])
def test_a_missing_key_or_endpoint_stops_the_run_before_any_episode(
        spec: str, variable: str, tasks_file: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("SERPER_API_KEY", "BRAVE_API_KEY", "SEARXNG_URL", "WEBRESEARCH_SEARCH_ENGINE"):
        monkeypatch.delenv(name, raising=False)
    store = tmp_path / "store"
    code = main(["rollout", "--web", spec, "--tasks", str(tasks_file), "--store", str(store),
                 "--no-progress"])
    assert code == 2 and f"${variable}" in one_line_error(capsys)
    assert not store.exists()  # no run recorded


def test_an_unknown_engine_is_named_with_the_known_ones(
        tasks_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["rollout", "--web", "live:serpr", "--tasks", str(tasks_file), "--no-store"])
    err = one_line_error(capsys)
    assert code == 2 and "search engine" in err and "Did you mean 'serper'?" in err


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_policy_server_stops_the_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    code = main(["rollout", "--policy", "openai", "--base-url", url, "--model", "tiny",
                 "--store", str(tmp_path / "store"), "--no-progress"])
    err = one_line_error(capsys)
    assert code == 2 and f"Expects an OpenAI-compatible server at {url}" in err
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize(("model", "hint"), [("qwen", ""), ("tinyy", " Did you mean 'tiny'?")])
def test_a_model_the_server_does_not_serve_is_named_with_those_it_does(
        model: str, hint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async def scenario(url: str) -> int:
        return await asyncio.to_thread(main, [
            "rollout", "--policy", "openai", "--base-url", url, "--model", model,
            "--store", str(tmp_path / "store"), "--no-progress"])

    code = serve_app(fake_server(), scenario)
    err = one_line_error(capsys)
    assert code == 2 and f"actual: {model!r}; it serves ['tiny'].{hint}" in err


def test_a_run_whose_every_episode_failed_exits_non_zero(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async def models(request: web.Request) -> web.Response:
        return web.json_response({"data": [{"id": "tiny"}]})

    async def broken(request: web.Request) -> web.Response:
        return web.json_response({"choices": "not a list"})  # a policy error, each time

    app = web.Application()
    app.add_routes([web.get("/v1/models", models), web.post("/v1/chat/completions", broken)])

    async def scenario(url: str) -> int:
        return await asyncio.to_thread(main, [
            "rollout", "--policy", "openai", "--base-url", url, "--model", "tiny",
            "--episodes", "3", "--store", str(tmp_path / "store"), "--no-progress"])

    code = serve_app(app, scenario)
    err = capsys.readouterr().err
    assert code == 1 and "every episode failed (policy_error 3)" in err
    assert f"webresearch replay episodes {tmp_path / 'store'} --run " in err


def test_a_scripted_run_is_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rollout", "--episodes", "3", "--no-store", "--no-progress"]) == 0


def test_torch_threads_default_to_one_unless_asked() -> None:
    assert torch_threads(None, {}) == 1
    assert torch_threads(None, {"OMP_NUM_THREADS": "3"}) == 3
    assert torch_threads(None, {"OMP_NUM_THREADS": "many"}) == 1
    assert torch_threads(4, {"OMP_NUM_THREADS": "3"}) == 4
    help_text = build_parser()._subparsers._group_actions[0].choices["rollout"].format_help()
    assert "--torch-threads" in help_text and "OMP_NUM_THREADS" in help_text


def test_an_hf_policy_gets_the_threads_and_a_scripted_one_leaves_torch_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        scripted = argparse.Namespace(policy="oracle", reader="none", torch_threads=None)
        assert set_torch_threads(scripted) is None and torch.get_num_threads() == 2
        hf = argparse.Namespace(policy="hf", reader="none", torch_threads=None)
        assert set_torch_threads(hf) == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_replay_reads_its_store_once_per_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import webresearch.replay.replay_web as replay_web

    store = tmp_path / "store"
    assert main(["rollout", "--episodes", "6", "--store", str(store), "--no-progress"]) == 0
    opened: list[Any] = []
    original = replay_web.ReplayStore

    class Counting(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            opened.append(args)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(replay_web, "ReplayStore", Counting)
    code = main(["rollout", "--web", f"replay:{store}", "--episodes", "6", "--concurrency", "6",
                 "--no-store", "--no-progress"])
    assert code == 0 and len(opened) == 1


@pytest.mark.parametrize("served", [["tiny"], ["tiny", "other"]], ids=["one", "two"])
def test_without_model_the_rollout_asks_for_the_servers_only_model(
        served: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``vllm serve DIR`` serves the name DIR: the rollout need not repeat it."""
    app = fake_server(served=tuple(served))
    async def scenario(url: str) -> tuple[str, int]:
        code = await asyncio.to_thread(main, [
            "rollout", "--policy", "openai", "--base-url", url, "--episodes", "2",
            "--no-store", "--no-progress", "--json"])
        return url, code

    url, code = serve_app(app, scenario)
    if len(served) == 1:
        assert code == 0 and json.loads(capsys.readouterr().out.splitlines()[-1])["scored"] == 2
    else:
        err = one_line_error(capsys)
        assert code == 2 and f"Expects --model (the served model's name; {url} serves " \
            "['tiny', 'other']), actual: none" in err


def test_a_corpus_index_says_what_it_does_before_it_does_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("bm25s")
    corpus = tmp_path / "mini.jsonl"
    corpus.write_text('{"id": "1", "title": "Ada", "text": "Ada wrote programs."}\n')
    assert main(["index", str(corpus), "--index-dir", str(tmp_path / "index")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"opening the bm25 index of {corpus}: the first time, every passage")
    assert "ready for bm25 search" in out[-1]
