"""Browsing with a reading agent: extracts, memory, caps, scope, caching and exact replay."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.conftest import answer, browse, search
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError
from webresearch.net.rate_limit import Rate
from webresearch.policies.policy import Completion, Policy, PromptLike, SamplingParams, as_prompt
from webresearch.replay import ReplayStore
from webresearch.replay.replay_web import ReplayWeb
from webresearch.rollout import RolloutConfig, rollout
from webresearch.web import MockWeb, SearchHit
from webresearch.web.reader import Extract, KeywordReader, LLMReader, Reader, ReadRequest

TASK = {"question": "Where was Anna Vell born?", "answers": ["Tarsk"]}
PAGES = {f"https://w.test/{i}": "\n".join(f"Line {i}.{j} about nothing much." for j in range(40))
         for i in range(3)}
PAGES["https://w.test/anna"] = ("Anna Vell was an engineer.\n" + "Filler text here.\n" * 30
                                + "Anna Vell was born in Tarsk in 1881.\n")


def mock_web() -> MockWeb:
    def hits(query: str, k: int) -> list[SearchHit]:
        return [SearchHit(url.rsplit("/", 1)[-1], url, "...") for url in PAGES][:k]

    return MockWeb(search=hits, fetch=lambda url: PAGES.get(url, ""))


class Recording(Reader):
    """Answers from a function of the request and remembers every request."""

    def __init__(self, *, page_down: bool = True, tokens: int = 0, delay_s: float = 0.0) -> None:
        self.page_down, self.tokens, self.delay_s = page_down, tokens, delay_s
        self.requests: list[ReadRequest] = []

    async def read(self, request: ReadRequest) -> Extract:
        self.requests.append(request)
        await asyncio.sleep(self.delay_s)
        return Extract(f"seg{request.index}", page_down=self.page_down, tokens=self.tokens)


def make_env(reader: object, **options: object) -> WebResearchEnv:
    env = WebResearchEnv(tasks=[TASK], web=mock_web(), reader=reader, date="2026-01-01",
                         reader_segment_chars=200, max_observation_chars=50_000, **options)
    env.reset(seed=0)
    return env


def test_keyword_reader_shows_only_relevant_extracts() -> None:
    env = make_env(KeywordReader(), max_turns=5)
    env.step(search("Anna Vell"))
    obs, _, _, _, info = env.step(browse("https://w.test/anna"))
    assert "Anna Vell was an engineer." in obs and "Read segment 1 of 4" in obs
    reads = [c for c in info["web"] if c.kind == "read"]
    assert reads and json.loads(reads[0].request)[0] == "https://w.test/anna"
    obs, *_ = env.step(browse("https://w.test/anna"))  # reads on past the filler
    assert "Read segments 2-4 of 4" in obs and "Anna Vell was born in Tarsk in 1881." in obs
    assert "Filler text" not in obs
    _, reward, terminated, _, _ = env.step(answer("Tarsk"))
    assert terminated and reward == 1.0
    env.close()


def test_reader_gets_question_sub_question_memory_and_page_position() -> None:
    reader = Recording(page_down=True)
    env = make_env(reader, reader_max_segments=3)
    env.step(search("first query"))
    env.step(browse("https://w.test/0"))
    first, second = reader.requests[:2]
    assert first.question == TASK["question"] and first.sub_question == "first query"
    assert (first.index, first.memory) == (0, ())
    assert (second.index, second.memory) == (1, ("seg0",))
    assert first.total == second.total > 3 and first.segment.startswith("Line 0.0")
    env.close()


def test_a_reader_that_always_pages_down_stops_at_the_cap() -> None:
    reader = Recording(page_down=True)
    env = make_env(reader, reader_max_segments=3)
    obs, *_ = env.step(browse("https://w.test/1"))
    assert len(reader.requests) == 3 and "Stopped at the cap of 3 segments" in obs
    assert "seg0\nseg1\nseg2" in obs
    obs, *_ = env.step(browse("https://w.test/1"))
    assert len(reader.requests) == 3 and "has had the 3 segments" in obs
    env.close()


def test_reader_tokens_per_step_are_capped() -> None:
    reader = Recording(page_down=True, tokens=100)
    env = make_env(reader, reader_max_segments=10, reader_max_tokens=250)
    obs, *_ = env.step(browse("https://w.test/2"))
    assert len(reader.requests) == 3 and "token budget is spent" in obs
    env.step(browse("https://w.test/2"))  # a new step has a new budget, and reads on
    assert [r.index for r in reader.requests[3:]] == [3, 4, 5]
    env.close()


def test_several_urls_are_read_concurrently() -> None:
    reader = Recording(page_down=False, delay_s=0.3)
    env = make_env(reader)
    start = time.perf_counter()
    obs, *_ = env.step(browse("https://w.test/0", "https://w.test/1", "https://w.test/2"))
    assert time.perf_counter() - start < 0.8
    assert obs.count("Page: ") == 3 and len(reader.requests) == 3
    env.close()


@pytest.mark.parametrize("reader", [None, KeywordReader()])
def test_browse_scope_refuses_urls_outside_the_results(reader: Reader | None) -> None:
    env = make_env(reader, browse_scope="latest")
    obs, _, terminated, _, info = env.step(browse("https://w.test/0"))
    assert "Refused https://w.test/0" in obs and "there are none yet" in obs
    assert not terminated and not [c for c in info["web"] if c.kind == "fetch"]
    env.step(search("anything"))
    obs, *_ = env.step(browse("https://w.test/0", "https://elsewhere.test/"))
    assert "URL: https://w.test/0" in obs and "Refused https://elsewhere.test/" in obs
    env.close()
    with pytest.raises(ConfigError, match="browse_scope"):
        make_env(None, browse_scope="latest-only")


class JsonPolicy(Policy):
    """A scripted reader model: answers every reading with the same JSON, counts calls."""

    name = "json"

    def __init__(self, text: str, delay_s: float = 0.0) -> None:
        self.text, self.delay_s, self.calls = text, delay_s, 0

    async def generate(self, prompts: Sequence[PromptLike],
                       sampling: SamplingParams | None = None) -> list[Completion]:
        self.calls += len(prompts)
        assert "Question: " in as_prompt(prompts[0]).messages[1]["content"]
        await asyncio.sleep(self.delay_s)
        return [Completion(self.text, token_ids=(1, 2, 3)) for _ in prompts]


REPLY = json.dumps({"information": "Anna Vell was born in Tarsk.", "page_down": False,
                    "summary": "A biography."})


def test_llm_reader_caches_by_url_segment_and_question() -> None:
    policy = JsonPolicy(REPLY, delay_s=0.05)
    reader = LLMReader(policy)
    envs = [make_env(reader) for _ in range(4)]

    async def group() -> list[str]:
        return [obs for obs, *_ in await asyncio.gather(
            *(env.astep(browse("https://w.test/anna")) for env in envs))]

    observations = asyncio.run(group())
    assert policy.calls == 1 and all("born in Tarsk" in o for o in observations)
    *_, info = envs[0].step(browse("https://w.test/0"))  # another page: a new call
    assert policy.calls == 2
    assert [c.response.tokens for c in info["web"] if c.kind == "read"] == [3]
    for env in envs:
        env.close()


def test_llm_reader_failures_are_observations() -> None:
    env = make_env(LLMReader(JsonPolicy("I cannot decide.")))
    obs, _, terminated, *_ = env.step(browse("https://w.test/anna"))
    assert "The reader failed on segment 1" in obs and not terminated
    assert any("read https://w.test/anna" in e for e in env.state.errors)
    env.close()
    slow = make_env(LLMReader(JsonPolicy(REPLY, delay_s=5.0), timeout_s=0.1))
    obs, *_ = slow.step(browse("https://w.test/anna"))
    assert "no answer within 0.1 s" in obs
    slow.close()


def test_llm_reader_is_rate_limited() -> None:
    policy = JsonPolicy(json.dumps({"information": "x", "page_down": True}))
    env = make_env(LLMReader(policy, rate=Rate(per_second=10.0, burst=1)),
                   reader_max_segments=6)
    start = time.perf_counter()
    env.step(browse("https://w.test/1"))
    assert policy.calls == 6 and time.perf_counter() - start >= 0.45
    env.close()


def test_a_policy_is_a_reader() -> None:
    env = make_env(JsonPolicy(REPLY))
    assert isinstance(env.reader, LLMReader)
    obs, *_ = env.step(browse("https://w.test/anna"))
    assert "born in Tarsk" in obs
    env.close()
    with pytest.raises(ConfigError, match=re.escape(
            "Expects reader of type Reader | ReaderSource | None, actual: 'keyword' (str)")):
        make_env("keyword")


class Forbidden(Reader):
    async def read(self, request: ReadRequest) -> Extract:
        raise AssertionError("replay must not call the reader")


def test_runs_with_a_reader_replay_exactly_offline(tmp_path: Path) -> None:
    from webresearch.policies.scripted import OraclePolicy
    from webresearch.sim.sim_web import SimWeb

    tasks = SimWeb().default_tasks()[:20]
    reader = LLMReader(JsonPolicy(REPLY))

    async def record() -> list[list[str]]:
        with ReplayStore(tmp_path) as store:
            report = await rollout(lambda: WebResearchEnv(tasks=tasks, reader=reader,
                                                          date="2026-01-01"),
                                   OraclePolicy(tasks), tasks,
                                   RolloutConfig(keep_results=True,
                                                 concurrency=4, progress=False), store=store)
        return [[s.observation for s in r.steps] for r in report.results]

    recorded = asyncio.run(record())
    web = ReplayWeb(tmp_path)

    async def replay() -> list[list[str]]:
        report = await rollout(lambda: WebResearchEnv(tasks=tasks, web=web, reader=Forbidden(),
                                                      date="2026-01-01"),
                               OraclePolicy(tasks), tasks,
                               RolloutConfig(keep_results=True, concurrency=4, progress=False))
        return [[s.observation for s in r.steps] for r in report.results]

    assert asyncio.run(replay()) == recorded
    assert any("the relevant information" in o for ep in recorded for o in ep)
    missing = ReadRequest("Other question?", "", (), "https://x.test/", "", 0, 1, "")
    with pytest.raises(Exception, match="never read segment 1"):
        asyncio.run(web.recorded_reader().read(missing))


def test_tiny_model_reads_without_crashing(tiny_model: Path) -> None:
    from webresearch.policies.hf import HFPolicy

    policy = HFPolicy(str(tiny_model))
    env = make_env(LLMReader(policy, sampling=SamplingParams(max_tokens=16)))
    obs, _, terminated, _, info = env.step(browse("https://w.test/anna"))
    assert not terminated and "The reader failed" in obs  # a random model writes no JSON
    assert [c.kind for c in info["web"]].count("read") == 1
    env.close()
    asyncio.run(policy.aclose())
