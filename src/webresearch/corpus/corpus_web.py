"""A local corpus as a web backend: search is retrieval, a passage's URL browses its text."""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass
from pathlib import Path

from webresearch.corpus.index import CorpusIndex, Hit
from webresearch.corpus.named import NAMED_CORPORA, named_corpus
from webresearch.errors import ConfigError
from webresearch.untrusted import scalar_text
from webresearch.web.backend import Page, SearchHit, SearchResults, WebBackend
from webresearch.web.snippets import snippet

__all__ = ["CorpusWeb", "CorpusWebConfig", "parse_corpus_spec"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CorpusWebConfig:
    """Which corpus to serve and how."""

    corpus: str
    """A JSONL file (FlashRAG ``contents`` or ``title``/``text`` records) or a named
    corpus (``"vital-articles"``)."""
    retriever: str = "bm25"
    """``"bm25"`` or ``"dense"``."""
    name: str | None = None
    """The corpus's name in its URLs (``corpus://<name>/<id>``); the file stem by default."""
    index_dir: str | None = None
    """Where the index lives; beside the corpus (or in the user cache) by default."""
    snippet_chars: int = 240
    """Longest search snippet."""


def parse_corpus_spec(arg: str) -> CorpusWebConfig:
    """Read what follows ``corpus:`` in a web spec: ``<path or name>[#bm25|#dense]``.

    Example:
        >>> parse_corpus_spec("wiki-18.jsonl#dense").retriever
        'dense'
        >>> parse_corpus_spec("vital-articles").retriever
        'bm25'
    """
    corpus, _, retriever = arg.partition("#")
    if not corpus:
        raise ConfigError("Expects 'corpus:<JSONL file or named corpus>[#bm25|#dense]', "
                          f"actual: 'corpus:{arg}' (named corpora: {sorted(NAMED_CORPORA)})")
    return CorpusWebConfig(corpus=corpus, retriever=retriever or "bm25")


@functools.lru_cache(maxsize=4)
def _shared_index(path: str, name: str | None, retriever: str, index_dir: str | None
                  ) -> CorpusIndex:
    """One open index per process, however many envs search it."""
    return CorpusIndex.open(path, name=name, retriever=retriever, index_dir=index_dir)


class CorpusWeb(WebBackend):
    """Search-R1's setting: retrieval over a local corpus instead of a search engine.

    Search returns each passage's title, a stable URL and a query-relevant snippet;
    fetching that URL returns the whole passage, which the env pages like any page.
    Every env of a process shares one open index.

    Example:
        >>> import asyncio, pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "mini.jsonl"
        >>> _ = path.write_text('{"id": "a", "title": "Ada", "text": "Ada wrote the programs."}\\n')
        >>> web = CorpusWeb(CorpusWebConfig(corpus=str(path)))
        >>> hit = asyncio.run(web.search("who wrote programs", k=3)).hits[0]
        >>> hit.url, hit.snippet
        ('corpus://mini/a', 'Ada wrote the programs.')
        >>> asyncio.run(web.fetch(hit.url)).text
        'Ada wrote the programs.'
    """

    def __init__(self, config: CorpusWebConfig | str) -> None:
        if isinstance(config, str):
            config = parse_corpus_spec(config)
        self.config = config
        path = Path(config.corpus).expanduser()
        if not path.is_file() and config.corpus in NAMED_CORPORA:
            path = named_corpus(config.corpus)
        self.index = _shared_index(str(path.resolve()), config.name, config.retriever,
                                   config.index_dir)

    def spec(self) -> str | None:
        c = self.config
        plain = CorpusWebConfig(corpus=c.corpus, retriever=c.retriever)
        return f"corpus:{c.corpus}#{c.retriever}" if c == plain else None

    def _search(self, query: str, k: int) -> list[Hit]:
        return self.index.search(query, k)

    async def search(self, query: str, *, k: int = 10) -> SearchResults:
        query = scalar_text(query)  # what the tokenizer and stemmer can take
        if self.index.retriever.blocking:
            found = await asyncio.to_thread(self._search, query, k)
        else:
            found = self._search(query, k)
        limit = self.config.snippet_chars
        hits = tuple(SearchHit(h.doc.title, h.doc.url, snippet(h.doc.text, query, limit))
                     for h in found)
        return SearchResults(query=query, hits=hits)

    async def fetch(self, url: str) -> Page:
        doc = self.index.doc_by_url(url.strip())
        if doc is None:
            return Page.failure(url, f"404 Not Found: no passage of corpus "
                                     f"{self.index.name!r} has this URL", status=404)
        return Page(url=url, final_url=doc.url, status=200, title=doc.title, text=doc.text,
                    fetched_at=time.time())
