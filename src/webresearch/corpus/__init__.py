"""A local-corpus web backend: BM25 or dense retrieval over JSONL passages, offline; a
Search-R1-compatible retriever server over it, and a backend for any such server."""

from __future__ import annotations

from webresearch.corpus.corpus_web import CorpusWeb, CorpusWebConfig
from webresearch.corpus.documents import CorpusDoc
from webresearch.corpus.index import CorpusIndex, Hit
from webresearch.corpus.named import NAMED_CORPORA, named_corpus
from webresearch.corpus.remote import RetrieverWeb, RetrieverWebConfig
from webresearch.corpus.retrievers import RETRIEVERS, BM25Retriever, DenseRetriever, Retriever

__all__ = [
    "NAMED_CORPORA",
    "RETRIEVERS",
    "BM25Retriever",
    "CorpusDoc",
    "CorpusIndex",
    "CorpusWeb",
    "CorpusWebConfig",
    "DenseRetriever",
    "Hit",
    "Retriever",
    "RetrieverWeb",
    "RetrieverWebConfig",
    "named_corpus",
]
