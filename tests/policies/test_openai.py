"""The OpenAI-compatible backend against a scripted server on loopback."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import serve_app
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import PolicyError
from webresearch.net.retry import RetryPolicy
from webresearch.policies.openai_compat import OpenAIPolicy
from webresearch.policies.policy import Prompt, SamplingParams
from webresearch.rollout import RolloutConfig, rollout

ANSWER = "<think>ok</think><answer>Kraemukreisk Jepudou</answer>"
SEEN = web.AppKey("seen", list[dict[str, Any]])


def fake_server(*, fail_first: int = 0, drop_stop: bool = False, answer: str = ANSWER,
                served: tuple[str, ...] = ("tiny",)) -> web.Application:
    """Answers every request with ``answer`` as ids 0..n-1, after ``fail_first`` 429s; lists
    ``served`` at ``GET /v1/models``."""
    app, seen = web.Application(), []

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append(body)
        if len(seen) <= fail_first:
            return web.json_response({"error": "slow down"}, status=429,
                                     headers={"Retry-After": "0"})
        if body.get("model") != "tiny":
            return web.json_response({"error": {"message": "model not found"}}, status=404)
        text = answer.removesuffix("</answer>") if drop_stop else answer
        tokens = [f"token_id:{i}" for i in range(len(text.split()))]
        logprobs = [-0.25] * len(tokens)
        if request.path.endswith("/chat/completions"):
            content = [{"token": t, "logprob": lp} for t, lp in zip(tokens, logprobs, strict=True)]
            choice = {"message": {"role": "assistant", "content": text},
                      "logprobs": {"content": content}, "finish_reason": "stop"}
        else:
            choice = {"text": text, "logprobs": {"tokens": tokens, "token_logprobs": logprobs},
                      "finish_reason": "stop", "stop_reason": None if drop_stop else "</answer>"}
        return web.json_response({"choices": [choice]})

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list",
                                  "data": [{"id": name, "object": "model"} for name in served]})

    app.add_routes([web.post("/v1/completions", handle), web.post("/v1/chat/completions", handle),
                    web.get("/v1/models", models)])
    app[SEEN] = seen
    return app


@pytest.mark.parametrize("drop_stop", [False, True], ids=["kept", "dropped-by-server"])
def test_ids_prompts_and_chat_prompts(drop_stop: bool) -> None:
    app = fake_server(drop_stop=drop_stop)

    async def scenario(url: str) -> None:
        policy = OpenAIPolicy(url, "tiny")
        by_ids, by_chat = await policy.generate(
            [Prompt(({"role": "user", "content": "q"},), (1, 2, 3)),
             [{"role": "user", "content": "q"}]], SamplingParams())
        await policy.aclose()
        for completion in (by_ids, by_chat):
            assert completion.text == ANSWER  # the closing tag is there either way
            assert completion.token_ids == (0, 1) and completion.logprobs == (-0.25, -0.25)
        assert app[SEEN][0]["prompt"] == [1, 2, 3]
        assert app[SEEN][0]["return_tokens_as_token_ids"] is True
        assert app[SEEN][1]["messages"] == [{"role": "user", "content": "q"}]

    serve_app(app, scenario)


def test_rate_limits_are_retried_and_errors_are_clear() -> None:
    app = fake_server(fail_first=2)

    async def scenario(url: str) -> None:
        policy = OpenAIPolicy(url, "tiny", retry=RetryPolicy(attempts=3, base_s=0.01))
        (completion,) = await policy.generate([[{"role": "user", "content": "q"}]])
        assert completion.text == ANSWER and len(app[SEEN]) == 3
        wrong = OpenAIPolicy(url, "nope")
        with pytest.raises(PolicyError, match=r"HTTP 404 Not Found.*model not found"):
            await wrong.generate([[{"role": "user", "content": "q"}]])
        dead = OpenAIPolicy("http://127.0.0.1:9/v1", "tiny", retry=RetryPolicy(attempts=1))
        with pytest.raises(PolicyError, match="could not connect"):
            await dead.generate([[{"role": "user", "content": "q"}]])
        for p in (policy, wrong, dead):
            await p.aclose()

    serve_app(app, scenario)


@pytest.mark.parametrize(("answer", "reward"), [(0, 1.0), (1, 0.0)], ids=["gold", "another"])
def test_a_rollout_through_the_server(answer: int, reward: float) -> None:
    """The server's answer reaches the env: the task's gold scores 1, another task's 0."""
    env = WebResearchEnv()
    task, other = env.tasks[0], env.tasks[1]
    env.close()
    assert set(task.answers).isdisjoint(other.answers)
    text = f"<think>ok</think><answer>{(task, other)[answer].answers[0]}</answer>"
    app = fake_server(answer=text)

    async def scenario(url: str) -> list[tuple[str, float, float]]:
        policy = OpenAIPolicy(url, "tiny")
        report = await rollout(WebResearchEnv, policy, [task] * 3, RolloutConfig(keep_results=True,
                                                                                progress=False))
        await policy.aclose()
        return [(r.task.id, r.reward, r.f1) for r in report.results]

    results = serve_app(app, scenario)
    assert results == [(task.id, reward, reward)] * 3
    assert len(app[SEEN]) == 3  # one generation per episode, each asking about the task
    assert all(task.question in json.dumps(body) for body in app[SEEN])


