"""Recorded runs: the trajectory store, its schema, exports, and offline replay of the web."""

from __future__ import annotations

from webresearch.replay.cursor import CursorState, GroupCursor, GroupKey, ReadyGroup
from webresearch.replay.schema import SCHEMA_VERSION, EpisodeRecord, RunRecord, StepRecord
from webresearch.replay.store import ReplayStore
from webresearch.replay.writer import EpisodeWriter
from webresearch.web.calls import WebCall

__all__ = ["SCHEMA_VERSION", "CursorState", "EpisodeRecord", "EpisodeWriter", "GroupCursor",
           "GroupKey", "ReadyGroup", "ReplayStore", "RunRecord", "StepRecord", "WebCall"]
