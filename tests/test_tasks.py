"""Task loaders: plain, FlashRAG and DeepResearcher layouts, in JSONL, JSON and Parquet."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import dev_questions
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import TaskError
from webresearch.tasks import SupportingPage, Task, load_tasks, task_from_record

RECORDS = [
    {"question": "Plain?", "answers": ["a", "b"], "id": "p1", "dataset": "nq"},
    {"id": "f1", "question": "FlashRAG?", "golden_answers": ["c"]},
    {"prompt": [{"role": "system", "content": "s"}, {"role": "user", "content": "DR?"}],
     "reward_model": {"ground_truth": "d<|answer_split|>e", "style": "rule"},
     "data_source": "hotpotqa", "extra_info": {"index": 7}},
    {"prompt": "Search-R1?", "reward_model": {"ground_truth": {"target": ["f"]}}},
    {"question": "Single answer?", "answer": "g"},
]


def check(tasks: list[Task]) -> None:
    assert [t.question for t in tasks] == ["Plain?", "FlashRAG?", "DR?", "Search-R1?",
                                          "Single answer?"]
    assert [t.answers for t in tasks] == [("a", "b"), ("c",), ("d", "e"), ("f",), ("g",)]
    assert [t.dataset for t in tasks] == ["nq", "", "hotpotqa", "", ""]
    assert tasks[0].id == "p1" and tasks[2].id == "7" and len(tasks[3].id) == 12


def test_records_in_memory() -> None:
    check(load_tasks(RECORDS))


def test_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n\n")
    check(load_tasks(path))


def test_json(tmp_path: Path) -> None:
    (tmp_path / "list.json").write_text(json.dumps(RECORDS))
    (tmp_path / "dict.json").write_text(json.dumps({"data": RECORDS}))
    check(load_tasks(tmp_path / "list.json"))
    check(load_tasks(str(tmp_path / "dict.json")))


def test_parquet(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    rows = [{"question": r["question"], "golden_answers": [r["question"].lower()]}
            for r in RECORDS if "question" in r]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "t.parquet")
    tasks = load_tasks(tmp_path / "t.parquet")
    assert [t.answers for t in tasks] == [("plain?",), ("flashrag?",), ("single answer?",)]


def test_task_json_round_trip() -> None:
    task = Task(id="x", question="Q?", answers=("a",), dataset="sim", kind="chain", hops=2,
                supporting=(SupportingPage("u", "T", ("f",)),))
    assert Task.from_json(json.loads(json.dumps(task.to_json()))) == task
    assert task_from_record(task.to_json()) == task
    with pytest.raises(TaskError, match="Expects task schema version 1, actual: 99"):
        Task.from_json({**task.to_json(), "version": 99})


@pytest.mark.parametrize(("line", "message"), [
    ("{bad json", "t.jsonl:2: expects valid JSON"),
    ('{"question": "q"}', "t.jsonl:2: expects gold answers in 'answers'"),
    ('{"answers": ["a"]}', "t.jsonl:2: expects a non-empty 'question'"),
    ('{"question": "  ", "answers": ["a"]}', "expects a non-empty 'question'"),
    ('{"question": "q", "answers": ["", " "]}', "expects gold answers"),
    ("[1, 2]", "t.jsonl:2: expects a JSON object, actual: list"),
], ids=["json", "answers", "question", "blank-question", "blank-answers", "not-object"])
def test_bad_records_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"question": "ok", "answers": ["a"]}\n' + line + "\n")
    with pytest.raises(TaskError, match=re.escape(message)):
        load_tasks(path)


def test_empty_sources_are_errors(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl").write_text("\n")
    with pytest.raises(TaskError, match="at least one task"):
        load_tasks(tmp_path / "e.jsonl")
    with pytest.raises(TaskError, match="at least one task"):
        load_tasks([])


def test_deepresearcher_dev_set(dev_dataset: Path) -> None:
    tasks = load_tasks(dev_dataset)
    assert len(tasks) == dev_questions(dev_dataset)  # 875 in ../shared, 21 in the sample
    counts = {d: sum(t.dataset == d for t in tasks) for d in {t.dataset for t in tasks}}
    assert len(counts) == 7 and set(counts.values()) == {len(tasks) // 7}
    env = WebResearchEnv(tasks=dev_dataset)
    obs, info = env.reset(seed=0)
    assert obs == info["task"].question
    env.close()
