"""What an export writes is JSON that any reader takes: no bare NaN or Infinity."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.replay.conftest import episode
from webresearch.replay.export import export_store, strict_json
from webresearch.replay.schema import RunRecord
from webresearch.replay.store import ReplayStore

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                    st.text(alphabet=st.sampled_from('NaInfty-"\\ {}:,01'), max_size=12))
DATA = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=20)


def _refuse(token: str) -> Any:
    raise ValueError(f"a bare {token} is not JSON")


def _finite(value: Any) -> Any:
    """``value`` as :func:`strict_json` writes it: non-finite numbers as their names."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


@settings(max_examples=300, deadline=None)
@given(data=DATA)
def test_strict_json_is_valid_json_with_the_same_data(data: Any) -> None:
    text = strict_json(data)
    assert json.loads(text, parse_constant=_refuse) == _finite(data)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_a_run_config_with_nan_exports_as_valid_json(tmp_path: Path, suffix: str) -> None:
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    with ReplayStore(tmp_path / "s") as store:
        run = store.create_run(RunRecord(config={"temperature": math.nan, "cap": math.inf}))
        store.append([episode(run.run_id)])
        export_store(store, tmp_path / f"out{suffix}")
    if suffix == ".jsonl":
        lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
        first = json.loads(lines[0], parse_constant=_refuse)
        assert [json.loads(line, parse_constant=_refuse)["type"] for line in lines] == [
            "run", "episode"]
    else:
        import pyarrow.parquet as pq

        meta = pq.read_schema(tmp_path / "out.parquet").metadata[b"webresearch.runs"]
        first = json.loads(meta, parse_constant=_refuse)[0]
    assert first["config"] == {"temperature": "NaN", "cap": "Infinity"}


def test_a_surrogate_pair_held_as_two_code_points_exports_as_its_character() -> None:
    from webresearch.replay.export import episode_line
    from webresearch.replay.schema import EpisodeRecord
    from webresearch.tasks import Task

    task = Task(id="t", question="Smile \ud83d\ude00 or \ud800?", answers=("a",))
    line = episode_line(EpisodeRecord("r", task, 0, "timeout", None, None, None))
    assert json.loads(line)["task"]["question"] == "Smile \U0001f600 or \ufffd?"
