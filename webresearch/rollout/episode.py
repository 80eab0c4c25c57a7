"""One episode from reset to the end: the policy and the env take turns, under a deadline."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any

from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import PolicyError, WebResearchError
from webresearch.policies.base import ChatMessage, Policy, Prompt, SamplingParams
from webresearch.policies.tokens import TokenAssembler
from webresearch.replay.schema import EpisodeRecord, StepRecord
from webresearch.tasks import Task

__all__ = ["run_episode"]

logger = logging.getLogger(__name__)


async def run_episode(
    env: WebResearchEnv,
    policy: Policy,
    task: Task,
    *,
    group: int = 0,
    run_id: str = "",
    sampling: SamplingParams | None = None,
    timeout_s: float = 300.0,
    policy_version: int = 0,
    episode_id: str | None = None,
) -> EpisodeRecord:
    """Run ``policy`` on ``task`` in ``env`` until the episode ends or ``timeout_s`` passes.

    Returns the whole episode as a record: every step's action, observation, web
    calls and timings. When the policy has a tokenizer, the episode's token sequence
    is assembled as it goes (prompt and observations with mask 0, the sampled ids with
    mask 1 and their log-probs) and the policy is given those ids, never a
    re-tokenised conversation. World failures and policy errors end this episode with
    status ``error``; they never escape to stop the others. Bugs (any other exception) do.
    ``episode_id`` names the record (a fresh id by default); a runner that may re-run an
    episode gives it a fixed one, so that the store keeps it once.
    """
    tokens = TokenAssembler(policy.tokenizer) if policy.tokenizer is not None else None
    started, start = time.time(), time.perf_counter()
    prompt: list[ChatMessage] = []
    steps: list[StepRecord] = []
    info: dict[str, Any] = {}
    status, error = "error", None
    try:
        async with asyncio.timeout(timeout_s):
            observation, reset_info = await env.areset(options={"task": task})
            if reset_info["system_prompt"]:
                prompt.append({"role": "system", "content": reset_info["system_prompt"]})
            prompt.append({"role": "user", "content": observation})
            messages = list(prompt)
            if tokens is not None:
                tokens.start(prompt)
            while True:
                asked = time.perf_counter()
                ids = tuple(tokens.ids) if tokens is not None else None
                completion = (await policy.generate([Prompt(tuple(messages), ids)], sampling))[0]
                policy_s = time.perf_counter() - asked
                if tokens is not None:
                    if completion.token_ids is None:
                        raise PolicyError(f"Expects token ids from {policy.name}, which has a "
                                          "tokenizer, actual: none")
                    tokens.add_completion(completion.token_ids, completion.logprobs)
                observation, reward, terminated, truncated, info = await env.astep(
                    completion.text)
                steps.append(StepRecord(
                    action=completion.text, tool=info["action"],
                    arguments=tuple(info["arguments"]), observation=observation,
                    reward=float(reward), web=info["web"], latency_s=info["timing"].total_s,
                    policy_s=policy_s, error=info["error"], token_ids=completion.token_ids,
                    logprobs=completion.logprobs))
                if terminated or truncated:
                    break
                messages += [{"role": "assistant", "content": completion.text},
                             {"role": "user", "content": observation}]
                if tokens is not None:
                    tokens.add_observation(observation)
        status, error = info["status"], info["error"]
    except TimeoutError:
        status, error = "timeout", f"the episode passed its {timeout_s:g} s deadline"
    except WebResearchError as exc:
        error = f"{type(exc).__name__}: {exc}"
        logger.warning("episode of task %s failed: %s", task.id, error)
    finished = status not in ("timeout", "error")
    record = EpisodeRecord(
        run_id=run_id, task=task, group=group, status=status,
        reward=steps[-1].reward if finished else 0.0,
        f1=info.get("f1", 0.0) if finished else 0.0, em=info.get("em", 0.0) if finished else 0.0,
        answer=info.get("answer") if finished else None,
        prompt=tuple({"role": m["role"], "content": m["content"]} for m in prompt),
        steps=tuple(steps), policy_version=policy_version, started_at=started,
        seconds=time.perf_counter() - start, error=error,
        token_ids=tuple(tokens.ids) if tokens is not None else None,
        loss_mask=tuple(tokens.mask) if tokens is not None else None,
        logprobs=tuple(tokens.logprobs) if tokens is not None else None)
    return record if episode_id is None else dataclasses.replace(record, episode_id=episode_id)
