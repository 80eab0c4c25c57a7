"""One episode from reset to the end: the policy and the env take turns, under a deadline."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import traceback
from typing import Any

from webresearch.envs.outcomes import EpisodeOutcome, StepOutcome
from webresearch.envs.web_research import WebResearchEnv
from webresearch.net.secrets import redact
from webresearch.policies.policy import ChatMessage, Completion, Policy, Prompt, SamplingParams
from webresearch.policies.tokens import TokenAssembler
from webresearch.replay.schema import EpisodeRecord, StepRecord
from webresearch.status import EpisodeStatus
from webresearch.tasks import Task
from webresearch.untrusted import scalar_text
from webresearch.web.leaks import Leak

__all__ = ["run_episode"]

logger = logging.getLogger(__name__)


class _Broken(Exception):
    """The policy or the env raised: the episode ends with this status."""

    def __init__(self, status: EpisodeStatus, exc: BaseException) -> None:
        super().__init__(redact(f"{type(exc).__name__}: {exc}"))  # a server may echo a key
        self.status = status
        self.trace = redact("".join(traceback.format_exception(exc)))


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
    re-tokenised conversation.

    Nothing an episode meets escapes to stop the others: past its deadline it ends
    with status ``timeout``; when the policy raises, ``policy_error``; when the env (its
    web backend, its reader) raises, ``env_error``, with the traceback in the record.
    Such an episode has no reward (``None``): it was broken from outside, and a learner
    leaves it out. ``episode_id`` names the record (a fresh id by default); a runner
    that may re-run an episode gives it a fixed one, so that the store keeps it once.
    """
    tokens = TokenAssembler(policy.tokenizer) if policy.tokenizer is not None else None
    started, start = time.time(), time.perf_counter()
    prompt: list[ChatMessage] = []
    steps: list[StepRecord] = []
    outcome: EpisodeOutcome | None = None
    status, error, trace = EpisodeStatus.ENV_ERROR, None, None
    try:
        async with asyncio.timeout(timeout_s):
            outcome = await _turns(env, policy, task, sampling=sampling, tokens=tokens,
                                   prompt=prompt, steps=steps)
        status, error = outcome.status, outcome.error
    except TimeoutError:
        status, error = EpisodeStatus.TIMEOUT, f"the episode passed its {timeout_s:g} s deadline"
    except _Broken as exc:
        status, error, trace = exc.status, str(exc), exc.trace
        logger.warning("episode of task %s ended with %s: %s", task.id, status, error)
    record = EpisodeRecord(
        run_id=run_id, task=task, group=group, status=status,
        reward=outcome.reward if outcome is not None else None,
        f1=outcome.f1 if outcome is not None else None,
        em=outcome.em if outcome is not None else None,
        answer=outcome.answer if outcome is not None else None,
        prompt=tuple({"role": m["role"], "content": m["content"]} for m in prompt),
        steps=tuple(steps), policy_version=policy_version, started_at=started,
        seconds=time.perf_counter() - start, error=error, traceback=trace,
        token_ids=tuple(tokens.ids) if tokens is not None else None,
        loss_mask=tuple(tokens.mask) if tokens is not None else None,
        logprobs=tokens.sampled_logprobs() if tokens is not None else None,
        leaks=_leaks(env, task, outcome))
    return record if episode_id is None else dataclasses.replace(record, episode_id=episode_id)


def _leaks(env: WebResearchEnv, task: Task, outcome: EpisodeOutcome | None
           ) -> tuple[Leak, ...] | None:
    """What the episode showed of its answers and question: its outcome's, or for an episode
    broken from outside, what its state had seen by then (``None``: it never started)."""
    if outcome is not None:
        return outcome.leaks
    state = env.state
    return tuple(state.leaks) if state is not None and state.task is task else None


async def _turns(env: WebResearchEnv, policy: Policy, task: Task, *,
                 sampling: SamplingParams | None, tokens: TokenAssembler | None,
                 prompt: list[ChatMessage], steps: list[StepRecord]) -> EpisodeOutcome:
    """The policy and the env take turns until the env reports how the episode ended."""
    observation, _ = await _env_call(env.areset(options={"task": task}))
    if env.system_prompt:
        prompt.append({"role": "system", "content": env.system_prompt})
    prompt.append({"role": "user", "content": observation})
    messages = list(prompt)
    if tokens is not None:
        tokens.start(prompt)
    while True:
        asked = time.perf_counter()
        completion = await _sample(policy, messages, tokens, sampling)
        policy_s = time.perf_counter() - asked
        action = scalar_text(completion.text)  # the model's text, recorded as the env reads it
        observation, reward, _, _, info = await _env_call(env.astep(action))
        step: StepOutcome = info["step"]
        steps.append(StepRecord(
            action=action, tool=step.action, arguments=step.arguments,
            observation=observation, reward=float(reward), web=step.web,
            latency_s=step.timing.total_s, policy_s=policy_s, error=step.error,
            token_ids=completion.token_ids, logprobs=completion.logprobs))
        if step.episode is not None:
            return step.episode
        messages += [{"role": "assistant", "content": action},
                     {"role": "user", "content": observation}]
        if tokens is not None:
            tokens.add_observation(observation)


async def _sample(policy: Policy, messages: list[ChatMessage], tokens: TokenAssembler | None,
                  sampling: SamplingParams | None) -> Completion:
    """The policy's next action; whatever it raises ends the episode as a policy error."""
    try:
        ids = tuple(tokens.ids) if tokens is not None else None
        completion = (await policy.generate([Prompt(tuple(messages), ids)], sampling))[0]
        if tokens is not None:
            if completion.token_ids is None:
                raise ValueError(f"Expects token ids from {policy.name}, which has a "
                                 "tokenizer, actual: none")
            tokens.add_completion(completion.token_ids, completion.logprobs)
    except Exception as exc:
        raise _Broken(EpisodeStatus.POLICY_ERROR, exc) from exc
    if not isinstance(completion.text, str):
        raise _Broken(EpisodeStatus.POLICY_ERROR, TypeError(
            f"Expects completion text, actual: {type(completion.text).__name__}"))
    return completion


async def _env_call(call: Any) -> Any:
    """Await an env call; whatever it raises ends the episode as an env error."""
    try:
        return await call
    except Exception as exc:
        raise _Broken(EpisodeStatus.ENV_ERROR, exc) from exc
