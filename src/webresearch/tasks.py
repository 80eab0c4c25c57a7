"""Tasks (a question and its gold answers) and loaders for the common dataset layouts."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webresearch._lazy import require
from webresearch.errors import TaskError
from webresearch.untrusted import scalar_fields, scalar_text

__all__ = ["TASK_SCHEMA_VERSION", "SupportingPage", "Task", "check_text", "load_tasks",
           "task_from_record"]

TASK_SCHEMA_VERSION = 1
ANSWER_SPLIT = "<|answer_split|>"
"""DeepResearcher's separator between gold aliases in ``reward_model.ground_truth``."""


@dataclass(frozen=True, slots=True)
class SupportingPage:
    """A page that a task's answer rests on (known for simulated tasks).

    Attributes:
        url: The page's URL.
        title: The entity name under which a search finds the page.
        facts: Strings that the page states and the answer needs.
        query: A search query, in words the agent has read by then (the question's,
            earlier pages'), that finds the page with its facts in the snippet; "" if
            none is known.
    """

    url: str
    title: str
    facts: tuple[str, ...] = ()
    query: str = ""

    def __post_init__(self) -> None:
        scalar_fields(self, ("url", "title", "query"), ("facts",))


@dataclass(frozen=True, slots=True)
class Task:
    """A research question with its gold answers.

    Attributes:
        id: Stable identifier (derived from the question when the source has none).
        question: The question as the agent sees it.
        answers: Gold answer aliases; any one of them is correct.
        dataset: The source benchmark (``nq``, ``hotpotqa``, ``sim``, ...).
        kind: Question type (``single``, ``chain``, ``comparison``, ...), "" if unknown.
        hops: Number of pages the answer needs, 0 if unknown.
        supporting: The pages the answer rests on, in reading order, when known.
    """

    id: str
    question: str
    answers: tuple[str, ...]
    dataset: str = ""
    kind: str = ""
    hops: int = 0
    supporting: tuple[SupportingPage, ...] = ()

    def __post_init__(self) -> None:
        scalar_fields(self, ("id", "question", "dataset", "kind"), ("answers",))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with a schema version; :meth:`from_json` reads it back.

        Example:
            >>> task = Task(id="t1", question="Q?", answers=("a",))
            >>> Task.from_json(task.to_json()) == task
            True
        """
        return {
            "version": TASK_SCHEMA_VERSION, "id": self.id, "question": self.question,
            "answers": list(self.answers), "dataset": self.dataset, "kind": self.kind,
            "hops": self.hops,
            "supporting": [{"url": s.url, "title": s.title, "facts": list(s.facts),
                            **({"query": s.query} if s.query else {})}
                           for s in self.supporting],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Task:
        """Read :meth:`to_json`'s dict back; a :class:`TaskError` for anything else."""
        version = data.get("version", TASK_SCHEMA_VERSION)
        if version != TASK_SCHEMA_VERSION:
            raise TaskError(f"Expects task schema version {TASK_SCHEMA_VERSION}, "
                            f"actual: {version!r}")
        try:
            supporting = tuple(SupportingPage(s["url"], s["title"], tuple(s.get("facts", ())),
                                              s.get("query", ""))
                               for s in data.get("supporting", ()))
            task = cls(id=str(data["id"]), question=data["question"],
                       answers=tuple(data["answers"]), dataset=data.get("dataset", ""),
                       kind=data.get("kind", ""), hops=data.get("hops", 0),
                       supporting=supporting)
        except KeyError as exc:
            raise TaskError(f"Expects a task record with {exc.args[0]!r}, actual: none") from None
        except (TypeError, AttributeError) as exc:
            raise TaskError(f"Expects a task record, actual: {exc}") from None
        _check_task(task)
        return task


def _check_task(task: Task) -> None:
    """Raise :class:`TaskError` unless every field of ``task`` has its declared type."""
    texts = {"id": task.id, "question": task.question, "dataset": task.dataset,
             "kind": task.kind}
    texts.update({f"answers[{i}]": a for i, a in enumerate(task.answers)})
    for i, page in enumerate(task.supporting):
        texts.update({f"supporting[{i}].url": page.url, f"supporting[{i}].title": page.title,
                      f"supporting[{i}].query": page.query})
        texts.update({f"supporting[{i}].facts[{j}]": f for j, f in enumerate(page.facts)})
    for name, value in texts.items():
        check_text(value, name)
    if type(task.hops) is not int:
        raise TaskError(f"Expects 'hops' to be an integer, actual: {type(task.hops).__name__}")


