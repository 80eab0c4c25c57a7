"""The record schema round-trips and refuses other versions."""

from __future__ import annotations

import json
import re

import pytest

from tests.replay.conftest import episode
from webresearch.errors import WebResearchError
from webresearch.replay.schema import EpisodeRecord, RunRecord
from webresearch.status import ActionKind, EpisodeStatus


def test_episode_round_trips_through_json() -> None:
    original = episode("r")
    again = EpisodeRecord.from_json(json.loads(json.dumps(original.to_json())))
    assert again == original
    assert again.steps[0].web[0].response == original.steps[0].web[0].response
    assert again.steps[1].web[0].hash == original.steps[1].web[0].hash
    assert (again.tool_calls, again.cache_hits, again.cache_misses) == (2, 0, 2)
    assert [m["role"] for m in again.messages()] == ["user", "assistant", "user", "assistant",
                                                     "user", "assistant"]


def test_other_versions_are_refused() -> None:
    with pytest.raises(WebResearchError, match=re.escape("schema version in [1, 2], actual: 3")):
        EpisodeRecord.from_json({**episode("r").to_json(), "v": 3})


def test_schema_1_records_read_with_typed_statuses_and_no_score_when_broken() -> None:
    old = {**episode("r").to_json(), "v": 1, "status": "error", "reward": 0.0, "f1": 0.0,
           "em": 0.0}
    old.pop("traceback")
    for step in old["steps"]:
        step["tool"] = "search"
    record = EpisodeRecord.from_json(old)
    assert record.status is EpisodeStatus.ENV_ERROR and not record.scored
    assert (record.reward, record.f1, record.em) == (None, None, None)
    assert {s.tool for s in record.steps} <= {ActionKind.SEARCH}
    run = RunRecord(policy="p", config={"a": 1})
    assert RunRecord.from_json(run.to_json()) == run
