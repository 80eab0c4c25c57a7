"""The environment: Gymnasium's API, registration, episodes, limits and misuse."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import webresearch
from tests.conftest import answer, browse, search
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError, StateError, WebResearchError
from webresearch.tasks import Task
from webresearch.web import MockWeb


@pytest.mark.parametrize("options", [
    {}, {"action_format": "search-r1"}, {"on_format_error": "feedback"},
    {"tasks": [{"question": "Q?", "answers": ["A"]}], "web": MockWeb()},
], ids=["default", "search-r1", "feedback", "custom"])
def test_gym_make_and_check_env_with_warnings_as_errors(options: dict[str, object]) -> None:
    env = gym.make("WebResearch-v0", **options)
    check_env(env.unwrapped)  # filterwarnings=error turns any checker warning into a failure
    env.close()


def test_make_with_module_prefix_needs_no_prior_import() -> None:
    code = ("import gymnasium as gym; env = gym.make('webresearch:WebResearch-v0'); "
            "obs, info = env.reset(seed=1); print(type(obs).__name__, info['task_id'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("str sim-0-0-")


def test_render_modes_pass_check_env() -> None:
    env = gym.make("WebResearch-v0", render_mode="ansi")
    check_env(env.unwrapped)
    env.reset(seed=0)
    assert env.render().startswith("[user]\n")
    env.close()


def test_seeded_resets_are_reproducible(env: WebResearchEnv) -> None:
    first = [env.reset(seed=s)[0] for s in range(5)]
    again = [env.reset(seed=s)[0] for s in range(5)]
    assert first == again
    assert len(set(first)) > 1


def test_seed_option_seeds_the_first_reset() -> None:
    a, b = WebResearchEnv(seed=7), WebResearchEnv(seed=7)
    assert [a.reset()[0] for _ in range(3)] == [b.reset()[0] for _ in range(3)]


def test_episode_search_browse_answer(env: WebResearchEnv, first_task: Task) -> None:
    obs, info = env.reset(options={"task": first_task})
    assert obs == first_task.question and info["task_id"] == first_task.id
    page = first_task.supporting[0]
    obs, reward, terminated, truncated, info = env.step(search(page.title))
    assert obs.startswith("<tool_response>") and page.url in obs
    assert (reward, terminated, truncated, info["action"]) == (0.0, False, False, "search")
    obs, *_ , info = env.step(browse(page.url))
    assert "Segment 1 of" in obs and info["tool_calls"] == 2
    obs, reward, terminated, truncated, info = env.step(answer(first_task.answers[0]))
    assert (reward, terminated, truncated) == (1.0, True, False)
    assert info["status"] == "answered" and info["f1"] == info["em"] == 1.0
    assert info["urls_visited"] == [page.url] and info["queries"] == [page.title]
    assert len(info["timings"]) == 3 and info["timings"][0].total_s >= 0


def test_browsing_again_returns_the_next_segment() -> None:
    text = "\n".join(f"line {i} " + "x" * 50 for i in range(100))
    env = WebResearchEnv(tasks=[{"question": "q", "answers": ["a"]}], segment_chars=1000,
                         web=MockWeb(fetch=lambda url: text))
    env.reset(seed=0)
    segments = [env.step(browse("https://a.test/"))[0] for _ in range(8)]
    assert "Segment 1 of 7" in segments[0] and "line 0 " in segments[0]
    assert "Segment 2 of 7" in segments[1] and "line 0 " not in segments[1]
    assert "Segment 7 of 7" in segments[6] and "browse the same URL again" not in segments[6]
    assert "No more content: all 7 segments" in segments[7]


def test_world_failures_become_observations(env: WebResearchEnv) -> None:
    env.reset(seed=0)
    obs, _, terminated, _, info = env.step(browse("https://simpedia.test/wiki/Nowhere"))
    assert "Could not read https://simpedia.test/wiki/Nowhere: 404 Not Found" in obs
    assert not terminated
    *_, info = env.step(answer("x"))
    assert info["errors"] == ["browse https://simpedia.test/wiki/Nowhere: 404 Not Found"]


def test_invalid_action_ends_the_episode_with_the_format_penalty(env: WebResearchEnv) -> None:
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step("no tags at all")
    assert (reward, terminated, truncated) == (-1.0, True, False)
    assert info["status"] == "format_error" and "expected <tool_call>" in info["error"]
    assert obs.startswith("Episode ended: ")


def test_feedback_mode_explains_and_lets_the_agent_retry() -> None:
    env = WebResearchEnv(on_format_error="feedback", action_format="search-r1", max_turns=3)
    task = env.tasks[0]
    env.reset(options={"task": task})
    obs, reward, terminated, _, info = env.step("I think the answer is 42")
    assert obs.startswith("<information>Invalid action: put a query between <search>")
    assert (reward, terminated, info["action"]) == (0.0, False, "invalid")
    *_, info = env.step(f"<answer>{task.answers[0]}</answer>")
    assert info["em"] == 1.0


def test_tool_budget_then_answer_then_truncation() -> None:
    env = WebResearchEnv(max_turns=2)
    env.reset(seed=0)
    env.step(search("a"))
    obs, *_ = env.step(search("b"))
    assert obs.endswith("You have used all 2 tool calls: give your final answer now.")
    obs, reward, terminated, truncated, info = env.step(search("c"))
    assert (terminated, truncated, info["status"]) == (False, True, "truncated")
    assert reward == -1.0 and "budget of 2 tool calls" in info["error"]


def test_extra_queries_and_urls_are_dropped_with_a_note(env: WebResearchEnv) -> None:
    env.reset(seed=0)
    obs, *_ = env.step(search("a", "b", "c", "d"))
    assert "Only the first 3 of 4 were used." in obs
    assert obs.count("Results for") + obs.count("No results for") == 3


def test_observations_are_cut_to_the_limit() -> None:
    env = WebResearchEnv(tasks=[{"question": "q" * 1000, "answers": ["a"]}],
                         max_observation_chars=300, segment_chars=5000,
                         web=MockWeb(fetch=lambda url: "y" * 5000))
    obs, _ = env.reset(seed=0)
    assert len(obs) == 300 and obs.endswith("[... truncated]")
    obs, *_ = env.step(browse("https://a.test/"))
    assert len(obs) == 300 and obs in env.observation_space


def test_reward_option_takes_names_and_functions() -> None:
    tasks = [{"question": "q", "answers": ["Paris France"]}]
    env = WebResearchEnv(tasks=tasks, reward="em")
    env.reset(seed=0)
    assert env.step(answer("Paris"))[1] == 0.0
    env = WebResearchEnv(tasks=tasks, reward=lambda response, golds: 0.25)
    env.reset(seed=0)
    assert env.step(answer("Paris"))[1] == 0.25
    with pytest.raises(ConfigError, match=re.escape("Did you mean 'f1'?")):
        WebResearchEnv(reward="f11")


def test_reset_options_select_tasks(env: WebResearchEnv) -> None:
    task = env.tasks[3]
    assert env.reset(options={"task_id": task.id})[1]["task"] == task
    assert env.reset(options={"task_index": 3})[1]["task"] == task
    obs, _ = env.reset(options={"task": {"question": "Why?", "answers": ["because"]}})
    assert obs == "Why?"
    with pytest.raises(ConfigError, match="Expects a known task_id"):
        env.reset(options={"task_id": "nope"})
    with pytest.raises(ConfigError, match=re.escape("Expects task_index in [0, 500)")):
        env.reset(options={"task_index": 500})


@pytest.mark.parametrize(("options", "message"), [
    ({"action_format": "serch-r1"}, "Did you mean 'search-r1'?"),
    ({"web": "simm"}, "Did you mean 'sim'?"),
    ({"max_turns": 0}, "Expects max_turns >= 1, actual: 0"),
    ({"on_format_error": "retry"}, "Expects on_format_error in ['end', 'feedback']"),
    ({"render_mode": "human"}, "Expects render_mode in ['ansi'] or None"),
    ({"tasks": "missing.jsonl"}, "Expects a task file, actual: 'missing.jsonl' does not exist"),
    ({"web": MockWeb()}, "which has no default task set"),
], ids=["format", "web", "max-turns", "format-error-mode", "render-mode", "tasks", "no-default"])
def test_bad_options_are_clear_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(WebResearchError, match=re.escape(message)):
        WebResearchEnv(**options)  # type: ignore[arg-type]


def test_unknown_env_id_suggests_the_right_one() -> None:
    with pytest.raises(gym.error.Error, match=re.escape("versioned environments: [ `v0` ]")):
        gym.make("WebResearch-v1")


def test_misuse_raises_state_errors(env: WebResearchEnv) -> None:
    with pytest.raises(StateError, match="no episode started"):
        env.step(answer("x"))
    env.reset(seed=0)
    env.step(answer("x"))
    with pytest.raises(StateError, match="the episode ended"):
        env.step(answer("x"))


def test_the_sync_api_works_inside_a_running_loop(env: WebResearchEnv) -> None:
    """A notebook, ``asyncio.run`` or an async framework may call the sync API."""
    env.reset(seed=0)
    task = env.state.task

    async def inside() -> tuple[str, float, bool]:
        obs, *_ = env.step(search(task.supporting[0].title))
        _, reward, terminated, _, _ = env.step(answer(task.answers[0]))
        return obs, reward, terminated

    obs, reward, terminated = asyncio.run(inside())
    assert task.supporting[0].url in obs and reward == 1.0 and terminated
    env.reset(seed=1)  # and outside it again, on the same env
    env.step(search("x"))


def test_no_output_at_interpreter_exit_without_close() -> None:
    import subprocess
    import sys

    code = ("import webresearch; env = webresearch.WebResearchEnv(); env.reset(seed=0); "
            "env.step('<answer>x</answer>')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0 and out.stderr == "", out.stderr


def test_async_api_runs_many_episodes_on_one_loop() -> None:
    async def episode(i: int) -> float:
        env = WebResearchEnv()
        task = env.tasks[i]
        await env.areset(options={"task": task})
        await env.astep(search(task.supporting[0].title))
        reward = (await env.astep(answer(task.answers[0])))[1]
        await env.aclose()
        return reward

    async def main() -> list[float]:
        return await asyncio.gather(*(episode(i) for i in range(50)))

    assert asyncio.run(main()) == [1.0] * 50


def test_sync_api_reuses_one_event_loop(env: WebResearchEnv) -> None:
    env.reset(seed=0)
    env.step(search("a"))
    loop = env._private._loop
    env.step(search("b"))
    assert env._private._loop is loop and loop is not None


def test_close_is_idempotent(env: WebResearchEnv) -> None:
    env.reset(seed=0)
    env.close()
    env.close()


def test_default_tasks_cover_every_kind(env: WebResearchEnv) -> None:
    kinds = {t.kind for t in env.tasks}
    assert len(env.tasks) == 500
    assert kinds == {"single", "chain", "comparison", "bridge-comparison"}
    assert {t.hops for t in env.tasks} == {1, 2, 3, 4}


def test_system_prompt_names_the_tools_and_date(env: WebResearchEnv) -> None:
    _, info = env.reset(seed=0)
    prompt = info["system_prompt"]
    assert "2026-01-01" in prompt and "web_search" in prompt and "browse_webpage" in prompt
    assert "at most 10 tool calls" in prompt
    assert webresearch.WebResearchEnv is WebResearchEnv
