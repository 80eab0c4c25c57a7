"""Stored records: any bytes decode to a dict or a ValueError that says why."""

from __future__ import annotations

import json
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webresearch.replay import records
from webresearch.replay.records import check_summary, compress, decode, serialize

SUMMARY = {"episode_id": "e", "run_id": "r", "task_id": "t", "dataset": "", "group": 0,
           "status": "answered", "reward": 0.5}


@settings(max_examples=300, deadline=None)
@given(blob=st.binary(max_size=300) | st.builds(zlib.compress, st.binary(max_size=300)))
def test_any_bytes_decode_or_say_why(blob: bytes) -> None:
    try:
        assert isinstance(decode(blob), dict)
    except ValueError as exc:
        assert str(exc).startswith("expects ")


def test_a_compressed_bomb_is_refused_unread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "MAX_RECORD_BYTES", 1000)  # the same code path, smaller
    bomb = zlib.compress(b"[" + b" " * 100_000 + b"]", 9)
    with pytest.raises(ValueError, match="expects a record under 1000 bytes"):
        decode(bomb)


def test_deep_json_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="nested too deep"):
        decode(zlib.compress(b"[" * 100_000 + b"]" * 100_000))


def test_summaries_of_broken_episodes_have_no_reward() -> None:
    assert check_summary({**SUMMARY, "reward": None})["reward"] is None
    assert decode(compress(serialize(SUMMARY))) == SUMMARY
    with pytest.raises(ValueError, match="expects reward of type int, actual: str"):
        check_summary(json.loads(json.dumps({**SUMMARY, "reward": "1"})))
