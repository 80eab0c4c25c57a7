"""Any OpenAI-compatible server (vLLM, SGLang, ...) as a policy, with ids and log-probs."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import Any

from webresearch.errors import ConfigError, PolicyError, did_you_mean
from webresearch.net.http import HttpClient, HttpConfig
from webresearch.net.retry import RetryPolicy
from webresearch.net.safety import UrlPolicy
from webresearch.net.secrets import Secret, redact
from webresearch.policies.policy import (
    Completion,
    Policy,
    Prompt,
    PromptLike,
    SamplingParams,
    as_prompt,
)
from webresearch.untrusted import loads_json

__all__ = ["OpenAIPolicy"]


class OpenAIPolicy(Policy):
    """Generate through an OpenAI-compatible HTTP API.

    Prompts that carry token ids go to ``/completions`` with the ids as the prompt
    (vLLM and SGLang accept them) and ``return_tokens_as_token_ids``, so the sampled
    ids and their log-probs come back exactly; other prompts go to
    ``/chat/completions``. Stop strings are kept in the text (the env needs the
    closing tag of a tool call): vLLM is asked to include them, and for servers that
    drop them the closing tag is put back.

    Args:
        base_url: The API root, for example ``http://127.0.0.1:8000/v1``.
        model: The served model's name.
        api_key: Sent as a bearer token; ``None`` reads ``$OPENAI_API_KEY`` (optional).
        tokenizer: The model's tokenizer, when the rollout should assemble token ids.
        timeout_s: Deadline of one request, retries included.
        concurrency: Requests in flight at once.
    """

    name = "openai"

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None,
                 tokenizer: Any = None, timeout_s: float = 300.0, concurrency: int = 256,
                 retry: RetryPolicy | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.tokenizer = tokenizer
        key = api_key or os.environ.get("OPENAI_API_KEY")
        self._key = Secret(key) if key else None
        config = HttpConfig(url_policy=UrlPolicy(block_private=False), deadline_s=timeout_s,
                            attempt_timeout_s=timeout_s, read_timeout_s=timeout_s,
                            max_per_host=concurrency, retry=retry or RetryPolicy())
        self._http = HttpClient(config)
        self._slots = asyncio.Semaphore(concurrency)

    async def check_server(self, timeout_s: float = 10.0) -> None:
        """Raise a :class:`~webresearch.errors.ConfigError` (one line) if the server cannot be
        reached, refuses the key, or does not serve :attr:`model` (``GET /models``; the names
        it serves are given). A server without ``/models`` is taken at its word."""
        served = await self.served_models(timeout_s)
        if served is not None and self.model not in served:
            hint = did_you_mean(self.model, served)
            raise ConfigError(f"Expects a model that {self.base_url} serves (--model), actual: "
                              f"{self.model!r}; it serves {served}.{hint}")

    async def served_models(self, timeout_s: float = 10.0) -> list[str] | None:
        """The model names the server lists (``GET /models``), ``None`` if it lists none in
        the OpenAI shape; a :class:`~webresearch.errors.ConfigError` if it cannot be reached
        or refuses the key."""
        config = HttpConfig(url_policy=UrlPolicy(block_private=False), connect_timeout_s=timeout_s,
                            read_timeout_s=timeout_s, attempt_timeout_s=timeout_s,
                            deadline_s=2 * timeout_s, retry=RetryPolicy(attempts=2))
        http = HttpClient(config)
        try:
            response = await http.request("GET", self.base_url + "/models", headers=self._headers())
        finally:
            await http.aclose()
        if response.status == 0:
            raise ConfigError(redact(f"Expects an OpenAI-compatible server at {self.base_url} "
                                     f"(--base-url), actual: {response.error}"))
        if response.status in (401, 403):
            raise ConfigError(f"Expects {self.base_url} to accept the key ($OPENAI_API_KEY), "
                              f"actual: HTTP {response.status}")
        return _served_names(response.body) if response.error is None else None

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self._key is not None:
            headers["Authorization"] = f"Bearer {self._key.reveal()}"
        return headers

    async def generate(self, prompts: Sequence[PromptLike],
                       sampling: SamplingParams | None = None) -> list[Completion]:
        sampling = sampling or SamplingParams()
        return list(await asyncio.gather(*(self._one(as_prompt(p), sampling) for p in prompts)))

    async def _one(self, prompt: Prompt, sampling: SamplingParams) -> Completion:
        body: dict[str, Any] = {
            "model": self.model, "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature, "top_p": sampling.top_p,
            "stop": list(sampling.stop) or None, "seed": sampling.seed, "logprobs": 1,
            "return_tokens_as_token_ids": True, "include_stop_str_in_output": True,
            "skip_special_tokens": False}
        if prompt.token_ids is not None:
            body["prompt"] = list(prompt.token_ids)
            path, read = "/completions", _from_completion
        else:
            body.update(messages=[dict(m) for m in prompt.messages], logprobs=True)
            path, read = "/chat/completions", _from_chat
        data = await self._post(path, body)
        try:  # a server's JSON of another shape: the policy's failure, never a crash
            return _checked(read(data, sampling.stop))
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
            raise PolicyError(f"{self.base_url}{path} answered with an unexpected body "
                              f"({type(exc).__name__}: {str(exc)[:80]})") from None

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self._slots:
            response = await self._http.request("POST", self.base_url + path,
                                                headers=self._headers(),
                                                json={k: v for k, v in body.items()
                                                      if v is not None})
        if response.error is not None:
            detail = response.body[:300].decode("utf-8", "replace")
            raise PolicyError(redact(  # a server may echo the Authorization header back
                f"{self.base_url}{path} failed: {response.error} {detail}".strip()))
        try:
            data = loads_json(response.body)  # the model's text: surrogate escapes replaced
        except ValueError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not (
                data["choices"]):
            raise PolicyError(f"{self.base_url}{path} answered with an unexpected body")
        return data

    async def aclose(self) -> None:
        await self._http.aclose()


def _served_names(body: bytes) -> list[str] | None:
    """The model names of a ``GET /models`` answer (``{"data": [{"id": ...}]}``), or ``None``
    for a body of another shape (the check then trusts the server).

    Example:
        >>> _served_names(b'{"data": [{"id": "qwen"}, {"id": 3}]}'), _served_names(b"<html>")
        (['qwen'], None)
    """
    try:
        data = loads_json(body)
    except ValueError:
        return None
    models = data.get("data") if isinstance(data, dict) else None
    if not isinstance(models, list):
        return None
    return [m["id"] for m in models if isinstance(m, dict) and isinstance(m.get("id"), str)]


def _ids(tokens: Sequence[str]) -> tuple[int, ...] | None:
    """Token ids from ``token_id:N`` strings, or ``None`` when the server sent text tokens."""
    if not all(t.startswith("token_id:") for t in tokens):
        return None
    return tuple(int(t.split(":", 1)[1]) for t in tokens)


def _restore_stop(text: str, stops: Sequence[str], finish: str, matched: Any) -> str:
    """Put back a stop string that the server cut off (it is the action's closing tag)."""
    if finish != "stop" or any(text.endswith(s) for s in stops):
        return text
    if isinstance(matched, str) and matched in stops:
        return text + matched
    for stop in stops:
        opening = stop.replace("</", "<", 1)
        if stop.startswith("</") and text.count(opening) > text.count(stop):
            return text + stop
    return text


def _checked(completion: Completion) -> Completion:
    """``completion`` if each field has its type; else a ``TypeError`` saying which not."""
    fields = {"text": (completion.text, str), "finish_reason": (completion.finish_reason, str)}
    for name, (value, kind) in fields.items():
        if not isinstance(value, kind):
            raise TypeError(f"expects {name} to be {kind.__name__}, actual: "
                            f"{type(value).__name__}")
    ids, logprobs = completion.token_ids or (), completion.logprobs or ()
    if not all(type(n) is int for n in ids) or not all(
            n is None or (isinstance(n, int | float) and not isinstance(n, bool))
            for n in logprobs):
        raise TypeError("expects token ids and logprobs to be numbers")
    return completion


def _from_completion(data: dict[str, Any], stops: Sequence[str]) -> Completion:
    choice = data["choices"][0]
    logprobs = choice.get("logprobs") or {}
    ids = _ids(logprobs.get("tokens") or [])
    values = logprobs.get("token_logprobs")
    text = _restore_stop(choice.get("text", ""), stops, choice.get("finish_reason"),
                         choice.get("stop_reason"))
    return Completion(text, ids, tuple(values) if values is not None and ids else None,
                      choice.get("finish_reason") or "stop")


def _from_chat(data: dict[str, Any], stops: Sequence[str]) -> Completion:
    choice = data["choices"][0]
    content = (choice.get("logprobs") or {}).get("content") or []
    ids = _ids([c["token"] for c in content])
    text = _restore_stop(choice["message"].get("content") or "", stops,
                         choice.get("finish_reason"), choice.get("stop_reason"))
    logprobs = tuple(c["logprob"] for c in content) if ids else None
    return Completion(text, ids, logprobs, choice.get("finish_reason") or "stop")
