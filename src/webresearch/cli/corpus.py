"""``webresearch index``: build a corpus's index ahead of a run, and try a query on it."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

__all__ = ["add_index_command", "opening_note", "run_index"]


def add_index_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    index = commands.add_parser(
        "index", help="build (or check) the search index of a JSONL corpus or named corpus")
    index.add_argument("corpus", help="a JSONL file, or a named corpus (vital-articles)")
    index.add_argument("--retriever", default="bm25", help="bm25, bm25-stream (a corpus of "
                       "millions of passages: streaming build, memory-mapped) or dense")
    index.add_argument("--index-dir", type=Path, help="where the index lives (default: beside)")
    index.add_argument("--query", help="search this and print the top hits")
    index.add_argument("-k", type=int, default=5, help="hits to print")
    index.add_argument("--log-level", default="INFO", help="logging level")


def opening_note(corpus: str | Path, retriever: str) -> str:
    """What opening a corpus does, said before it starts (a first build takes minutes).

    Example:
        >>> opening_note("wiki.jsonl", "bm25")[:56]
        'opening the bm25 index of wiki.jsonl: the first time, ev'
    """
    return (f"opening the {retriever} index of {corpus}: the first time, every passage is read "
            "and indexed (minutes for a large corpus); later, the index is loaded")


def run_index(args: argparse.Namespace) -> int:
    from webresearch.corpus.index import CorpusIndex  # noqa: PLC0415 - optional extra
    from webresearch.corpus.named import NAMED_CORPORA, named_corpus  # noqa: PLC0415

    path = Path(args.corpus).expanduser()
    if not path.is_file() and args.corpus in NAMED_CORPORA:
        path = named_corpus(args.corpus)
    start = time.perf_counter()
    print(opening_note(path, args.retriever), flush=True)
    index = CorpusIndex.open(path, retriever=args.retriever, index_dir=args.index_dir)
    print(f"{len(index):,} passages of {path} ready for {args.retriever} search "
          f"({time.perf_counter() - start:.1f} s)")
    if args.query:
        for rank, hit in enumerate(index.search(args.query, k=args.k), 1):
            print(f"{rank:>3}. {hit.score:7.3f}  {hit.doc.title}  <{hit.doc.url}>")
    index.close()
    return 0