def test_a_server_echoing_the_authorization_header_never_leaks_the_key() -> None:
    async def echo(request: web.Request) -> web.Response:
        return web.Response(text=f"unauthorized: {request.headers['Authorization']}",
                            status=401)

    app = web.Application()
    app.add_routes([web.post("/v1/chat/completions", echo)])

    async def scenario(base_url: str) -> str:
        policy = OpenAIPolicy(base_url, "tiny", api_key="sk-policy-secret-5",
                              retry=RetryPolicy(attempts=1))
        try:
            await policy.generate([[{"role": "user", "content": "hi"}]])
        except PolicyError as exc:
            return str(exc)
        finally:
            await policy.aclose()
        return ""

    message = serve_app(app, scenario)
    assert "unauthorized: Bearer ***" in message and "sk-policy-secret-5" not in message


ODD_BODIES = {
    "content-list": {"choices": [{"message": {"content": ["x"]}}]},
    "choice-number": {"choices": [5]},
    "choice-empty": {"choices": [{}]},
    "logprob-content-number": {"choices": [{"message": {"content": "a"},
                                            "logprobs": {"content": [5]}}]},
    "token-id-not-a-number": {"choices": [{"message": {"content": "a"}, "logprobs": {
        "content": [{"token": "token_id:zz", "logprob": -1.0}]}}]},
    "finish-reason-list": {"choices": [{"message": {"content": "a"},
                                        "finish_reason": ["stop"]}]},
    "surrogate-escape": None,  # valid shape: the text comes back as scalar text
}


@pytest.mark.parametrize("name", sorted(ODD_BODIES))
def test_a_body_of_another_shape_is_a_policy_error(name: str) -> None:
    """A server's JSON of another shape is a PolicyError (a reader turns it into an
    observation), never an AttributeError out of the env's step."""
    body = ODD_BODIES[name]
    raw = (b'{"choices": [{"message": {"content": "a \\ud800 b"}}]}' if body is None
           else json.dumps(body).encode())

    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=raw, content_type="application/json")

    app = web.Application()
    app.add_routes([web.post("/v1/chat/completions", answer)])

    async def scenario(base_url: str) -> str:
        policy = OpenAIPolicy(base_url, "tiny", retry=RetryPolicy(attempts=1))
        try:
            (completion,) = await policy.generate([[{"role": "user", "content": "hi"}]])
            return completion.text
        except PolicyError as exc:
            return f"PolicyError: {exc}"
        finally:
            await policy.aclose()

    result = serve_app(app, scenario)
    if body is None:
        assert result == "a \ufffd b"
    else:
        assert result.startswith("PolicyError: ") and "unexpected body" in result
