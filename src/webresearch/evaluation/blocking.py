"""Evaluation's default: envs that chose no blocklist block the benchmarks' hosts."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from webresearch.envs.blocklist import check_entries
from webresearch.envs.web_research import WebResearchEnv

__all__ = ["blocking"]


def blocking(make_env: Callable[[], WebResearchEnv],
             entries: Iterable[str] = ("benchmarks",)) -> Callable[[], WebResearchEnv]:
    """``make_env`` whose envs block ``entries`` unless they chose a blocklist themselves
    (``blocked_domains`` set, ``()`` included): what :func:`~webresearch.evaluation.evaluate`
    applies."""
    chosen = tuple(entries)
    check_entries(chosen)  # a bad entry is an error now, not in every env made

    def make() -> WebResearchEnv:
        env = make_env()
        if env.config.blocked_domains is not None:
            return env
        config = dataclasses.replace(env.config, blocked_domains=chosen)
        again = WebResearchEnv(config, render_mode=env.render_mode)
        env.close()
        return again

    return make
