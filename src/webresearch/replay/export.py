"""Export a store to JSONL or Parquet, and import it back (ids kept, nothing duplicated).

The runs' judge verdicts (:mod:`~webresearch.replay.verdicts`) travel with their episodes,
so that ``webresearch eval --from-store`` on the imported store gives the same tables with
no judge call.

An export is written to an unpredictable temporary name beside the target, created
exclusively (``tempfile.mkstemp``: a symlink planted there is never followed), and
renamed once complete, so a failure (a full disk, a damaged store) never leaves a
partial file. A missing folder, a folder as the target or a full disk is one
:class:`~webresearch.errors.StoreError` naming the path. What is written is valid UTF-8
(text read from a store is scalar text; :func:`episode_line` makes sure of it). Damaged
records are left out and noted in the store's ``damaged``; an import names the line of
the first record it cannot read.

An import checks every verdict before it writes anything: each must be on an episode of
its run in the file or the store, and agree with every other verdict of the same judge on
that episode (in the file or the store); a verdict already held is not recorded again.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

from webresearch.errors import DependencyNotInstalled, StoreError, WebResearchError
from webresearch.replay.records import reason, stored_text
from webresearch.replay.schema import EpisodeRecord, RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.replay.verdicts import VerdictRecord
from webresearch.untrusted import loads_json

__all__ = ["episode_line", "export_store", "import_store", "write_atomically"]

_BATCH = 256
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Export:
    """An export file read and every record in it checked: its runs, its verdicts (each
    with where it is), the run of each of its episodes (by episode id), and the episodes,
    read again from the file as they are written (a large export is not held whole)."""

    runs: list[RunRecord]
    verdicts: list[tuple[str, VerdictRecord]]
    episode_runs: dict[str, str]
    episodes: Callable[[], Iterator[EpisodeRecord]]


def export_store(store: ReplayStore, path: str | Path, *, run_id: str | None = None) -> int:
    """Write the store's runs and episodes (or one run's) to ``.jsonl`` or ``.parquet``.

    Returns the number of episodes written. JSONL holds one ``{"type": "run" | "episode" |
    "verdict", ...}`` object a line; Parquet one row an episode (its queryable fields as
    columns, the whole record as JSON in ``record``) and the runs and verdicts in the
    file's metadata.
    """
    path = Path(path)
    _check_target(path)
    runs = [store.run(run_id)] if run_id is not None else store.runs()
    episodes = (e for run in runs for e in store.episodes(run.run_id))
    verdicts = [v for run in runs for v in store.verdicts(run.run_id)]
    if path.suffix == ".parquet":
        pa, pq = _pyarrow()  # before any file is made
        metadata = {b"webresearch.runs": strict_json([r.to_json() for r in runs]).encode(),
                    b"webresearch.verdicts": strict_json([v.to_json() for v in verdicts]).encode()}
        return write_atomically(path, lambda out: _write_parquet(out, episodes, metadata, pa, pq))
    return write_atomically(path, lambda out: _write_jsonl(out, runs, episodes, verdicts))


def episode_line(episode: EpisodeRecord, kind: str | None = None) -> str:
    """``episode`` as one line of JSON (with ``"type": kind`` first, if given), valid UTF-8.

    Example:
        >>> from webresearch.tasks import Task
        >>> task = Task(id="t", question="Q\\ud800?", answers=("a",))
        >>> "Q\\ufffd?" in episode_line(EpisodeRecord("r", task, 0, "timeout", None, None, None))
        True
    """
    data = episode.to_json() if kind is None else {"type": kind, **episode.to_json()}
    return _line_of(data)


def _line_of(data: dict[str, Any]) -> str:
    # json.dumps escapes NUL; a lone surrogate it writes as is: made U+FFFD here
    return stored_text(strict_json(data, ensure_ascii=False)) + "\n"


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)')


def strict_json(data: object, **options: Any) -> str:
    """``json.dumps(data)``, but valid JSON everywhere: a number that is not finite (a
    run's config may hold one) is written as the text ``"NaN"``, ``"Infinity"`` or
    ``"-Infinity"`` instead of the bare token that other readers refuse.

    Example:
        >>> strict_json({"lr": float("nan"), "note": "NaN stays", "cap": float("-inf")})
        '{"lr": "NaN", "note": "NaN stays", "cap": "-Infinity"}'
    """
    text = json.dumps(data, **options)
    if "NaN" not in text and "Infinity" not in text:
        return text
    return _TOKEN.sub(lambda m: f'"{m[1]}"' if m[1] else m[0], text)


def _check_target(path: Path) -> None:
    """A clear error, before anything is read or written, for a target no file can take."""
    if path.is_dir():
        raise StoreError(f"Expects a file to export to, actual: {str(path)!r} is a directory")
    if not path.parent.is_dir():
        found = "a file" if path.parent.exists() else "missing"
        raise StoreError(f"Expects a folder to write {str(path)!r} in, actual: "
                         f"{str(path.parent)!r} is {found}")


def write_atomically(path: Path, write: Callable[[IO[bytes]], int]) -> int:
    """Run ``write`` on a new file of an unpredictable name beside ``path`` (made
    exclusively: nothing planted there is followed), then rename it to ``path``.

    An ``OSError`` (a full disk, a folder that went away) is a
    :class:`~webresearch.errors.StoreError` naming ``path``, and leaves nothing behind.
    """
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _write_error(path, exc) from exc
    tmp = Path(name)
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 is for the temporary name only
        with os.fdopen(fd, "wb") as out:
            count = write(out)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _write_error(path, exc) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


def _write_error(path: Path, exc: OSError) -> StoreError:
    return StoreError(f"Expects to write {str(path)!r}, actual: {exc.strerror or exc}")


def _write_jsonl(out: IO[bytes], runs: list[RunRecord], episodes: Iterator[EpisodeRecord],
                 verdicts: list[VerdictRecord]) -> int:
    count = 0
    for run in runs:
        out.write(_line_of({"type": "run", **run.to_json()}).encode())
    for episode in episodes:
        out.write(episode_line(episode, "episode").encode())
        count += 1
    for verdict in verdicts:
        out.write(_line_of({"type": "verdict", **verdict.to_json()}).encode())
    return count


def import_store(store: ReplayStore, path: str | Path) -> int:
    """Read an export into ``store``; return how many episodes were new (a verdict that
    ``store`` already holds, or that the file repeats, is recorded once).

    Every record is checked before anything is written: one that cannot be read, a
    verdict on an episode of neither the file nor the store, or one that contradicts
    another verdict of its judge on its episode, is an error naming its line (in Parquet:
    its row or its place in the file's metadata), and then nothing is written.
    """
    path = Path(path)
    if not path.is_file():
        raise WebResearchError(f"Expects an export file, actual: {str(path)!r} does not exist")
    found = _read_parquet(path) if path.suffix == ".parquet" else _read_jsonl(path)
    known = {r.run_id for r in store.runs()}
    verdicts = _new_verdicts(store, found, known)
    for run in found.runs:
        if run.run_id not in known:
            store.create_run(run)
    added, batch = 0, []
    for episode in found.episodes():
        batch.append(episode)
        if len(batch) == _BATCH:
            added += store.append(batch)
            batch = []
    added += store.append(batch)
    store.add_verdicts(verdicts)
    return added


def _new_verdicts(store: ReplayStore, found: _Export, known: set[str]) -> list[VerdictRecord]:
    """The file's verdicts that ``store`` does not hold, each once, checked before anything
    is written: each on an episode of its run (in the file or the store), none saying
    otherwise than an earlier one of the same judge on the same episode."""
    stored = {v.run_id for _, v in found.verdicts} & known
    runs = known | {r.run_id for r in found.runs}
    episodes = {(s["run_id"], s["episode_id"]) for r in stored for s in store.summaries(r)}
    episodes.update((run, episode) for episode, run in found.episode_runs.items())
    first: dict[tuple[str, str, str], tuple[str, bool]] = {}
    seen: set[str] = set()
    for verdict in (v for r in stored for v in store.verdicts(r)):
        first.setdefault(_judged(verdict), ("the store", verdict.correct))
        seen.add(_key(verdict))
    new = []
    for where, v in found.verdicts:
        if v.run_id not in runs:
            raise WebResearchError(f"{where}: expects a verdict on a run of the file or the "
                                   f"store, actual: run {v.run_id!r:.80}; nothing was imported")
        if (v.run_id, v.episode_id) not in episodes:
            raise WebResearchError(
                f"{where}: expects a verdict on an episode of run {v.run_id!r:.80} in the file "
                f"or the store, actual: episode {v.episode_id!r:.80}; nothing was imported")
        was, correct = first.setdefault(_judged(v), (where, v.correct))
        if correct != v.correct:
            raise WebResearchError(
                f"{where}: expects one verdict per episode and judge, actual: correct="
                f"{v.correct} on episode {v.episode_id!r:.80} by {v.judge.describe()}, where "
                f"{was} says correct={correct}; nothing was imported")
        if (key := _key(v)) not in seen:
            seen.add(key)
            new.append(v)
    return new


def _judged(verdict: VerdictRecord) -> tuple[str, str, str]:
    return verdict.run_id, verdict.episode_id, verdict.judge.key


def _key(verdict: VerdictRecord) -> str:
    return json.dumps(verdict.to_json(), sort_keys=True)


def _read_jsonl(path: Path) -> _Export:
    runs: list[RunRecord] = []
    verdicts: list[tuple[str, VerdictRecord]] = []
    episode_runs: dict[str, str] = {}  # the first episode of an id is the one stored
    for where, kind, data in _records(path):
        if kind == "run":
            runs.append(_parse(RunRecord.from_json, data, where))
        elif kind == "verdict":
            verdicts.append((where, _parse(VerdictRecord.from_json, data, where)))
        elif kind == "episode":  # checked now, read again when written
            episode = _parse(EpisodeRecord.from_json, data, where)
            episode_runs.setdefault(episode.episode_id, episode.run_id)
        elif "steps" not in data:
            raise WebResearchError(f"{where}: expects a run, episode or verdict "
                                   f"record, actual: keys {sorted(data)[:8]}")

    def episodes() -> Iterator[EpisodeRecord]:
        for where, kind, data in _records(path):
            if kind == "episode":
                yield _parse(EpisodeRecord.from_json, data, where)

    return _Export(runs, verdicts, episode_runs, episodes)


def _records(path: Path) -> Iterator[tuple[str, object, dict[str, Any]]]:
    """Each line's place, ``type`` and JSON object (blank lines skipped), one at a time."""
    try:
        with path.open("rb") as file:
            for number, line in enumerate(file, 1):
                data = _line(path, number, line)
                if data is not None:
                    yield f"{path}:{number}", data.pop("type", None), data
    except OSError as exc:
        raise WebResearchError(f"Expects a readable export file, actual: {str(path)!r}: "
                               f"{exc.strerror or exc}") from exc


def _line(path: Path, number: int, line: bytes) -> dict[str, Any] | None:
    """One line's JSON object (``None`` for a blank line); an error naming the line."""
    where = f"{path}:{number}"
    try:
        text = line.decode("utf-8")
        data = loads_json(text) if text.strip() else None
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
        raise WebResearchError(f"{where}: expects a run, episode or verdict record, actual: "
                               f"{_wrong(exc, data)}; nothing was imported") from exc


_SHAPES = {"task": dict, "prompt": list, "steps": list, "leaks": list, "cost": dict}
"""The JSON type of a record's fields that hold more than a scalar."""


def _wrong(exc: BaseException, data: dict[str, Any]) -> str:
    """What is wrong with ``data``, in the file's terms (JSON types), not Python's."""
    for field, kind in _SHAPES.items():
        if field in data and not isinstance(data[field], kind):
            return f"field {field!r} is {_kind(data[field])}, not {_kind(kind())}"
    steps = data.get("steps")
    if isinstance(steps, list) and (odd := next(
            (n for n, s in enumerate(steps) if not isinstance(s, dict)), None)) is not None:
        return f"step {odd} is {_kind(steps[odd])}, not an object"
    if isinstance(exc, (TypeError, AttributeError)):
        return "a field of the wrong JSON type"
    return reason(exc)


def _kind(value: object) -> str:
    """A JSON value's type, with its article: ``'a string'``, ``'an array'``."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
             type(None): "null", int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)


def _pyarrow() -> Any:
    try:
        import pyarrow as pa  # noqa: PLC0415 - optional dependency
        import pyarrow.parquet as pq  # noqa: PLC0415
    except ImportError as exc:
        raise DependencyNotInstalled("pyarrow", "parquet") from exc
    return pa, pq


def _write_parquet(out: IO[bytes], episodes: Iterator[EpisodeRecord],
                   metadata: dict[bytes, bytes], pa: Any, pq: Any) -> int:
    rows = [{**_scalar(e.summary()), "record": episode_line(e).rstrip("\n")} for e in episodes]
    table = pa.Table.from_pylist(rows) if rows else pa.table({"record": pa.array([], pa.string())})
    pq.write_table(table.replace_schema_metadata(metadata), out)
    return len(rows)


def _scalar(row: dict[str, Any]) -> dict[str, Any]:
    return {k: stored_text(v) if isinstance(v, str) else v for k, v in row.items()}


def _read_parquet(path: Path) -> _Export:
    pa, pq = _pyarrow()
    try:
        table = pq.read_table(path)
        metadata = table.schema.metadata or {}
        runs = [_parse(RunRecord.from_json, r, f"{path}: runs")
                for r in loads_json(metadata.get(b"webresearch.runs", b"[]"))]
        verdicts = []
        for n, data in enumerate(loads_json(metadata.get(b"webresearch.verdicts", b"[]")), 1):
            where = f"{path}: verdict {n} of its metadata"
            verdicts.append((where, _parse(VerdictRecord.from_json, data, where)))
        records = table.column("record").to_pylist()
        ids = [table.column(c).to_pylist() if table.num_rows else []
               for c in ("episode_id", "run_id")]
    except (pa.ArrowException, OSError, ValueError, KeyError, TypeError) as exc:
        raise WebResearchError(f"{path}: expects a Parquet export of a store, actual: "
                               f"{reason(exc)}") from exc

    def episodes() -> Iterator[EpisodeRecord]:
        for row, record in enumerate(records):
            where = f"{path}: row {row}"
            try:
                data = loads_json(record)
            except (TypeError, ValueError, RecursionError) as exc:
                raise WebResearchError(f"{where}: expects an episode record, actual: "
                                       f"{reason(exc)}") from None
            if not isinstance(data, dict):
                raise WebResearchError(f"{where}: expects an episode record, actual: "
                                       f"{type(data).__name__}")
            episode = _parse(EpisodeRecord.from_json, data, where)
            if [episode.episode_id, episode.run_id] != [i[row] for i in ids]:
                raise WebResearchError(f"{where}: expects its record's episode_id and run_id "
                                       f"in its columns, actual: {[i[row] for i in ids]!r:.80}")
            yield episode

    for _ in episodes():  # every row checked before anything is written
        pass
    first: dict[str, str] = {}  # the first episode of an id is the one stored
    for episode_id, run_id in zip(*ids, strict=True):
        first.setdefault(str(episode_id), str(run_id))
    return _Export(runs, verdicts, first, episodes)
