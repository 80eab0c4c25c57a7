"""``webresearch data``: fetch DeepResearcher's released questions and write them as a task file."""

from __future__ import annotations

import argparse
import json
import tempfile
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

from webresearch.errors import TaskError
from webresearch.tasks import Task, load_tasks

__all__ = ["DEEPRESEARCHER_URL", "add_data_command", "default_out", "fetch_deepresearcher",
           "run_data"]

DEEPRESEARCHER_URL = ("https://raw.githubusercontent.com/GAIR-NLP/DeepResearcher/main/data/"
                      "{split}.parquet")
"""Where DeepResearcher's repository keeps each split, as Parquet in verl's layout."""

SPLITS = ("dev", "test")
MAX_BYTES = 256 * 1024 * 1024  # the dev split is 0.15 MB, the test split 0.6 MB


def add_data_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    data = commands.add_parser(
        "data", help="fetch DeepResearcher's questions and write them as a JSONL task file")
    data.add_argument("dataset", choices=("deepresearcher",),
                      help="which release (deepresearcher: GAIR-NLP/DeepResearcher's data/)")
    data.add_argument("--split", default="dev", choices=SPLITS,
                      help="dev (875 questions, 125 from each of 7 datasets) or test "
                           "(default: dev)")
    data.add_argument("--out", type=Path,
                      help="the JSONL file to write (default: data/deepresearcher_<split>.jsonl)")
    data.add_argument("--url", help="fetch from here instead (default: the repository's file "
                                    "for the split)")
    data.add_argument("--timeout", type=float, default=60.0, help="seconds for the download")
    data.add_argument("--log-level", default="WARNING", help="logging level")


def run_data(args: argparse.Namespace) -> int:
    out = args.out or default_out(args.split)
    url = args.url or DEEPRESEARCHER_URL.format(split=args.split)
    tasks = fetch_deepresearcher(url, out, timeout_s=args.timeout)
    counts = Counter(t.dataset.lower() for t in tasks)
    print(f"{len(tasks)} questions from {url} written to {out} ("
          + ", ".join(f"{name} {n}" for name, n in sorted(counts.items())) + ")")
    return 0


def default_out(split: str) -> Path:
    """Where ``webresearch data deepresearcher`` writes a split by default.

    Example:
        >>> str(default_out("dev"))
        'data/deepresearcher_dev.jsonl'
    """
    return Path("data") / f"deepresearcher_{split}.jsonl"


def fetch_deepresearcher(url: str, out: Path, *, timeout_s: float = 60.0) -> list[Task]:
    """Download one split (Parquet) and write it to ``out`` as JSONL tasks.

    Each line is ``{"id", "dataset", "question", "answers"}``: the dataset name in lower
    case, the gold aliases that DeepResearcher joins with ``<|answer_split|>`` as a list.
    ``out`` is replaced only once the whole split has been read; a failed download or
    an unreadable file leaves it as it was.

    Args:
        url: The split's Parquet file (``DEEPRESEARCHER_URL`` for the release).
        out: The JSONL task file to write.
        timeout_s: Seconds for the download.

    Returns:
        The tasks written.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".download-") as tmp:
        body = _download(url, timeout_s)
        if not (body.startswith(b"PAR1") and body.endswith(b"PAR1")):
            raise TaskError(f"Expects {url} to serve a Parquet file, actual: {len(body)} bytes "
                            f"starting {body[:16]!r}")
        parquet = Path(tmp) / "split.parquet"
        parquet.write_bytes(body)
        try:
            tasks = load_tasks(parquet)
        except TaskError as exc:
            raise TaskError(f"Expects {url} to hold DeepResearcher's questions as Parquet, "
                            f"actual: {exc}") from exc
        staged = Path(tmp) / "tasks.jsonl"
        with staged.open("w", encoding="utf-8") as f:
            for task in tasks:
                record = {"id": task.id, "dataset": task.dataset.lower(),
                          "question": task.question, "answers": list(task.answers)}
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
        staged.replace(out)
    return tasks


def _download(url: str, timeout_s: float) -> bytes:
    """The body at ``url`` (http or https, at most ``MAX_BYTES``), or a clear error."""
    if not url.startswith(("http://", "https://")):
        raise TaskError(f"Expects an http(s) URL, actual: {url!r}")
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            body: bytes = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise TaskError(f"Expects {url} to serve the file, actual: HTTP {exc.code} "
                        f"{exc.reason}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TaskError(f"Expects {url} to be reachable, actual: {reason}") from exc
    if len(body) > MAX_BYTES:
        raise TaskError(f"Expects at most {MAX_BYTES} bytes from {url}, actual: more")
    return body
