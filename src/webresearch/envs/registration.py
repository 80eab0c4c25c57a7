"""Registration of the environment ids with Gymnasium, by entry-point string (imports nothing)."""

from __future__ import annotations

import gymnasium as gym

__all__ = ["ENV_IDS", "register_envs"]

ENV_IDS = ("WebResearch-v0",)


def register_envs() -> None:
    """Register ``WebResearch-v0`` (idempotent).

    Example:
        >>> register_envs()
        >>> "WebResearch-v0" in gym.registry
        True
    """
    if "WebResearch-v0" not in gym.registry:
        gym.register(
            id="WebResearch-v0",
            entry_point="webresearch.envs.web_research:WebResearchEnv",
            max_episode_steps=None,
            disable_env_checker=False,
        )
