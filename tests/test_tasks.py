"""Task loaders: plain, FlashRAG and DeepResearcher layouts, in JSONL, JSON and Parquet."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import dev_questions
from webresearch.cli import main
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
                supporting=(SupportingPage("u", "T", ("f",)), SupportingPage("v", "U", (), "U q")))
    assert Task.from_json(json.loads(json.dumps(task.to_json()))) == task
    assert "query" not in task.to_json()["supporting"][0]  # records stay as they were
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


GOOD = '{"question": "ok?", "answers": ["a"]}'
HOSTILE: dict[str, tuple[str, bytes]] = {
    "garbage-bytes": (".jsonl", bytes(range(256)) * 4),
    "garbage-json": (".json", b"\x00\xff\xfe garbage"),
    "invalid-utf8": (".jsonl", GOOD.encode() + b'\n{"question": "caf\xe9?", "answers": ["a"]}\n'),
    "invalid-utf8-json": (".json", b'[\n' + GOOD.encode() + b',\n{"question": "\xff"}]'),
    "deep-jsonl": (".jsonl", b"[" * 100_000 + b"]" * 100_000),
    "deep-json": (".json", b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    "deep-object": (".jsonl", b'{"a":' * 100_000 + b"1" + b"}" * 100_000),
    "bare-number": (".json", b"42"),
    "bare-string": (".json", b'"tasks"'),
    "bare-null": (".json", b"null"),
    "data-not-list": (".json", b'{"data": {"question": "q"}}'),
    "answers-number": (".jsonl", b'{"question": "q", "answers": 5}'),
    "answers-object": (".jsonl", b'{"question": "q", "answers": {"a": 1}}'),
    "answers-null-item": (".jsonl", b'{"question": "q", "answers": [null, "a"]}'),
    "answers-nested": (".jsonl", b'{"question": "q", "answers": [["a"]]}'),
    "ground-truth-number": (".jsonl", b'{"prompt": "q", "reward_model": {"ground_truth": 3}}'),
    "ground-truth-list-of-objects": (
        ".jsonl", b'{"prompt": "q", "reward_model": {"ground_truth": {"target": [{}]}}}'),
    "question-list-of-junk": (".jsonl", b'{"question": [1, 2], "answers": ["a"]}'),
    "id-object": (".jsonl", b'{"id": {"x": 1}, "question": "q", "answers": ["a"]}'),
    "dataset-number": (".jsonl", b'{"question": "q", "answers": ["a"], "dataset": 7}'),
    "huge-integer": (".jsonl", b'{"question": "q", "answers": [' + b"9" * 5000 + b"]}"),
    "task-json-bad-types": (".jsonl", b'{"version": 1, "supporting": 5, "id": "x", '
                                      b'"question": "q", "answers": ["a"]}'),
    "garbage-parquet": (".parquet", b"PAR1 this is not parquet PAR1"),
}


def _where(path: Path) -> str:
    """The message prefix a bad task file gets: ``file:line:`` (``file:`` for Parquet)."""
    return re.escape(str(path)) + (r"(:\d+|: row \d+)?: " if path.suffix == ".parquet"
                                   else r":\d+: ")


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_task_files_are_file_line_errors_and_exit_2(
        tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    suffix, content = HOSTILE[name]
    path = tmp_path / f"tasks{suffix}"
    path.write_bytes(content)
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    with pytest.raises(TaskError) as caught:
        load_tasks(path)
    message = str(caught.value)
    assert re.match(_where(path) + r"\S", message) and "\n" not in message, message
    assert main(["rollout", "--tasks", str(path), "--episodes", "1", "--no-store",
                 "--no-progress"]) == 2
    assert capsys.readouterr().err == f"webresearch: error: {message}\n"


def test_lone_surrogates_and_nul_become_replacement_characters(tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_bytes(b'{"question": "\\ud800 who?\\u0000", "answers": ["\\udfff", "a"]}\n')
    (task,) = load_tasks(path)
    assert (task.question, task.answers) == ("\ufffd who?\ufffd", ("\ufffd", "a"))
    raw = Task(id="x\ud800", question="q\x00", answers=("a\udc00",))  # in memory alike
    assert (raw.id, raw.question, raw.answers) == ("x\ufffd", "q\ufffd", ("a\ufffd",))
    assert Task.from_json(raw.to_json()) == raw


def test_errors_in_a_json_list_name_the_item_line(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{"version": 2, "data": [\n  ' + GOOD + ',\n  {"question": "q",\n'
                    '   "answers": 5}\n]}')
    with pytest.raises(TaskError, match=re.escape(f"{path}:3: expects gold answers as a string "
                                                  "or a list of strings, actual: int")):
        load_tasks(path)


def _check_outcome(path: Path) -> None:
    """Loading ``path`` gives well-typed tasks or a one-line ``file:line:`` TaskError."""
    try:
        tasks = load_tasks(path)
    except TaskError as exc:
        assert re.match(_where(path) + r"\S", str(exc)) and "\n" not in str(exc), str(exc)
        return
    for task in tasks:
        for text in (task.id, task.question, task.dataset, *task.answers):
            assert isinstance(text, str)
            text.encode("utf-8")
        assert task.answers


TEXT = st.text(max_size=6) | st.sampled_from(["\ud800", "a\udfffb", "", " "])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=10)
FIELDS = ["question", "answers", "golden_answers", "answer", "prompt", "id", "dataset",
          "data_source", "extra_info", "reward_model", "version", "supporting"]
RANDOM_RECORDS = st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=5) | JSON_VALUES


@settings(max_examples=150, deadline=None)
@given(records=st.lists(RANDOM_RECORDS, min_size=0, max_size=4), suffix=st.sampled_from(
    [".jsonl", ".json"]), layout=st.sampled_from(["list", "data", "tasks"]))
def test_any_json_task_file_loads_or_names_file_and_line(
        records: list[object], suffix: str, layout: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"tasks{suffix}"
        if suffix == ".jsonl":
            path.write_text("\n".join(json.dumps(r) for r in records))
        else:
            document = records if layout == "list" else {layout: records}
            path.write_text(json.dumps(document, indent=1))
        _check_outcome(path)


@settings(max_examples=100, deadline=None)
@given(content=st.binary(max_size=200), suffix=st.sampled_from([".jsonl", ".json", ".parquet"]))
def test_any_bytes_load_or_name_file_and_line(content: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"tasks{suffix}"
        path.write_bytes(content)
        _check_outcome(path)
