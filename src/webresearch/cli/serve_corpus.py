"""``webresearch serve-corpus``: a Search-R1-compatible retriever server over a local corpus."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from webresearch.corpus.retrieval_api import IndexSpec
    from webresearch.corpus.workers import ServeConfig

__all__ = ["add_serve_corpus_command", "run_serve_corpus"]

_DESCRIPTION = """\
Serve a corpus as Search-R1's retriever server does: POST /retrieve with
{"queries": [...], "topk": k, "return_scores": bool}. Point Search-R1's or verl's
retriever.url at the URL it prints. --ray-shards N splits the corpus into N shards,
each searched by a Ray actor, and merges their results by score behind the same API."""


def add_serve_corpus_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]
                             ) -> None:
    serve = commands.add_parser(
        "serve-corpus", help="serve a corpus at POST /retrieve (Search-R1's retriever API)",
        description=_DESCRIPTION)
    serve.add_argument("corpus", help="a JSONL file (FlashRAG 'contents' or title/text "
                                      "records), or a named corpus (vital-articles)")
    serve.add_argument("--retriever", default="bm25",
                       help="bm25, bm25-stream (millions of passages: streaming build, "
                            "memory-mapped) or dense (default: bm25)")
    serve.add_argument("--index-dir", type=Path, help="where the index lives (default: beside)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    serve.add_argument("--port", type=int, default=8000,
                       help="port (default: 8000, Search-R1's; 0: any free one)")
    serve.add_argument("--workers", type=int, default=1,
                       help="server processes sharing the port and the memory-mapped index")
    serve.add_argument("--topk", type=int, default=3,
                       help="passages per query when a request names no topk (default: 3)")
    serve.add_argument("--max-topk", type=int, default=100, help="largest topk a request gets")
    serve.add_argument("--max-queries", type=int, default=1024, help="most queries per request")
    serve.add_argument("--max-query-chars", type=int, default=2048, help="longest query")
    serve.add_argument("--max-body-bytes", type=int, default=1 << 20, help="largest request")
    serve.add_argument("--ray-shards", type=int, default=0,
                       help="split the corpus into this many shards searched by Ray actors")
    serve.add_argument("--ray-address", help="with --ray-shards: a Ray cluster to join "
                                             "(default: a local Ray on loopback)")
    serve.add_argument("--shard-cpus", type=float, default=1.0,
                       help="with --ray-shards: CPUs each shard's actor reserves (default: 1)")
    serve.add_argument("--shard-dir", type=Path,
                       help="with --ray-shards: where the shard files go (default: beside)")
    serve.add_argument("--log-level", default="WARNING", help="logging level")


def _corpus_path(corpus: str) -> Path:
    from webresearch.corpus.named import NAMED_CORPORA, named_corpus  # noqa: PLC0415

    path = Path(corpus).expanduser()
    if not path.is_file() and corpus in NAMED_CORPORA:
        path = named_corpus(corpus)
    return path.resolve()


def _announce(url: str) -> None:
    print(f"serving at {url} (POST; Search-R1's retriever API); Ctrl-C stops", flush=True)
    print(f"point Search-R1 / verl at it with:\n  retriever.url={url}", flush=True)


def run_serve_corpus(args: argparse.Namespace) -> int:
    from webresearch.corpus.retrieval_api import IndexSpec, RetrievalLimits  # noqa: PLC0415
    from webresearch.corpus.workers import ServeConfig, serve  # noqa: PLC0415

    limits = RetrievalLimits(max_body_bytes=args.max_body_bytes, max_queries=args.max_queries,
                             max_topk=args.max_topk, max_query_chars=args.max_query_chars,
                             default_topk=args.topk)
    config = ServeConfig(host=args.host, port=args.port, workers=args.workers, limits=limits)
    spec = IndexSpec(corpus=str(_corpus_path(args.corpus)), retriever=args.retriever,
                     index_dir=str(args.index_dir) if args.index_dir else None)
    if args.ray_shards:
        return _serve_shards(args, spec, config)
    serve(spec, config, _announce)
    return 0


def _serve_shards(args: argparse.Namespace, spec: IndexSpec, config: ServeConfig) -> int:
    from webresearch.corpus.workers import serve_searcher  # noqa: PLC0415
    from webresearch.distributed.corpus_shards import ShardedCorpus  # noqa: PLC0415

    with ShardedCorpus.start(spec, shards=args.ray_shards, shard_dir=args.shard_dir,
                             address=args.ray_address, num_cpus=args.shard_cpus) as sharded:
        asyncio.run(serve_searcher(sharded, config, _announce))
    return 0
