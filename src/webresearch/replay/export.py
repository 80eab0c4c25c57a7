"""Export a store to JSONL or Parquet, and import it back (ids kept, nothing duplicated).

An export is written to a temporary name beside the target and renamed once complete,
so a failure (a full disk, a damaged store) never leaves a partial file. Damaged
records are left out and noted in the store's ``damaged``; an import names the
line of the first record it cannot read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from webresearch.errors import DependencyNotInstalled, WebResearchError
from webresearch.replay.records import reason
from webresearch.replay.schema import EpisodeRecord, RunRecord
from webresearch.replay.store import ReplayStore

__all__ = ["export_store", "import_store"]

_BATCH = 256
T = TypeVar("T")


def export_store(store: ReplayStore, path: str | Path, *, run_id: str | None = None) -> int:
    """Write the store's runs and episodes (or one run's) to ``.jsonl`` or ``.parquet``.

    Returns the number of episodes written. JSONL holds one ``{"type": "run" | "episode",
    ...}`` object a line; Parquet one row an episode (its queryable fields as columns,
    the whole record as JSON in ``record``) and the runs in the file's metadata.
    """
    path = Path(path)
    runs = [store.run(run_id)] if run_id is not None else store.runs()
    episodes = (e for run in runs for e in store.episodes(run.run_id))
    if path.suffix == ".parquet":
        return _atomically(path, lambda tmp: _write_parquet(tmp, runs, episodes))
    return _atomically(path, lambda tmp: _write_jsonl(tmp, runs, episodes))


def _atomically(path: Path, write: Callable[[Path], int]) -> int:
    """Run ``write`` on a temporary file beside ``path``, then rename it to ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        count = write(tmp)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


def _write_jsonl(path: Path, runs: list[RunRecord], episodes: Iterator[EpisodeRecord]) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for run in runs:
            out.write(json.dumps({"type": "run", **run.to_json()}, ensure_ascii=False) + "\n")
        for episode in episodes:
            out.write(json.dumps({"type": "episode", **episode.to_json()}, ensure_ascii=False)
                      + "\n")
            count += 1
    return count


def import_store(store: ReplayStore, path: str | Path) -> int:
    """Read an export into ``store``; return how many episodes were new."""
    path = Path(path)
    if not path.is_file():
        raise WebResearchError(f"Expects an export file, actual: {str(path)!r} does not exist")
    runs, episodes = (_read_parquet(path) if path.suffix == ".parquet" else _read_jsonl(path))
    known = {r.run_id for r in store.runs()}
    for run in runs:
        if run.run_id not in known:
            store.create_run(run)
    added, batch = 0, []
    for episode in episodes:
        batch.append(episode)
        if len(batch) == _BATCH:
            added += store.append(batch)
            batch = []
    return added + store.append(batch)


def _read_jsonl(path: Path) -> tuple[list[RunRecord], Iterator[EpisodeRecord]]:
    runs: list[RunRecord] = []
    lines = path.read_bytes().split(b"\n")
    for number, line in enumerate(lines, 1):
        data = _line(path, number, line)
        if data is not None and data.pop("type", None) == "run":
            runs.append(_parse(RunRecord.from_json, data, f"{path}:{number}"))
        elif data is not None and "steps" not in data:
            raise WebResearchError(f"{path}:{number}: expects a run or an episode record, "
                                   f"actual: keys {sorted(data)[:8]}")

    def episodes() -> Iterator[EpisodeRecord]:
        for number, line in enumerate(lines, 1):
            data = _line(path, number, line)
            if data is not None and data.pop("type", None) == "episode":
                yield _parse(EpisodeRecord.from_json, data, f"{path}:{number}")

    return runs, episodes()


def _line(path: Path, number: int, line: bytes) -> dict[str, Any] | None:
    """One line's JSON object (``None`` for a blank line); an error naming the line."""
    where = f"{path}:{number}"
    try:
        text = line.decode("utf-8")
        data = json.loads(text) if text.strip() else None
    except UnicodeDecodeError as exc:
        raise WebResearchError(f"{where}: expects UTF-8 text, actual: byte "
                               f"{line[exc.start]:#04x} at column {exc.start + 1}") from None
    except RecursionError:
        raise WebResearchError(f"{where}: expects JSON, actual: nested too deep") from None
    except ValueError as exc:
        raise WebResearchError(f"{where}: expects JSON, actual: {exc}") from None
    if data is not None and not isinstance(data, dict):
        raise WebResearchError(f"{where}: expects a JSON object, actual: "
                               f"{type(data).__name__}")
    return data


def _parse(read: Callable[[dict[str, Any]], T], data: dict[str, Any], where: str) -> T:
    try:
        return read(data)
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError,
            WebResearchError) as exc:
        raise WebResearchError(f"{where}: expects a run or an episode record, actual: "
                               f"{reason(exc)}") from exc


def _pyarrow() -> Any:
    try:
        import pyarrow as pa  # noqa: PLC0415 - optional dependency
        import pyarrow.parquet as pq  # noqa: PLC0415
    except ImportError as exc:
        raise DependencyNotInstalled("pyarrow", "parquet") from exc
    return pa, pq


def _write_parquet(path: Path, runs: list[RunRecord], episodes: Iterator[EpisodeRecord]) -> int:
    pa, pq = _pyarrow()
    rows = [{**e.summary(), "record": json.dumps(e.to_json(), ensure_ascii=False)}
            for e in episodes]
    table = pa.Table.from_pylist(rows) if rows else pa.table({"record": pa.array([], pa.string())})
    metadata = {b"webresearch.runs": json.dumps([r.to_json() for r in runs]).encode()}
    pq.write_table(table.replace_schema_metadata(metadata), path)
    return len(rows)


def _read_parquet(path: Path) -> tuple[list[RunRecord], Iterator[EpisodeRecord]]:
    pa, pq = _pyarrow()
    try:
        table = pq.read_table(path)
        metadata = table.schema.metadata or {}
        runs = [_parse(RunRecord.from_json, r, f"{path}: runs")
                for r in json.loads(metadata.get(b"webresearch.runs", b"[]"))]
        records = table.column("record").to_pylist()
    except (pa.ArrowException, OSError, ValueError, KeyError, TypeError) as exc:
        raise WebResearchError(f"{path}: expects a Parquet export of a store, actual: "
                               f"{reason(exc)}") from exc

    def episodes() -> Iterator[EpisodeRecord]:
        for row, record in enumerate(records):
            where = f"{path}: row {row}"
            try:
                data = json.loads(record)
            except (TypeError, ValueError, RecursionError) as exc:
                raise WebResearchError(f"{where}: expects an episode record, actual: "
                                       f"{reason(exc)}") from None
            if not isinstance(data, dict):
                raise WebResearchError(f"{where}: expects an episode record, actual: "
                                       f"{type(data).__name__}")
            yield _parse(EpisodeRecord.from_json, data, where)

    return runs, episodes()
