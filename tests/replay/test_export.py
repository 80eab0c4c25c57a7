"""Export to JSONL and Parquet and import back: the same records (judge verdicts too),
nothing twice."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.replay.conftest import episode
from webresearch.errors import WebResearchError
from webresearch.replay.export import _BATCH, export_store, import_store
from webresearch.replay.schema import RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.replay.verdicts import JudgeIdentity, VerdictRecord, VerdictSource


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    with ReplayStore(tmp_path / "a") as source:
        runs = [source.create_run(RunRecord(policy=f"p{i}")) for i in range(2)]
        originals = [episode(r.run_id, group=g) for r in runs for g in range(3)]
        source.append(originals)
        out = tmp_path / f"export{suffix}"
        assert export_store(source, out) == 6
        assert export_store(source, tmp_path / f"one{suffix}", run_id=runs[0].run_id) == 3
    with ReplayStore(tmp_path / "b") as target:
        assert import_store(target, out) == 6
        assert import_store(target, out) == 0  # nothing recorded twice
        assert target.runs() == runs
        assert sorted(target.episodes(), key=lambda e: e.episode_id) == sorted(
            originals, key=lambda e: e.episode_id)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with ReplayStore(tmp_path) as store, pytest.raises(WebResearchError, match="does not exist"):
        import_store(store, tmp_path / "none.jsonl")


TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
VERDICTS = st.lists(st.builds(
    lambda group, correct, rationale, source, prompt, reply, model, created: (
        group, VerdictRecord("", "", JudgeIdentity(model, "http://j.test/v1", seed=group),
                             correct, rationale, source, prompt, None, reply, created)),
    st.integers(0, 2), st.booleans(), TEXT, st.sampled_from(VerdictSource),
    st.none() | TEXT, st.none() | TEXT, st.sampled_from(["j", "judge-ü"]),
    st.floats(0, 2e9, allow_nan=False)), max_size=6)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(made=VERDICTS)
def test_judge_verdicts_travel_with_their_episodes(suffix: str,
                                                    made: list[tuple[int, VerdictRecord]]
                                                    ) -> None:
    """Whatever text a verdict holds, an import holds the same verdicts, in order, once:
    several agreeing verdicts of one judge on one episode too, but an identical one once."""
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with ReplayStore(root / "a") as source:
            run = source.create_run(RunRecord(policy="p"))
            episodes = [episode(run.run_id, group=g) for g in range(3)]
            source.append(episodes)
            agreed: dict[tuple[int, str], bool] = {}  # a judge says one thing of an episode
            verdicts = [VerdictRecord(run.run_id, episodes[g].episode_id, v.judge,
                                      agreed.setdefault((g, v.judge.key), v.correct),
                                      v.rationale, v.source, v.prompt, None, v.reply,
                                      v.created_at) for g, v in made]
            source.add_verdicts(verdicts)
            recorded = source.verdicts(run.run_id)
            export_store(source, root / f"out{suffix}")
        with ReplayStore(root / "b") as target:
            for _ in range(2):
                import_store(target, root / f"out{suffix}")
            once = [v for n, v in enumerate(recorded) if v not in recorded[:n]]
            assert target.verdicts(run.run_id) == once
            assert len(recorded) == len(made)


def _spoil_last_episode(path: Path) -> str:
    """Make the last episode of the export at ``path`` hold ``"steps": "not a list"``;
    return where the import should say it is."""
    def spoil(text: str) -> str:
        data = json.loads(text)
        return json.dumps({**data, "steps": "not a list"})

    if path.suffix == ".jsonl":
        lines = path.read_text().splitlines()
        last = max(n for n, line in enumerate(lines) if '"type": "episode"' in line)
        lines[last] = spoil(lines[last])
        path.write_text("\n".join(lines) + "\n")
        return f"{path}:{last + 1}"
    pa, pq = pytest.importorskip("pyarrow"), pytest.importorskip("pyarrow.parquet")
    table = pq.read_table(path)
    records = table.column("record").to_pylist()
    records[-1] = spoil(records[-1])
    at = table.schema.get_field_index("record")
    pq.write_table(table.set_column(at, "record", pa.chunked_array([records])), path)
    return f"{path}: row {len(records) - 1}"


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_a_bad_episode_after_several_write_batches_leaves_the_store_unchanged(
        tmp_path: Path, suffix: str) -> None:
    """Every record is checked before the first is written: nothing half imported."""
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    with ReplayStore(tmp_path / "a") as source:
        run = source.create_run(RunRecord(policy="p"))
        source.append([episode(run.run_id, group=g, size=1) for g in range(2 * _BATCH + 1)])
        out = tmp_path / f"export{suffix}"
        export_store(source, out)
    where = _spoil_last_episode(out)
    with ReplayStore(tmp_path / "b") as target:
        with pytest.raises(WebResearchError) as caught:
            import_store(target, out)
        assert target.runs() == [] and len(target) == 0
        assert str(caught.value) == (
            f"{where}: expects a run, episode or verdict record, actual: field 'steps' is a "
            "string, not an array; nothing was imported")
