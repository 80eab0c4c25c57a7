"""Tasks (a question and its gold answers) and loaders for the common dataset layouts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webresearch.errors import DependencyNotInstalled, TaskError

__all__ = ["TASK_SCHEMA_VERSION", "SupportingPage", "Task", "load_tasks", "task_from_record"]

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
    """

    url: str
    title: str
    facts: tuple[str, ...] = ()


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
            "supporting": [{"url": s.url, "title": s.title, "facts": list(s.facts)}
                           for s in self.supporting],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Task:
        version = data.get("version", TASK_SCHEMA_VERSION)
        if version != TASK_SCHEMA_VERSION:
            raise TaskError(f"Expects task schema version {TASK_SCHEMA_VERSION}, "
                            f"actual: {version!r}")
        supporting = tuple(SupportingPage(s["url"], s["title"], tuple(s.get("facts", ())))
                           for s in data.get("supporting", ()))
        return cls(id=str(data["id"]), question=data["question"],
                   answers=tuple(data["answers"]), dataset=data.get("dataset", ""),
                   kind=data.get("kind", ""), hops=int(data.get("hops", 0)),
                   supporting=supporting)


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
        raise TaskError(f"Expects a task file, actual: {str(path)!r} does not exist")
    if path.suffix == ".parquet":
        records: Iterable[tuple[str, Mapping[str, Any]]] = _parquet_records(path)
    elif path.suffix == ".json":
        data = _json(path.read_text(encoding="utf-8"), where=str(path))
        rows = data if isinstance(data, list) else data.get("data", data.get("tasks"))
        if not isinstance(rows, list):
            raise TaskError(f"{path}: expects a JSON list of tasks (or {{'data': [...]}})")
        records = ((f"{path}: item {i}", r) for i, r in enumerate(rows))
    else:
        records = _jsonl_records(path)
    tasks = [task_from_record(record, where=where) for where, record in records]
    if not tasks:
        raise TaskError(f"Expects at least one task in {path}, actual: none")
    return tasks


def _jsonl_records(path: Path) -> Iterable[tuple[str, Mapping[str, Any]]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if line.strip():
                yield f"{path}:{number}", _json(line, where=f"{path}:{number}")


def _parquet_records(path: Path) -> Iterable[tuple[str, Mapping[str, Any]]]:
    try:
        import pyarrow.parquet as pq  # noqa: PLC0415 - optional dependency
    except ImportError as exc:
        raise DependencyNotInstalled("pyarrow", "parquet") from exc
    for i, row in enumerate(pq.read_table(path).to_pylist()):
        yield f"{path}: row {i}", row


def _json(text: str, *, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TaskError(f"{where}: expects valid JSON, actual: {exc.msg}") from exc


def task_from_record(record: Mapping[str, Any], *, where: str = "record") -> Task:
    """Read one record in the plain, FlashRAG or DeepResearcher layout.

    Example:
        >>> task_from_record({"prompt": [{"role": "user", "content": "Q?"}],
        ...                   "reward_model": {"ground_truth": "a<|answer_split|>b"},
        ...                   "data_source": "nq"}).answers
        ('a', 'b')
    """
    if not isinstance(record, Mapping):
        raise TaskError(f"{where}: expects a JSON object, actual: {type(record).__name__}")
    if "version" in record and "supporting" in record:
        return Task.from_json(record)
    question = _question(record, where)
    answers = _answers(record, where)
    dataset = str(record.get("dataset") or record.get("data_source") or "")
    task_id = record.get("id") or (record.get("extra_info") or {}).get("index")
    if task_id is None:
        task_id = hashlib.sha1(question.encode()).hexdigest()[:12]
    return Task(id=str(task_id), question=question, answers=answers, dataset=dataset)


def _question(record: Mapping[str, Any], where: str) -> str:
    prompt = record.get("question", record.get("prompt"))
    if isinstance(prompt, Sequence) and not isinstance(prompt, str):
        users = [m.get("content") for m in prompt if isinstance(m, Mapping)
                 and m.get("role") == "user"]
        prompt = users[-1] if users else None
    if not isinstance(prompt, str) or not prompt.strip():
        raise TaskError(
            f"{where}: expects a non-empty 'question' (or DeepResearcher's 'prompt'), "
            f"actual keys: {sorted(record)}"
        )
    return prompt.strip()


def _answers(record: Mapping[str, Any], where: str) -> tuple[str, ...]:
    raw = record.get("answers", record.get("golden_answers", record.get("answer")))
    if raw is None and isinstance(record.get("reward_model"), Mapping):
        raw = record["reward_model"].get("ground_truth")
        if isinstance(raw, Mapping):  # Search-R1 stores {"target": [...]}
            raw = raw.get("target")
    if isinstance(raw, str):
        raw = raw.split(ANSWER_SPLIT)
    answers = tuple(str(a).strip() for a in (raw or ()) if str(a).strip())
    if not answers:
        raise TaskError(
            f"{where}: expects gold answers in 'answers', 'golden_answers' or "
            f"'reward_model.ground_truth', actual keys: {sorted(record)}"
        )
    return answers
