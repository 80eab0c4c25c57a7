"""One runner interface for local and Ray rollouts, and the runner of this process."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from webresearch.envs.web_research import WebResearchEnv
from webresearch.policies.policy import Policy
from webresearch.replay.schema import EpisodeRecord, RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.rollout.local import RolloutConfig, RolloutReport, rollout
from webresearch.tasks import Task
from webresearch.web.closing import AsyncClosing

__all__ = ["LocalRunner", "Runner"]


@runtime_checkable
class Runner(Protocol):
    """Runs scheduled episodes of a policy and records them, wherever they run.

    :class:`LocalRunner` runs them on this process's event loop;
    :class:`~webresearch.distributed.RayRunner` on Ray workers. A learner drives
    either through this interface (as Gymnasium's ``VectorEnv`` hides whether its envs
    are in this process or others).
    """

    store: ReplayStore | None
    """Where the runner records each episode as it ends; ``None``: it only hands them back
    (the training loop's producers then record them under the ids of their groups)."""

    async def run(self, tasks: Sequence[Task], config: RolloutConfig | None = None, *,
                  run: RunRecord | None = None, policy_version: int = 0,
                  on_episode: Callable[[EpisodeRecord], None] | None = None) -> RolloutReport:
        """Run ``tasks`` as ``config`` schedules them, recorded in :attr:`store` under
        ``run``; each finished episode goes to ``on_episode`` (kept in the report, in
        schedule order, only with ``config.keep_results``)."""
        ...

    async def load_weights(self, state_dict: dict[str, Any]) -> None:
        """Make the policy sample from these weights from now on."""
        ...

    async def aclose(self) -> None:
        """Release the runner's resources; calling it again has no effect."""
        ...


class LocalRunner(AsyncClosing):
    """The runner of this process: :func:`~webresearch.rollout.rollout` with a fixed env
    factory, policy and store (which stay the caller's to close).

    Example:
        >>> import asyncio
        >>> from webresearch.policies import OraclePolicy
        >>> env = WebResearchEnv()
        >>> runner = LocalRunner(WebResearchEnv, OraclePolicy(env.tasks))
        >>> config = RolloutConfig(progress=False, keep_results=True)
        >>> report = asyncio.run(runner.run(env.tasks[:2], config))
        >>> isinstance(runner, Runner), [e.f1 for e in report.results]
        (True, [1.0, 1.0])
    """

    def __init__(self, make_env: Callable[[], WebResearchEnv], policy: Policy, *,
                 store: ReplayStore | None = None) -> None:
        self.make_env = make_env
        self.policy = policy
        self.store = store

    async def run(self, tasks: Sequence[Task], config: RolloutConfig | None = None, *,
                  run: RunRecord | None = None, policy_version: int = 0,
                  on_episode: Callable[[EpisodeRecord], None] | None = None) -> RolloutReport:
        return await rollout(self.make_env, self.policy, tasks, config, store=self.store,
                             run=run, policy_version=policy_version, on_episode=on_episode)

    async def load_weights(self, state_dict: dict[str, Any]) -> None:
        self.policy.load_weights(state_dict)
