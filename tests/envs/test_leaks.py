"""Leaks: a gold answer or the question's text shown to the agent is reported with its step,
URL and domain (only as far as the observation, cut to its limit, shows it; an answer too
short to be evidence only beside the question or alone); a blocklist withholds results and
refuses pages on benchmark hosts."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import answer, browse, search
from webresearch.envs import EnvConfig, WebResearchEnv
from webresearch.envs.blocklist import BENCHMARK_HOSTS, Blocklist
from webresearch.envs.leaks import COMMON_WORDS, LeakProbe
from webresearch.envs.rewards import normalize_answer
from webresearch.errors import ConfigError
from webresearch.evaluation import evaluate
from webresearch.evaluation.blocking import blocking
from webresearch.evaluation.tables import to_markdown
from webresearch.policies import OraclePolicy
from webresearch.replay.schema import EpisodeRecord
from webresearch.replay.store import ReplayStore
from webresearch.rollout import RolloutConfig, rollout
from webresearch.sim.served import served_spec
from webresearch.sim.server import SimInternet
from webresearch.tasks import Task
from webresearch.web import MockWeb, Page, SearchHit
from webresearch.web.leaks import Leak, LeakKind, LeakSource

TASK = Task(id="t1", question="Who founded the Pogre Works foundry?",
            answers=("Kraemukreisk Jepudou", "K. Jepudou"))
PAGES = {
    "https://www.history.test/pogre": "Pogre Works is a foundry of some renown.",
    "https://answers.example.org/q/17": "It was founded by KRAEMUKREISK JEPUDOU, in 1871.",
    "https://dump.test/qa": "Q: who founded the Pogre-Works foundry?? A: see below",
    "https://huggingface.co/datasets/nq/viewer": "K. Jepudou",
    "https://redirect.test/to-hf": "",
}
HITS = [SearchHit("Pogre Works", "https://www.history.test/pogre", "A foundry."),
        SearchHit("NQ viewer", "https://huggingface.co/datasets/nq/viewer", "K. Jepudou"),
        SearchHit("Trivia", "https://answers.example.org/q/17", "Who was it?")]


def _fetch(url: str) -> Page:
    if url == "https://redirect.test/to-hf":
        return Page(url=url, final_url="https://huggingface.co/datasets/nq/x", status=200,
                    title="", text="K. Jepudou")
    return Page(url=url, final_url=url, status=200, title="", text=PAGES[url])


def _env(**options: object) -> tuple[WebResearchEnv, MockWeb]:
    web = MockWeb(search=lambda q, k: HITS, fetch=_fetch)
    return WebResearchEnv(tasks=[TASK], web=web, date="2026-01-01", **options), web


def _play(env: WebResearchEnv, actions: list[str]) -> tuple[list[str], dict[str, object]]:
    env.reset(options={"task": TASK})
    observations, info = [], {}
    for action in actions:
        observation, _, _, _, info = env.step(action)
        observations.append(observation)
    return observations, info


def test_a_page_that_states_the_answer_is_a_leak_at_its_step_with_its_url() -> None:
    env, _ = _env(blocked_domains=("kaggle.com",))  # not the page's host: nothing withheld
    observations, info = _play(env, [
        browse("https://www.history.test/pogre"),            # step 0: no answer
        browse("https://answers.example.org/q/17"),          # step 1: the answer
        browse("https://answers.example.org/q/17"),          # step 2: nothing new
        answer("Kraemukreisk Jepudou")])
    leaks = info["outcome"].leaks
    assert leaks == (Leak(LeakKind.ANSWER, 1, "https://answers.example.org/q/17",
                          "answers.example.org", "kraemukreisk jepudou", LeakSource.PAGE),)
    assert "KRAEMUKREISK JEPUDOU" in observations[1]
    assert info["leaks"] == list(leaks)
    env.close()


def test_search_snippets_and_the_question_s_text_are_leaks_too() -> None:
    env, _ = _env()
    _, info = _play(env, [search("who founded it"), browse("https://dump.test/qa"),
                          answer("no idea")])
    leaks = {(leak.kind, leak.step, leak.domain, leak.source) for leak in info["outcome"].leaks}
    assert leaks == {(LeakKind.ANSWER, 0, "huggingface.co", LeakSource.SEARCH),
                     (LeakKind.QUESTION, 1, "dump.test", LeakSource.PAGE)}
    env.close()


def test_a_blocked_domain_s_results_are_withheld_and_its_pages_refused() -> None:
    env, web = _env(blocked_domains=("benchmarks",))
    observations, info = _play(env, [
        search("who founded it"), browse("https://huggingface.co/datasets/nq/viewer"),
        browse("https://redirect.test/to-hf"), answer("no idea")])
    assert "huggingface.co" not in observations[0].replace("huggingface.co/datasets/nq/x", "")
    assert "1 result(s) on blocked domains" in observations[0]
    assert "https://answers.example.org/q/17" in observations[0]  # the rest are shown
    assert "Refused https://huggingface.co/datasets/nq/viewer: it is on a blocked domain " \
           "(huggingface.co/datasets)" in observations[1]
    assert ("fetch", "https://huggingface.co/datasets/nq/viewer") not in web.requests
    assert "redirected to https://huggingface.co/datasets/nq/x" in observations[2]
    assert "Jepudou" not in "".join(observations[:3])
    assert info["outcome"].leaks == ()  # nothing the blocklist stopped was seen
    assert any("blocked domain" in e for e in info["outcome"].errors)
    env.close()


def test_the_blocklist_is_off_by_default_and_on_in_an_evaluation() -> None:
    assert EnvConfig().blocked_domains is None
    env, _ = _env()
    observations, _ = _play(env, [search("x")])
    assert "huggingface.co/datasets/nq/viewer" in observations[0]
    made = blocking(lambda: _env()[0])()
    assert made.config.blocked_domains == ("benchmarks",)
    observations, _ = _play(made, [search("x")])
    assert "huggingface.co/datasets/nq/viewer" not in observations[0]
    chosen = blocking(lambda: _env(blocked_domains=())[0])()  # chose none: kept
    assert chosen.config.blocked_domains == ()
    for e in (env, made, chosen):
        e.close()


@pytest.mark.parametrize(("url", "entry"), [
    ("https://huggingface.co/datasets/hotpot_qa", "huggingface.co/datasets"),
    ("https://www.kaggle.com/datasets/x", "kaggle.com"),
    ("https://sub.kaggle.com/", "kaggle.com"),
    ("https://github.com/hotpotqa/hotpot/blob/master/README.md", "github.com/hotpotqa"),
    ("https://GitHub.com/HotpotQA/hotpot", "github.com/hotpotqa"),
    ("https://huggingface.co/models", None), ("https://github.com/hotpotqa2/x", None),
    ("https://en.wikipedia.org/wiki/Trivia", None), ("https://notkaggle.com/", None),
    ("not a url", None), ("http://[::1/", None),
], ids=lambda v: str(v)[:30])
def test_blocklist_entries_match_hosts_and_path_prefixes(url: str, entry: str | None) -> None:
    assert Blocklist(["benchmarks"]).match(url) == entry


def test_every_default_host_is_a_valid_entry_and_bad_ones_are_config_errors() -> None:
    assert len(Blocklist(BENCHMARK_HOSTS).entries) >= 15
    for bad in ("", "https://kaggle.com", "a b.com", ("kaggle.com", 3)):
        with pytest.raises((ConfigError, TypeError)):
            EnvConfig(blocked_domains=bad if isinstance(bad, tuple) else (bad,))
    with pytest.raises(TypeError, match=re.escape("Expects blocked_domains of type")):
        EnvConfig(blocked_domains="kaggle.com")


# the match, re-derived independently -------------------------------------------------

def _contains(text: str, phrase: str) -> bool:
    """Whether ``phrase``'s normalised words appear in a row in ``text``'s."""
    words, wanted = normalize_answer(text).split(), normalize_answer(phrase).split()
    return bool(wanted) and any(words[i:i + len(wanted)] == wanted
                                for i in range(len(words) - len(wanted) + 1))


def _evidence(text: str, gold: str, question: str, whole: str | None = None) -> bool:
    """Whether ``text`` (the start of ``whole``, when cut) shows ``gold``: its words in a
    row, and, for a gold of one word of at most two characters or a common word, only
    where the whole text is the gold alone or the text also holds the question."""
    wanted = normalize_answer(gold).split()
    weak = len(wanted) == 1 and (len(wanted[0]) <= 2 or wanted[0] in COMMON_WORDS)
    alone = normalize_answer(text if whole is None else whole).split() == wanted
    return _contains(text, gold) and (not weak or alone or _contains(text, question))


WORDS = st.sampled_from(["a", "paris", "the", "Paris,", "PARIS!", "lyon", "x-y", "x", "y",
                         "Parisian", "(paris)", "1", "42", "Which", "city?", "yes"])


@settings(max_examples=300, deadline=None)
@given(text=st.lists(WORDS, max_size=12).map(" ".join),
       gold=st.lists(WORDS, min_size=1, max_size=3).map(" ".join))
def test_the_match_is_the_gold_s_normalised_words_in_a_row(text: str, gold: str) -> None:
    probe = LeakProbe.of(Task(id="t", question="Which city?", answers=(gold,)))
    found = [kind for kind, _ in probe.find(text)]
    assert (LeakKind.ANSWER in found) == _evidence(text, gold, "Which city?")


MOONS = Task(id="m", question="How many moons has Mars?", answers=("2", "two"))


@pytest.mark.parametrize(("text", "seen"), [
    ("Page 2 of 9", ()), ("Two roads diverged; see chapter 2.", ()), ("1 2 3 4", ()),
    ("2", ("answer",)), ("  Two. ", ("answer",)),
    ("Q: How many moons has Mars? A: 2", ("answer", "question")),
    ("how many moons has mars", ("question",)),
], ids=lambda v: str(v)[:24])
def test_a_short_or_common_answer_counts_only_alone_or_beside_the_question(
        text: str, seen: tuple[str, ...]) -> None:
    assert tuple(kind for kind, _ in LeakProbe.of(MOONS).find(text)) == seen


# what the agent receives: an observation cut to its limit ------------------------------

ANSWER_AT = "It was founded by Kraemukreisk Jepudou."
FILLER = "Lorem ipsum dolor sit amet. "


def _cut_env(pages: dict[str, str], hits: list[SearchHit], limit: int,
             fmt: str = "deepresearcher") -> WebResearchEnv:
    web = MockWeb(search=lambda q, k: hits,
                  fetch=lambda url: Page(url, url, 200, "", pages[url]))
    return WebResearchEnv(tasks=[TASK], web=web, date="2026-01-01", action_format=fmt,
                          max_observation_chars=limit, segment_chars=20_000)


def test_an_answer_beyond_the_cut_is_not_a_leak_and_one_before_it_is_at_its_step() -> None:
    late, early = "https://late.test/a", "https://early.test/b"
    env = _cut_env({late: FILLER * 40 + ANSWER_AT, early: ANSWER_AT + FILLER * 40}, [], 400)
    observations, info = _play(env, [browse(late), browse(early), answer("x")])
    assert "Jepudou" not in observations[0] and observations[0].endswith("[... truncated]")
    assert "Jepudou" in observations[1] and observations[1].endswith("[... truncated]")
    assert info["outcome"].leaks == (Leak(LeakKind.ANSWER, 1, early, "early.test",
                                          "kraemukreisk jepudou", LeakSource.PAGE),)
    env.close()


@settings(max_examples=60, deadline=None)
@given(before=st.integers(0, 60), limit=st.integers(256, 1600),
       fmt=st.sampled_from(["deepresearcher", "search-r1"]),
       tool=st.sampled_from(["search", "browse"]))
def test_a_leak_is_reported_exactly_when_the_received_observation_shows_it(
        before: int, limit: int, fmt: str, tool: str) -> None:
    """Wherever the cut falls (before, inside or after the answer; in a page or in the
    snippets of later results), the leak is reported iff the observation shows it."""
    if fmt == "search-r1":
        tool = "search"
    url = "https://p.test/x"
    hits = [SearchHit(f"R{i}", f"https://r{i}.test/", FILLER * 2) for i in range(before % 8)]
    hits.append(SearchHit("Pogre", url, FILLER * (before // 8) + ANSWER_AT))
    env = _cut_env({url: FILLER * before + ANSWER_AT}, hits, limit, fmt)
    action = (env.format.write_call("search", ["who"]) if tool == "search"
              else browse(url))
    observations, info = _play(env, [action, env.format.write_answer("x")])
    shown = " kraemukreisk jepudou " in f" {normalize_answer(observations[0])} "
    assert [(leak.step, leak.url) for leak in info["outcome"].leaks] == (
        [(0, url)] if shown else [])
    env.close()


# the simulated web, in process and over loopback ---------------------------------------

def _check_leaks_point_at_observations(episodes: list[EpisodeRecord]) -> int:
    seen = 0
    for episode in episodes:
        assert episode.leaks is not None
        for leak in episode.leaks:
            observation = episode.steps[leak.step].observation
            assert f" {leak.text} " in f" {normalize_answer(observation)} "
            assert leak.url in observation and leak.domain in leak.url
            seen += leak.kind is LeakKind.ANSWER
    return seen


@pytest.mark.parametrize("served", [False, True], ids=["sim", "serve-loopback"])
def test_the_oracle_sees_the_answer_on_the_simulated_web(served: bool) -> None:
    async def scenario() -> list[EpisodeRecord]:
        tasks = WebResearchEnv(web="sim").tasks[:6]
        config = RolloutConfig(progress=False, keep_results=True, concurrency=2)
        if not served:
            report = await rollout(lambda: WebResearchEnv(web="sim", tasks=tasks),
                                   OraclePolicy(tasks), tasks, config)
            return report.results
        async with SimInternet() as net:
            spec = served_spec(net.base_url, 0)
            tasks = WebResearchEnv(web=spec).tasks[:6]
            report = await rollout(lambda: WebResearchEnv(web=spec, tasks=tasks),
                                   OraclePolicy(tasks), tasks, config)
            return report.results

    episodes = asyncio.run(scenario())
    assert _check_leaks_point_at_observations(episodes) >= 1
    assert all(e.f1 == 1.0 for e in episodes)
    first = [next(leak for leak in e.leaks if leak.kind is LeakKind.ANSWER) for e in episodes
             if e.leaks]
    assert all(leak.step < len(e.steps) - 1 for leak, e in zip(first, episodes, strict=False))
    assert EpisodeRecord.from_json(episodes[0].to_json()) == episodes[0]


def test_an_evaluation_blocks_by_default_and_its_tables_report_leak_rates(
        tmp_path: Path) -> None:
    made: list[WebResearchEnv] = []

    def make_env() -> WebResearchEnv:
        made.append(WebResearchEnv(web="sim", tasks=tasks))
        return made[-1]

    tasks = WebResearchEnv(web="sim").tasks[:4]
    with ReplayStore(tmp_path / "store") as store:
        report = asyncio.run(evaluate(policy=OraclePolicy(tasks), tasks=tasks,
                                      make_env=make_env, store=store, concurrency=2))
        run = store.run(report.run_id)
    assert run.config["env"]["blocked_domains"] == ["benchmarks"]
    row = report.tables["other"]["sim"]
    assert row["answer seen"] == 100.0 * sum(bool(s.answer_seen) for s in report.scored) / 4
    assert row["question seen"] == 0.0
    assert "| answer seen % |" in to_markdown(report.tables)
