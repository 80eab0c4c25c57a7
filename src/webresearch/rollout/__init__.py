"""Rollouts: many concurrent episodes of a policy in the env, recorded and summarised."""

from __future__ import annotations

from webresearch.replay.schema import EpisodeRecord
from webresearch.rollout.adaptive import AdaptiveConfig, AdaptiveTrace
from webresearch.rollout.episode import run_episode
from webresearch.rollout.local import RolloutConfig, RolloutReport, rollout, schedule, with_config
from webresearch.rollout.runner import LocalRunner, Runner
from webresearch.rollout.summary import (
    RolloutStats,
    RolloutSummary,
    format_summary,
    summarize,
)

__all__ = ["AdaptiveConfig", "AdaptiveTrace", "EpisodeRecord", "LocalRunner", "RolloutConfig",
           "RolloutReport", "RolloutStats", "RolloutSummary", "Runner", "format_summary",
           "rollout", "run_episode", "schedule", "summarize", "with_config"]
