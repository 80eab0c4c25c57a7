"""Episodes broken from outside carry their own status, never a silent 0, and never stop a run."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

import pytest

from webresearch.envs.fuzz import hostile_action
from webresearch.envs.web_research import WebResearchEnv
from webresearch.policies import Completion, OraclePolicy, Policy, SamplingParams
from webresearch.policies.policy import PromptLike
from webresearch.replay import ReplayStore
from webresearch.rollout import RolloutConfig, rollout
from webresearch.status import EpisodeStatus
from webresearch.web import MockWeb, Page, SearchHit, SearchResults


class HostilePolicy(Policy):
    """The oracle, except that every ``every``-th completion is hostile: garbage text, a
    raise, or text that is not text."""

    name = "hostile"

    def __init__(self, tasks: Sequence[object], every: int = 10) -> None:
        self.oracle = OraclePolicy(tasks)  # type: ignore[arg-type]
        self.every, self.calls, self.rng = every, 0, random.Random(0)

    async def generate(self, prompts: Sequence[PromptLike],
                       sampling: SamplingParams | None = None) -> list[Completion]:
        self.calls += 1
        if self.calls % self.every:
            return await self.oracle.generate(prompts, sampling)
        kind = self.calls // self.every % 3
        if kind == 0:
            return [Completion(hostile_action(self.rng))]
        if kind == 1:
            raise RuntimeError("the model server sent nonsense")
        return [Completion(None)] * len(prompts)  # type: ignore[arg-type]


def test_a_thousand_episodes_with_hostile_completions_are_all_recorded(tmp_path) -> None:
    tasks = WebResearchEnv().tasks
    store = ReplayStore(tmp_path / "store")
    try:
        report = asyncio.run(rollout(WebResearchEnv, HostilePolicy(tasks), tasks,
                                     RolloutConfig(keep_results=True, episodes=1000, concurrency=64,
                                                   progress=False), store=store))
        assert len(report.results) == 1000 and store.count(report.run_id) == 1000
        statuses = {r.status for r in report.results}
        assert EpisodeStatus.POLICY_ERROR in statuses and EpisodeStatus.ANSWERED in statuses
        for episode in report.results:
            assert (episode.reward is None) == (not episode.scored)
    finally:
        store.close()


class BuggyWeb(MockWeb):
    """A backend with a bug: fetching raises."""

    async def fetch(self, url: str) -> Page:
        raise KeyError("a bug in the backend")


def test_an_env_that_raises_ends_its_episode_as_env_error_with_the_traceback() -> None:
    def search(query: str, k: int) -> SearchResults:
        return SearchResults(query, (SearchHit("t", "https://x.test/", "s"),))

    def make_env() -> WebResearchEnv:
        return WebResearchEnv(tasks=[{"question": "Q?", "answers": ["a"]}],
                              web=BuggyWeb(search=search))

    class Browser(Policy):
        async def generate(self, prompts: Sequence[PromptLike],
                           sampling: SamplingParams | None = None) -> list[Completion]:
            return [Completion('<tool_call>{"name": "browse_webpage", "arguments": '
                               '{"url_list": ["https://x.test/"]}}</tool_call>')]

    report = asyncio.run(rollout(make_env, Browser(), make_env().tasks,
                                 RolloutConfig(keep_results=True, episodes=3, progress=False)))
    assert [r.status for r in report.results] == [EpisodeStatus.ENV_ERROR] * 3
    assert report.results[0].error == "KeyError: 'a bug in the backend'"
    assert "BuggyWeb" not in (report.results[0].error or "")
    assert "raise KeyError" in (report.results[0].traceback or "")


def test_a_policy_without_log_probs_records_none_not_zeros() -> None:
    pytest.importorskip("transformers")
    from webresearch.policies.tokens import TokenAssembler

    class Tokenizer:
        eos_token, eos_token_id = "</s>", 0

        def apply_chat_template(self, messages: list[dict[str, str]], **_: object) -> str:
            return "".join(f"<{m['role']}>{m['content']}</s>" for m in messages)

        def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
            return [ord(c) for c in text]

    tokens = TokenAssembler(Tokenizer())
    tokens.start([{"role": "user", "content": "q"}])
    tokens.add_completion([5, 6], [-0.1, -0.2])
    assert tokens.sampled_logprobs() is not None
    tokens.add_observation("obs")
    tokens.add_completion([7], None)
    assert tokens.sampled_logprobs() is None


def test_a_key_a_server_echoes_never_reaches_the_record() -> None:
    from webresearch.errors import PolicyError
    from webresearch.net.secrets import Secret

    key = Secret("sk-very-secret-1234")

    class Echo(Policy):
        async def generate(self, prompts: Sequence[PromptLike],
                           sampling: SamplingParams | None = None) -> list[Completion]:
            raise PolicyError(f"401: bad header 'Authorization: Bearer {key.reveal()}'")

    report = asyncio.run(rollout(WebResearchEnv, Echo(), WebResearchEnv().tasks[:1],
                                 RolloutConfig(keep_results=True, progress=False)))
    (episode,) = report.results
    assert episode.status is EpisodeStatus.POLICY_ERROR
    assert key.reveal() not in (episode.error or "") + (episode.traceback or "")
