"""numba's BM25 scorer cached on disk: the second process loads it and compiles nothing."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PYTHONPATH
from tests.corpus.test_corpus import write_corpus
from webresearch.corpus.jit_cache import jit_cache_dir

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("numba") is None or importlib.util.find_spec("bm25s") is None,
    reason="needs the corpus extra with numba")


SCRIPT = """
import json, sys
from webresearch.corpus.index import CorpusIndex
from webresearch.corpus.jit_cache import jit_cache_stats
index = CorpusIndex.open(sys.argv[1])
titles = [hit.doc.title for hit in index.search("who founded the foundry", k=3)]
stats = jit_cache_stats()
print(json.dumps({"titles": titles, "hits": stats.hits, "misses": stats.misses,
                  "functions": stats.functions}))
"""


def _first_query(corpus: Path, cache: Path) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "NUMBA_DISABLE_JIT")}
    env.update(WEBRESEARCH_CACHE_DIR=str(cache), PYTHONPATH=PYTHONPATH)
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(corpus)], capture_output=True,
                         text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_second_process_loads_the_compiled_scorer_instead_of_compiling(tmp_path: Path) -> None:
    corpus, cache = write_corpus(tmp_path / "mini.jsonl"), tmp_path / "cache"
    first = _first_query(corpus, cache)
    assert first["titles"] and first["titles"][0] == "Pogre Works"  # type: ignore[index]
    assert int(first["misses"]) > 0 and int(first["functions"]) > 0  # type: ignore[call-overload]
    written = list((cache / "numba").rglob("*.nbi"))
    assert written, "no numba cache index in the webresearch cache folder"
    second = _first_query(corpus, cache)
    assert second["titles"] == first["titles"]
    assert second["misses"] == 0  # nothing compiled in the second process
    assert int(second["hits"]) > 0  # type: ignore[call-overload]


def test_cache_folder_follows_the_webresearch_cache(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("WEBRESEARCH_CACHE_DIR", str(tmp_path))
    assert jit_cache_dir() == str(tmp_path / "numba")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert jit_cache_dir() == str(tmp_path / "mine")


def test_a_folder_others_may_write_is_not_trusted_with_pickles(tmp_path: Path) -> None:
    """numba unpickles its cache: planted files there would run, so a folder that others
    may write is refused and every process compiles instead."""
    corpus, cache = write_corpus(tmp_path / "mini.jsonl"), tmp_path / "cache"
    (cache / "numba").mkdir(parents=True)
    (cache / "numba").chmod(0o777)
    result = _first_query(corpus, cache)
    assert result["titles"] and result["functions"] == 0 and result["hits"] == 0
    assert not list((cache / "numba").rglob("*.nbi"))  # nothing written there, nothing read


def test_the_cache_folder_is_made_private(tmp_path: Path) -> None:
    from webresearch.corpus.jit_cache import _not_private

    assert _not_private(str(tmp_path / "new" / "numba")) is None
    assert (tmp_path / "new" / "numba").stat().st_mode & 0o777 == 0o700
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o775)
    shared.chmod(0o775)
    assert "may be written by others (mode 775)" in (_not_private(str(shared)) or "")


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757])
def test_a_folder_below_one_others_may_write_is_not_trusted(tmp_path: Path, mode: int) -> None:
    """Another user who may write a folder above the cache could rename the cache away
    and put theirs in its place between the check and numba's read."""
    from webresearch.corpus.jit_cache import _not_private

    above = tmp_path / "above"
    above.mkdir()
    above.chmod(mode)
    why = _not_private(str(above / "mine" / "numba")) or ""
    assert "above it, may be written by others without the sticky bit" in why
    above.chmod(mode | 0o1000)  # sticky, as /tmp is: others cannot rename what is ours
    assert _not_private(str(above / "mine" / "numba")) is None


def test_a_link_on_the_way_is_followed_and_checked(tmp_path: Path) -> None:
    from webresearch.corpus.jit_cache import _not_private

    target = tmp_path / "open"
    target.mkdir()
    target.chmod(0o777)
    (tmp_path / "link").symlink_to(target)
    assert "may be written by others" in (_not_private(str(tmp_path / "link" / "numba")) or "")
    target.chmod(0o700)
    assert _not_private(str(tmp_path / "link" / "numba")) is None
