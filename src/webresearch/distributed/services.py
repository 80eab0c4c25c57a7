"""What every Ray worker shares: the policy, the rate-limit authority and the replay store."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from webresearch.distributed.cluster import NAMESPACE, node_id, require_ray
from webresearch.errors import StateError, WebResearchError
from webresearch.net.rate_limit import LocalAuthority, Rate
from webresearch.policies.policy import Completion, Policy, PromptLike, SamplingParams
from webresearch.replay.schema import EpisodeRecord, RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.replay.writer import EpisodeWriter

__all__ = ["AuthorityServer", "PolicyServer", "RayAuthority", "RemotePolicy", "StoreServer",
           "open_run"]


def open_run(store: ReplayStore, run: RunRecord) -> str:
    """Create ``run`` in ``store`` unless it is there already; return its id."""
    if run.run_id not in {r.run_id for r in store.runs()}:
        store.create_run(run)
    return run.run_id


class AuthorityServer:
    """Ray actor body: the one place that hands out request slots for every worker.

    Workers lease slots in blocks (see :class:`~webresearch.net.rate_limit.
    RateLimiter`), so the actor answers a few calls per second per host, not one per
    request. Slot times are wall-clock (``time.time()``), shared by a node's processes.
    """

    def __init__(self) -> None:
        self.authority = LocalAuthority()

    async def reserve(self, key: str, rate: Rate, n: int) -> list[float]:
        return await self.authority.reserve(key, rate, n)


class RayAuthority:
    """A :class:`~webresearch.net.rate_limit.RateAuthority` that asks a named actor.

    The Ray runner installs one in each worker
    (:func:`~webresearch.net.rate_limit.use_authority`), so every live web of the run
    shares it; ``LiveWebConfig(rate_authority=RayAuthority(name))`` names one outright.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._handle: Any = None

    async def reserve(self, key: str, rate: Rate, n: int) -> list[float]:
        if self._handle is None:
            self._handle = require_ray().get_actor(self.name, namespace=NAMESPACE)
        slots: list[float] = await self._handle.reserve.remote(key, rate, n)
        return slots


class PolicyServer:
    """Ray actor body: one policy (say, an HF model on the GPU) serving every worker.

    Concurrent ``generate`` calls from all workers run together in the actor's event
    loop, so a backend that batches (HF micro-batching, vLLM) batches across workers.
    """

    def __init__(self, make_policy: Callable[[], Policy]) -> None:
        self.policy = make_policy()

    def describe(self) -> tuple[str, Any]:
        return self.policy.name, self.policy.tokenizer

    def node(self) -> str:
        """The id of the Ray node this actor runs on."""
        return node_id()

    async def generate(self, prompts: Sequence[PromptLike], sampling: SamplingParams | None
                       ) -> list[Completion]:
        return await self.policy.generate(prompts, sampling)

    def load_weights(self, state_dict: dict[str, Any]) -> None:
        """Sample from new weights from now on (the learner's, after a step)."""
        self.policy.load_weights(state_dict)

    async def aclose(self) -> None:
        await self.policy.aclose()


class RemotePolicy(Policy):
    """The worker's side of a :class:`PolicyServer`: a policy whose generate is a Ray call."""

    def __init__(self, handle: Any, name: str, tokenizer: Any) -> None:
        self.handle, self.name, self.tokenizer = handle, name, tokenizer

    async def generate(self, prompts: Sequence[PromptLike],
                       sampling: SamplingParams | None = None) -> list[Completion]:
        completions: list[Completion] = await self.handle.generate.remote(list(prompts), sampling)
        return completions


class StoreServer:
    """Ray actor body: the run's one writer to the replay store (group commit).

    Workers send each finished episode here, so neither they nor the driver touch the
    store's directory: it need only exist on the node this actor runs on (the
    driver's), and a store there serves a whole cluster.
    """

    def __init__(self, directory: Path) -> None:
        self.store = ReplayStore(directory)
        self.writer: EpisodeWriter | None = EpisodeWriter(self.store)

    def open_run(self, run: RunRecord) -> str:
        """Create ``run`` unless the store holds it; return its id."""
        return open_run(self.store, run)

    async def write(self, episode: EpisodeRecord) -> None:
        if self.writer is None:
            raise StateError("Expects an open store, actual: closed")
        await self.writer.write(episode)

    async def stored(self, episode_ids: Sequence[str]) -> list[EpisodeRecord]:
        """The episodes among ``episode_ids`` that are committed, once the writes that
        reached this actor are (a dead worker's last ones among them)."""
        if self.writer is not None:
            await self.writer.aclose()  # waits for the pending commits; the writer stays usable
        return self.find(self.store, episode_ids)

    @staticmethod
    def find(store: ReplayStore, episode_ids: Sequence[str]) -> list[EpisodeRecord]:
        """The episodes among ``episode_ids`` that ``store`` holds."""
        found = []
        for episode_id in episode_ids:
            try:
                found.append(store.episode(episode_id))
            except WebResearchError:
                continue
        return found

    def pid(self) -> int:
        return os.getpid()

    def node(self) -> str:
        """The id of the Ray node this actor runs on."""
        return node_id()

    async def aclose(self) -> None:
        if self.writer is not None:
            await self.writer.aclose()
            self.writer = None
            self.store.close()