def check_text(value: object, name: str) -> str:
    """``value`` as scalar text (a lone surrogate or NUL replaced) if it is a string; else
    a :class:`TaskError`.

    Example:
        >>> check_text("Who?", "question"), check_text("\\ud800?", "question")
        ('Who?', '\\ufffd?')
        >>> try:
        ...     check_text(7, "question")
        ... except TaskError as exc:
        ...     print(exc)
        Expects 'question' to be a string, actual: int
    """
    if not isinstance(value, str):
        raise TaskError(f"Expects {name!r} to be a string, actual: {type(value).__name__}")
    return scalar_text(value)


def load_tasks(source: str | Path | Iterable[Mapping[str, Any] | Task]) -> list[Task]:
    """Load tasks from a JSONL, JSON or Parquet file, or from records in memory.

    Records may be in any of three layouts: plain ``{"question", "answers"}``,
    FlashRAG's ``{"question", "golden_answers"}``, or DeepResearcher's
    ``{"prompt", "reward_model": {"ground_truth"}, "data_source"}`` with aliases
    joined by ``<|answer_split|>``.

    Example:
        >>> [t.answers for t in load_tasks([{"question": "Q?", "answers": ["a", "b"]}])]
        [('a', 'b')]
    """
    if isinstance(source, str | Path):
        return _load_file(Path(source))
    tasks = [r if isinstance(r, Task) else task_from_record(r, where=f"record {i}")
             for i, r in enumerate(source)]
    if not tasks:
        raise TaskError("Expects at least one task, actual: none")
    return tasks


def _load_file(path: Path) -> list[Task]:
    if not path.is_file():
        found = "is a directory" if path.is_dir() else "does not exist"
        raise TaskError(f"Expects a task file, actual: {str(path)!r} {found}")
    if path.suffix == ".parquet":
        records = _parquet_records(path)
    else:
        text = _utf8(path, path.read_bytes())
        records = _json_records(path, text) if path.suffix == ".json" else _jsonl_records(
            path, text)
    tasks = [task_from_record(record, where=where) for where, record in records]
    if not tasks:
        raise TaskError(f"{path}:1: Expects at least one task, actual: none")
    return tasks


Records = Iterable[tuple[str, Any]]
"""(where, record) pairs: where names the file and line (or row) of the record."""


def _utf8(path: Path, raw: bytes) -> str:
    """``raw`` as text (a leading byte-order mark dropped); an error naming the bad line."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise TaskError(f"{path}:{line}: expects UTF-8 text, actual: byte "
                        f"{raw[exc.start]:#04x} at column {column}") from None


def _jsonl_records(path: Path, text: str) -> Records:
    for number, line in enumerate(text.split("\n"), 1):
        if line.strip():
            yield f"{path}:{number}", _json(line, where=f"{path}:{number}")


def _json_records(path: Path, text: str) -> Records:
    """The records of a JSON list (or ``{"data": [...]}``), each with its line number."""
    data = _json(text, where=str(path), document=True)
    rows = data if isinstance(data, list) else (
        data.get("data", data.get("tasks")) if isinstance(data, dict) else None)
    if not isinstance(rows, list):
        raise TaskError(f"{path}:1: expects a JSON list of tasks (or {{'data': [...]}}), "
                        f"actual: {_kind(data if rows is None else rows)}")
    lines = _item_lines(text)
    return ((f"{path}:{lines[i] if i < len(lines) else 1}", r) for i, r in enumerate(rows))


_SPACE = re.compile(r"[ \t\n\r]*")


def _item_lines(text: str) -> list[int]:
    """Line numbers where the items of ``text``'s task list start (``text`` is valid JSON)."""
    decoder, pos = json.JSONDecoder(), _SPACE.match(text).end()  # type: ignore[union-attr]
    if text.startswith("{", pos):
        pos, found = pos + 1, -1
        while text[_skip(text, pos)] not in "}":
            key, pos = decoder.raw_decode(text, _skip(text, pos))
            pos = _skip(text, _skip(text, pos) + 1)  # past the colon
            if key in ("data", "tasks") and text.startswith("[", pos):
                found = found if key == "tasks" and found >= 0 else pos
            pos = _skip(text, decoder.raw_decode(text, pos)[1])
            pos += text[pos] == ","
        if found < 0:
            return []
        pos = found
    starts, pos = [], pos + 1
    while text[_skip(text, pos)] != "]":
        starts.append(_skip(text, pos))
        pos = _skip(text, decoder.raw_decode(text, starts[-1])[1])
        pos += text[pos] == ","
    return _lines_at(text, starts)


def _skip(text: str, pos: int) -> int:
    return _SPACE.match(text, pos).end()  # type: ignore[union-attr]


