"""Simulated tasks: every supporting page carries a query the agent could have written."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from webresearch.envs.web_research import WebResearchEnv
from webresearch.policies import OraclePolicy
from webresearch.rollout import RolloutConfig, rollout
from webresearch.sim import World, WorldConfig, generate_tasks
from webresearch.train.compact import CompactFormat
from webresearch.web.snippets import tokenize


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=0, max_value=10_000))
def test_each_query_is_words_the_agent_has_read(seed: int) -> None:
    world = World.generate(WorldConfig(seed=seed, people=40, works=20, organizations=20))
    for task in generate_tasks(world, n=40, seed=seed):
        read = set(tokenize(task.question))
        for page in task.supporting:
            assert page.query.startswith(page.title)
            assert set(tokenize(page.query)) <= read | set(tokenize(page.title))
            assert page.title in task.question or any(
                page.title in p.facts for p in task.supporting)  # the name was read before
            read |= {t for fact in page.facts for t in tokenize(fact)}


def test_the_oracle_searches_only_what_it_has_read_and_answers_through_snippets() -> None:
    """A cloned model can imitate only actions made of what it saw: query words come from
    the question or an earlier observation, and the top snippet of each query holds the
    fact the next hop needs."""
    tasks = generate_tasks(World.generate(WorldConfig(seed=1000)), n=200, seed=0)

    def make_env() -> WebResearchEnv:
        return WebResearchEnv(web="sim:seed=1000", tasks=tasks, action_format=CompactFormat(),
                              max_turns=4, top_k=1)

    config = RolloutConfig(progress=False, keep_results=True)
    episodes = asyncio.run(rollout(make_env, OraclePolicy(tasks, CompactFormat()), tasks,
                                   config)).results
    realizable = 0
    for episode in episodes:
        read = set(tokenize(episode.task.question))
        ok = True
        for step in episode.steps:
            if "<search>" in step.action:
                query = step.action.split("<search>")[1].split("</search>")[0]
                ok &= set(tokenize(query)) <= read
            read |= set(tokenize(step.observation))
        realizable += ok
    assert realizable == len(episodes)
    assert sum(e.f1 for e in episodes) / len(episodes) >= 0.95
