"""Importing judge verdicts is all or nothing: every verdict is checked (its run and its
episode in the file or the store, no judge saying two things of one episode) before
anything is written, and an error names its line; a verdict seen again is recorded once."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.replay.conftest import episode
from webresearch.errors import WebResearchError
from webresearch.replay.export import export_store, import_store
from webresearch.replay.schema import EpisodeRecord, RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.replay.verdicts import JudgeIdentity, VerdictRecord

JUDGES = (JudgeIdentity("j"), JudgeIdentity("j", seed=1))
# (episode: 0 or 1 of the file's run, or one of a run or an episode nobody has), judge,
# verdict, rationale: few values, so that repeats, agreeing and conflicting, are common
VERDICT = st.tuples(st.sampled_from(["0", "1", "foreign run", "unknown episode"]),
                    st.sampled_from(JUDGES), st.booleans(), st.sampled_from(["", "why"]))


def _source(root: Path) -> tuple[RunRecord, list[EpisodeRecord]]:
    """A store of one run of two episodes, exported to ``base.jsonl`` (and ``.parquet``)."""
    with ReplayStore(root / "source") as source:
        run = source.create_run(RunRecord(policy="p"))
        episodes = [episode(run.run_id, group=g) for g in range(2)]
        source.append(episodes)
        export_store(source, root / "base.jsonl")
        export_store(source, root / "base.parquet")
    return run, episodes


def _verdict(run: RunRecord, episodes: list[EpisodeRecord],
             made: tuple[str, JudgeIdentity, bool, str]) -> VerdictRecord:
    which, judge, correct, rationale = made
    run_id = "nosuchrun" if which == "foreign run" else run.run_id
    episode_id = episodes[int(which)].episode_id if which.isdigit() else "nosuchepisode"
    return VerdictRecord(run_id, episode_id, judge, correct, rationale, created_at=1.0)


def _with_verdicts(root: Path, suffix: str, verdicts: list[VerdictRecord]) -> Path:
    """The base export with ``verdicts`` as its verdicts; each one's place in an error."""
    out = root / f"in{suffix}"
    if suffix == ".jsonl":
        out.write_text((root / "base.jsonl").read_text() + "".join(
            json.dumps({"type": "verdict", **v.to_json()}) + "\n" for v in verdicts))
        return out
    import pyarrow.parquet as pq

    table = pq.read_table(root / "base.parquet")
    metadata = {**table.schema.metadata,
                b"webresearch.verdicts": json.dumps([v.to_json() for v in verdicts]).encode()}
    pq.write_table(table.replace_schema_metadata(metadata), out)
    return out


def _where(path: Path, n: int) -> str:
    """Where the ``n``-th (0-based) verdict of ``_with_verdicts`` is: after 3 lines."""
    return f"{path}:{n + 4}: " if path.suffix == ".jsonl" else (
        f"{path}: verdict {n + 1} of its metadata: ")


def _expected(run_id: str, episode_ids: set[str], stored: list[VerdictRecord],
              filed: list[VerdictRecord]) -> tuple[int, str] | list[VerdictRecord]:
    """The first refused verdict (its index, a piece of its error), or what is recorded."""
    said = {(v.episode_id, v.judge): v.correct for v in stored}
    recorded = list(stored)
    for n, v in enumerate(filed):
        if v.run_id != run_id:
            return n, "expects a verdict on a run of the file or the store"
        if v.episode_id not in episode_ids:
            return n, "expects a verdict on an episode of run"
        if said.setdefault((v.episode_id, v.judge), v.correct) != v.correct:
            return n, "expects one verdict per episode and judge"
        if v not in recorded:
            recorded.append(v)
    return recorded


def _contents(store: ReplayStore, run_id: str) -> tuple[object, ...]:
    return (store.runs(), sorted(e.episode_id for e in store.episodes()),
            store.verdicts(run_id))


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(filed=st.lists(VERDICT, max_size=6), prior=st.none() | st.lists(VERDICT, max_size=3))
def test_an_import_records_each_verdict_once_or_nothing(
        suffix: str, filed: list[tuple[str, JudgeIdentity, bool, str]],
        prior: list[tuple[str, JudgeIdentity, bool, str]] | None) -> None:
    """Into an empty store, or one that holds the run and some agreeing verdicts already:
    the first bad verdict is an error naming its place, and the store is as it was."""
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run, episodes = _source(root)
        path = _with_verdicts(root, suffix, [_verdict(run, episodes, m) for m in filed])
        with ReplayStore(root / "target") as target:
            if prior is not None:
                import_store(target, root / "base.jsonl")
                agreed: dict[tuple[str, JudgeIdentity], bool] = {}
                ok = [_verdict(run, episodes, m) for m in prior if m[0].isdigit()]
                target.add_verdicts([replace(v, correct=agreed.setdefault(
                    (v.episode_id, v.judge), v.correct)) for v in ok])
            before = _contents(target, run.run_id)
            expected = _expected(run.run_id, {e.episode_id for e in episodes}, before[2],
                                 [_verdict(run, episodes, m) for m in filed])
            if isinstance(expected, tuple):
                with pytest.raises(WebResearchError) as caught:
                    import_store(target, path)
                n, why = expected
                assert str(caught.value).startswith(_where(path, n) + why)
                assert str(caught.value).endswith("; nothing was imported")
                assert _contents(target, run.run_id) == before
                return
            added = [import_store(target, path) for _ in range(2)]  # the second: a no-op
            assert added == [2 if prior is None else 0, 0]
            assert target.verdicts(run.run_id) == expected
            assert len(target.runs()) == 1


def test_a_verdict_alone_is_on_an_episode_the_store_holds(tmp_path: Path) -> None:
    """A file of verdicts alone: recorded when the store holds their episodes; an error
    naming the line when it holds the run but not the episode, or contradicts it."""
    run, episodes = _source(tmp_path)
    judge = JudgeIdentity("j")
    path = tmp_path / "verdicts.jsonl"

    def write(*verdicts: VerdictRecord) -> None:
        path.write_text("".join(json.dumps({"type": "verdict", **v.to_json()}) + "\n"
                                for v in verdicts))

    with ReplayStore(tmp_path / "target") as target:
        import_store(target, tmp_path / "base.jsonl")
        good = VerdictRecord(run.run_id, episodes[0].episode_id, judge, True, created_at=1.0)
        write(good, replace(good, episode_id="nosuchepisode"))
        with pytest.raises(WebResearchError, match=f"^{path}:2: expects a verdict on an "
                                                   f"episode of run '{run.run_id}'"):
            import_store(target, path)
        assert target.verdicts(run.run_id) == []
        write(good)
        import_store(target, path)
        write(replace(good, rationale="again", created_at=2.0),
              replace(good, correct=False, created_at=3.0))
        with pytest.raises(WebResearchError, match=f"^{path}:2: expects one verdict per "
                                                   "episode and judge, actual: correct=False "
                                                   ".* where the store says correct=True"):
            import_store(target, path)
        assert target.verdicts(run.run_id) == [good]


def test_a_parquet_row_whose_columns_name_another_episode_is_refused(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    _source(tmp_path)
    table = pq.read_table(tmp_path / "base.parquet")
    ids = table.column("episode_id").to_pylist()[::-1]
    column = table.schema.get_field_index("episode_id")
    path = tmp_path / "swapped.parquet"
    pq.write_table(table.set_column(column, "episode_id", pa.array(ids)), path)
    with ReplayStore(tmp_path / "target") as target, pytest.raises(
            WebResearchError, match="row 0: expects its record's episode_id and run_id in its "
                                    "columns"):
        import_store(target, path)