def _lines_at(text: str, offsets: list[int]) -> list[int]:
    lines, line, last = [], 1, 0
    for offset in offsets:
        line += text.count("\n", last, offset)
        lines.append(line)
        last = offset
    return lines


def _parquet_records(path: Path) -> Records:
    pa, pq = require("pyarrow", "parquet"), require("pyarrow.parquet", "parquet")
    try:
        rows = pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise TaskError(f"{path}: expects a Parquet file, actual: {str(exc)[:200]}") from None
    return ((f"{path}: row {i}", row) for i, row in enumerate(rows))


def _json(text: str, *, where: str, document: bool = False) -> Any:
    """``text`` decoded; a :class:`TaskError` at ``where`` (a whole ``document``: its line)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        line = f"{where}:{exc.lineno}" if document else where
        raise TaskError(f"{line}: expects valid JSON, actual: {exc.msg} (column {exc.colno})"
                        ) from None
    except RecursionError:
        raise TaskError(f"{where}{':1' if document else ''}: expects JSON of ordinary depth, "
                        "actual: nested too deep") from None
    except ValueError as exc:  # an integer too long to convert
        raise TaskError(f"{where}{':1' if document else ''}: expects valid JSON, actual: {exc}"
                        ) from None


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def task_from_record(record: Mapping[str, Any], *, where: str = "record") -> Task:
    """Read one record in the plain, FlashRAG or DeepResearcher layout.

    Example:
        >>> task_from_record({"prompt": [{"role": "user", "content": "Q?"}],
        ...                   "reward_model": {"ground_truth": "a<|answer_split|>b"},
        ...                   "data_source": "nq"}).answers
        ('a', 'b')
    """
    if not isinstance(record, Mapping):
        raise TaskError(f"{where}: expects a JSON object, actual: {_kind(record)}")
    try:
        if "version" in record and "supporting" in record:
            return Task.from_json(record)
        question = _question(record, where)
        answers = _answers(record, where)
        dataset = check_text(record.get("dataset") or record.get("data_source") or "",
                             "dataset")
        return Task(id=_id(record, question), question=question, answers=answers,
                    dataset=dataset)
    except TaskError as exc:
        message = str(exc)
        if message.startswith(where):
            raise
        raise TaskError(f"{where}: {message[:1].lower()}{message[1:]}") from None


def _id(record: Mapping[str, Any], question: str) -> str:
    extra = record.get("extra_info")
    task_id = record.get("id")
    if task_id is None and isinstance(extra, Mapping):
        task_id = extra.get("index")
    if task_id is None:
        return hashlib.sha1(question.encode()).hexdigest()[:12]
    if type(task_id) is not int:
        return check_text(task_id, "id")
    return str(task_id)


def _question(record: Mapping[str, Any], where: str) -> str:
    prompt = record.get("question", record.get("prompt"))
    if isinstance(prompt, list):
        users = [m.get("content") for m in prompt if isinstance(m, Mapping)
                 and m.get("role") == "user"]
        prompt = users[-1] if users else None
    if not isinstance(prompt, str) or not prompt.strip():
        raise TaskError(
            f"{where}: expects a non-empty 'question' (or DeepResearcher's 'prompt'), "
            f"actual keys: {sorted(map(str, record))[:10]}"
        )
    return check_text(prompt.strip(), "question")


def _answers(record: Mapping[str, Any], where: str) -> tuple[str, ...]:
    raw = record.get("answers", record.get("golden_answers", record.get("answer")))
    if raw is None and isinstance(record.get("reward_model"), Mapping):
        raw = record["reward_model"].get("ground_truth")
        if isinstance(raw, Mapping):  # Search-R1 stores {"target": [...]}
            raw = raw.get("target")
    if isinstance(raw, str):
        raw = raw.split(ANSWER_SPLIT)
    if raw is not None and not isinstance(raw, list | tuple):
        raise TaskError(f"{where}: expects gold answers as a string or a list of strings, "
                        f"actual: {_kind(raw)}")
    answers = tuple(_answer(a, i, where).strip() for i, a in enumerate(raw or ()))
    answers = tuple(a for a in answers if a)
    if not answers:
        raise TaskError(
            f"{where}: expects gold answers in 'answers', 'golden_answers' or "
            f"'reward_model.ground_truth', actual keys: {sorted(map(str, record))[:10]}"
        )
    return answers


def _answer(value: object, index: int, where: str) -> str:
    """One gold answer: a string, or a number written as one (``1998``)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return str(value)
    if not isinstance(value, str):
        raise TaskError(f"{where}: expects each gold answer to be a string, actual: "
                        f"{_kind(value)} at index {index}")
    return check_text(value, f"answers[{index}]")
