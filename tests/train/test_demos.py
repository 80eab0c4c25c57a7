"""Demonstrations: one policy per task, drawn by weight, recorded; the impatient oracle."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webresearch.envs.formats import Answer, get_format
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError
from webresearch.policies.heuristic import HeuristicPolicy
from webresearch.policies.policy import SamplingParams
from webresearch.policies.scripted import NoToolPolicy, OraclePolicy
from webresearch.replay.store import ReplayStore
from webresearch.sim.tasks import generate_tasks
from webresearch.sim.world import World, WorldConfig
from webresearch.train.compact import CompactFormat
from webresearch.train.demos import ImpatientPolicy, MixturePolicy, demo_policy, record_demos
from webresearch.train.heldout import evaluate


@settings(max_examples=30, deadline=None)
@given(st.text(min_size=1, max_size=60), st.integers(0, 5))
def test_a_question_is_played_by_one_policy_throughout(question: str, seed: int) -> None:
    mix = demo_policy([], CompactFormat(), oracle=0.0, seed=seed)
    first = mix.pick(question)
    assert all(mix.pick(question) is first for _ in range(3))
    conversation = [{"role": "user", "content": question}]
    assert mix.act(conversation) == first.act(conversation)


def test_the_draw_follows_the_weights() -> None:
    heuristic, floor = HeuristicPolicy(CompactFormat()), NoToolPolicy(CompactFormat())
    mix = MixturePolicy([(heuristic, 3.0), (floor, 1.0)])
    picks = Counter(mix.pick(f"question {i}").name for i in range(2000))
    assert 0.70 < picks["heuristic"] / 2000 < 0.80


@pytest.mark.parametrize("pairs", [[], [(NoToolPolicy(), 0.0)], [(NoToolPolicy(), -1.0)]],
                         ids=["none", "zero", "negative"])
def test_bad_weights_are_refused(pairs: list[tuple[NoToolPolicy, float]]) -> None:
    with pytest.raises(ConfigError, match=re.escape("Expects (policy, weight > 0) pairs")):
        MixturePolicy(pairs)  # type: ignore[arg-type]


def test_demonstrations_are_recorded_one_per_task(tmp_path: Path) -> None:
    tasks = WebResearchEnv().tasks[:10]
    mix = demo_policy(tasks, CompactFormat(), seed=1)

    def make_env() -> WebResearchEnv:
        return WebResearchEnv(tasks=tasks, action_format=CompactFormat(), top_k=1, max_turns=4)

    with ReplayStore(tmp_path) as store:
        run = asyncio.run(record_demos(store, make_env, mix, tasks))
        episodes = list(store.episodes(run.run_id))
    assert sorted(e.task.id for e in episodes) == sorted(t.id for t in tasks)
    assert store_notes(tmp_path, run.run_id) == "demonstrations"
    played = {e.task.id: mix.pick(e.task.question).name for e in episodes}
    silent = [e for e in episodes if played[e.task.id] == "no-tool"]
    assert all(e.tool_calls == 0 and e.answer == "I don't know" for e in silent)
    assert all(e.tool_calls > 0 for e in episodes if played[e.task.id] != "no-tool")


def store_notes(directory: Path, run_id: str) -> str:
    with ReplayStore(directory) as store:
        return store.run(run_id).notes


def test_the_impatient_oracle_stops_after_one_search() -> None:
    tasks = generate_tasks(World.generate(WorldConfig(seed=7)), n=60, seed=0)
    fmt = CompactFormat()

    def make_env() -> WebResearchEnv:
        return WebResearchEnv(web="sim:seed=7", tasks=tasks, action_format=fmt, top_k=1,
                              max_turns=4, reward="deepresearcher")

    oracle = asyncio.run(evaluate(OraclePolicy(tasks, fmt), make_env, tasks,
                                  sampling=SamplingParams()))
    impatient = asyncio.run(evaluate(ImpatientPolicy(OraclePolicy(tasks, fmt)), make_env,
                                     tasks, sampling=SamplingParams()))
    assert set(impatient.tool_calls) == {1}
    one_hop = [i for i, t in enumerate(tasks) if t.hops == 1]
    assert one_hop and all(impatient.f1[i] == oracle.f1[i] == 1.0 for i in one_hop)
    assert impatient.mean_f1 < oracle.mean_f1 - 0.3


@pytest.mark.parametrize("fmt_name", ["compact", "search-r1"])
def test_the_impatient_answer_reads_the_bare_question(fmt_name: str) -> None:
    fmt = CompactFormat() if fmt_name == "compact" else get_format(fmt_name)
    tasks = generate_tasks(World.generate(WorldConfig(seed=7)), n=200, seed=0)
    task = next(t for t in tasks if t.hops == 2 and t.question.startswith("Who"))
    impatient = ImpatientPolicy(OraclePolicy([task], fmt))
    prompt = fmt.user_prompt(task.question)
    first = impatient.act([{"role": "user", "content": prompt}])
    # the second sentence shares only the words of Search-R1's instructions
    result = (f"Kraemukreisk Jepudou: {task.question.rstrip('?')}. Search engine results, "
              "information, knowledge, reason, think and answer: Zhiakin Tov.")
    answer = fmt.parse(impatient.act([{"role": "user", "content": prompt},
                                      {"role": "assistant", "content": first},
                                      {"role": "user", "content": result}]))
    assert answer == Answer("Kraemukreisk Jepudou")
