"""Stores holding any text and every status: every read command works, and nothing is lost.

The text strategies mix lone surrogates, NUL, right-to-left marks, combining
characters and separators with large fields; scores are ``None`` for the statuses
broken from outside. What was written must read back through every command, with only
lone surrogates and NUL turned into U+FFFD.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp.test_utils
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webresearch.cli import main
from webresearch.replay.export import episode_line, export_store
from webresearch.replay.records import serialize
from webresearch.replay.schema import EpisodeRecord, RunRecord, StepRecord
from webresearch.replay.store import ReplayStore
from webresearch.replay.viewer import create_viewer
from webresearch.status import ActionKind, EpisodeStatus
from webresearch.tasks import Task
from webresearch.untrusted import REPLACEMENT, loads_json, scalar_text
from webresearch.web.backend import Page, SearchHit, SearchResults
from webresearch.web.calls import WebCall

ODD = ["\x00", "\ud800", "\udfff", "\u202e", "\u200f", "\u0301", "/", "#", "\t", "\n", "\\",
       '"', "\ufffd", "🙂", "\u2028"]
"""Characters that broke or could break a reader: surrogates, NUL, RTL, combining, ..."""

TEXT = st.text(st.characters(blacklist_categories=()) | st.sampled_from(ODD), max_size=12)
"""Any text, lone surrogates included (hypothesis leaves them out by default)."""


@st.composite
def big_text(draw: st.DrawFn) -> str:
    """Usually short odd text; sometimes a field of up to 300,000 characters."""
    text = draw(TEXT)
    return text * draw(st.sampled_from([1, 1, 1, 2_000, 30_000])) if text else text


@st.composite
def episodes(draw: st.DrawFn, run_id: str, number: int) -> EpisodeRecord:
    status = draw(st.sampled_from(list(EpisodeStatus)))
    score = draw(st.floats(-1, 1)) if status.scored else None
    page = Page(draw(TEXT), draw(TEXT), draw(st.sampled_from([200, 404])), draw(TEXT),
                draw(big_text()), 1.0, error=draw(st.none() | TEXT),
                links=tuple(draw(st.lists(TEXT, max_size=3))))
    hits = tuple(SearchHit(draw(TEXT), draw(TEXT), draw(TEXT))
                 for _ in range(draw(st.integers(0, 3))))
    calls = (WebCall("search", draw(TEXT), SearchResults(draw(TEXT), hits), 10, 0.1),
             WebCall("fetch", page.url, page, 0, 0.2))
    steps = tuple(StepRecord(draw(big_text()), draw(st.sampled_from(list(ActionKind))),
                             tuple(draw(st.lists(TEXT, max_size=2))), draw(big_text()),
                             0.0, calls if i == 0 else (), error=draw(st.none() | TEXT))
                  for i in range(draw(st.integers(0, 3))))
    task = Task(id=draw(TEXT) or "t", question=draw(big_text()), answers=(draw(TEXT),),
                dataset=draw(TEXT))
    return EpisodeRecord(run_id, task, draw(st.integers(0, 3)), status, score, score, score,
                         draw(st.none() | TEXT), ({"role": "user", "content": draw(TEXT)},),
                         steps, error=draw(st.none() | big_text()),
                         traceback=draw(st.none() | TEXT),
                         episode_id=f"e{number}{draw(TEXT)}")


@st.composite
def stores(draw: st.DrawFn) -> tuple[list[RunRecord], list[EpisodeRecord]]:
    runs = [RunRecord(run_id=f"r{i}{draw(TEXT)}", policy=draw(TEXT), notes=draw(TEXT),
                      config={draw(TEXT): draw(TEXT)}) for i in range(draw(st.integers(1, 2)))]
    eps = [draw(episodes(run.run_id, n)) for n, run in enumerate(
        draw(st.lists(st.sampled_from(runs), min_size=1, max_size=5)))]
    return runs, eps


def scalar(data: Any) -> Any:
    """What the store gives back for ``data``: every string scalar text."""
    return loads_json(json.dumps(data))


def _write(directory: Path, runs: list[RunRecord], eps: list[EpisodeRecord]) -> None:
    with ReplayStore(directory) as store:
        for run in runs:
            store.create_run(run)
        assert store.append(eps) == len(eps)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    out.encode("utf-8")  # printable: no lone surrogate reaches the terminal
    return out


SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


@SETTINGS
@given(stores())
def test_every_read_command_reads_every_store(
        capsys: pytest.CaptureFixture[str], store: tuple[list[RunRecord], list[EpisodeRecord]]
        ) -> None:
    runs, eps = store
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "store"
        _write(path, runs, eps)
        listed = _cli(capsys, "replay", "runs", str(path))
        assert len(listed.splitlines()) == len(runs)
        rows = _cli(capsys, "replay", "episodes", str(path), "--limit", "100")
        assert rows.splitlines()[-1] == f"{len(eps)} episodes"
        for e in eps:
            shown = _cli(capsys, "replay", "show", str(path), e.episode_id)
            assert scalar(e.episode_id) in shown
        for run in runs:
            _cli(capsys, "replay", "rescore", str(path), "--run", run.run_id, "--reward", "f1")
        _cli(capsys, "replay", "export", str(path), "--out", str(Path(tmp) / "out.jsonl"))
        text = (Path(tmp) / "out.jsonl").read_bytes().decode("utf-8")  # valid UTF-8
        exported = [json.loads(line) for line in text.split("\n") if line]
        want = {scalar(e.episode_id): scalar({"type": "episode", **e.to_json()}) for e in eps}
        assert {r["episode_id"]: r for r in exported if r["type"] == "episode"} == want
        assert sorted(r["run_id"] for r in exported if r["type"] == "run") == sorted(
            scalar(r.run_id) for r in runs)


@SETTINGS
@given(stores())
def test_what_is_written_reads_back_but_for_uncarriable_characters(
        store: tuple[list[RunRecord], list[EpisodeRecord]]) -> None:
    runs, eps = store
    with tempfile.TemporaryDirectory() as tmp:
        _write(Path(tmp), runs, eps)
        with ReplayStore(tmp, create=False) as reader:
            assert [r.to_json() for r in reader.runs()] == [scalar(r.to_json()) for r in runs]
            for e in eps:
                assert reader.episode(e.episode_id).to_json() == scalar(e.to_json())
            assert not reader.damaged


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(stores())
def test_parquet_export_and_the_viewer_take_any_store(
        store: tuple[list[RunRecord], list[EpisodeRecord]]) -> None:
    pytest.importorskip("pyarrow")
    runs, eps = store
    with tempfile.TemporaryDirectory() as tmp:
        _write(Path(tmp) / "store", runs, eps)
        with ReplayStore(Path(tmp) / "store", create=False) as reader:
            assert export_store(reader, Path(tmp) / "out.parquet") == len(eps)
            asyncio.run(_every_viewer_page(reader, eps))


async def _every_viewer_page(store: ReplayStore, eps: list[EpisodeRecord]) -> None:
    async with aiohttp.test_utils.TestClient(
            aiohttp.test_utils.TestServer(create_viewer(store))) as client:
        for path in ["/", "/api/runs", "/api/episodes"]:
            response = await client.get(path)
            assert response.status == 200, await response.text()
        for e in eps:
            response = await client.get("/api/episode/" + _quote(scalar(e.episode_id)))
            assert response.status == 200, await response.text()
            assert len((await response.json())["steps"]) == len(e.steps)


def _quote(text: str) -> str:
    return quote(text, safe="")


def test_an_episode_line_is_valid_utf8_whatever_its_text() -> None:
    task = Task(id="t\ud800", question="\x00?", answers=("\udfff",))
    line = episode_line(EpisodeRecord("r", task, 0, "policy_error", None, None, None,
                                      error="\ud83d alone"))
    data = json.loads(line.encode("utf-8"))
    assert data["task"]["id"] == f"t{REPLACEMENT}" and data["error"] == f"{REPLACEMENT} alone"
    assert data["task"]["question"] in ("\x00?", f"{REPLACEMENT}?")  # JSON escapes a NUL


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXT | st.sampled_from(["é\udc00", "\ud83d\ude00", "\\ud800", "\udc00\ud800"]),
                max_size=6))
def test_the_store_writes_only_scalar_text(texts: list[str]) -> None:
    raw = serialize({"texts": texts, **{t: 1 for t in texts}})
    assert raw.isascii()
    data = json.loads(raw)
    assert data == scalar({"texts": texts, **{t: 1 for t in texts}})
    for text in [*data["texts"], *data]:
        assert scalar_text(text) == text  # no lone surrogate, no NUL


def _split_pair(char: str) -> str:
    """A character past U+FFFF as the two code points of its UTF-16 surrogate pair."""
    value = ord(char) - 0x10000
    return chr(0xD800 + (value >> 10)) + chr(0xDC00 + (value & 0x3FF))


PAIRED = st.lists(TEXT | st.characters(min_codepoint=0x10000).map(_split_pair)
                  | st.sampled_from(["\ud83d", "\ude00"]), min_size=1, max_size=4).map("".join)
"""Text holding surrogate pairs written as two code points (as a hand-built record may)."""


@SETTINGS
@given(st.lists(PAIRED, min_size=8, max_size=8))
def test_surrogate_pairs_held_as_two_code_points_read_back_as_one_character(
        texts: list[str]) -> None:
    run = RunRecord(run_id=texts[0], policy=texts[1])
    page = Page(texts[2], texts[2], 200, texts[3], texts[4], 1.0, links=(texts[5],))
    calls = (WebCall("search", texts[6], SearchResults(texts[6], (
                 SearchHit(texts[3], texts[2], texts[7]),)), 10, 0.1),
             WebCall("fetch", page.url, page, 0, 0.2))
    step = StepRecord(texts[7], "search", (texts[6],), texts[4], 0.0, calls)
    task = Task(id=texts[1], question=texts[4], answers=(texts[5],), dataset=texts[6])
    e = EpisodeRecord(run.run_id, task, 0, "answered", 1.0, 1.0, 1.0, texts[5],
                      ({"role": "user", "content": texts[3]},), (step,), episode_id=texts[7])
    with tempfile.TemporaryDirectory() as tmp:
        _write(Path(tmp), [run], [e])
        with ReplayStore(tmp, create=False) as reader:
            assert [r.to_json() for r in reader.runs()] == [scalar(run.to_json())]
            assert [x.to_json() for x in reader.episodes(run.run_id)] == [scalar(e.to_json())]
            assert reader.episode(e.episode_id).to_json() == scalar(e.to_json())
            assert reader.run(run.run_id).run_id == scalar(run.run_id)
            assert not reader.damaged
