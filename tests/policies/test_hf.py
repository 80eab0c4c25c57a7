"""The Hugging Face backend: batched sampling, log-probs that a fresh forward pass confirms."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from webresearch.envs.web_research import WebResearchEnv
from webresearch.policies.policy import Prompt, SamplingParams
from webresearch.replay.store import ReplayStore
from webresearch.rollout import RolloutConfig, rollout

TOLERANCE = 1e-4  # float32 on CPU; left padding changes summation order slightly


@pytest.fixture(scope="module")
def policy(tiny_model: Path) -> object:
    from webresearch.policies.hf import HFPolicy

    return HFPolicy(tiny_model, max_batch=4)


def fresh_logprobs(policy: object, prompt_ids: list[int], ids: list[int],
                   temperature: float) -> list[float]:
    import torch

    with torch.no_grad():
        logits = policy.model(torch.tensor([prompt_ids + ids])).logits[0].float()
    scores = torch.log_softmax(logits[len(prompt_ids) - 1:-1] / temperature, dim=-1)
    return scores.gather(-1, torch.tensor(ids).unsqueeze(-1)).squeeze(-1).tolist()


def test_batched_samples_have_exact_log_probs(policy: object) -> None:
    prompts = [[{"role": "user", "content": "Who founded Pogre Works?" * n}] for n in (1, 3, 7)]
    sampling = SamplingParams(temperature=0.8, max_tokens=20, seed=0, stop=())
    completions = asyncio.run(policy.generate(prompts, sampling))
    for prompt, completion in zip(prompts, completions, strict=True):
        assert completion.token_ids and len(completion.token_ids) == len(completion.logprobs)
        ids = policy.prompt_ids(Prompt(tuple(prompt)))
        fresh = fresh_logprobs(policy, ids, list(completion.token_ids), 0.8)
        assert max(abs(a - b) for a, b in zip(fresh, completion.logprobs, strict=True)) < TOLERANCE


def test_greedy_is_deterministic_and_stops_at_the_budget(policy: object) -> None:
    prompt = [{"role": "user", "content": "q"}]
    sampling = SamplingParams(temperature=0.0, max_tokens=7, stop=())
    a, b = asyncio.run(policy.generate([prompt, prompt], sampling))
    assert a.token_ids == b.token_ids and len(a.token_ids) <= 7
    assert a.finish_reason in ("length", "stop")


def test_rollout_records_ids_mask_and_log_probs(policy: object, tmp_path: Path) -> None:
    tasks = WebResearchEnv().tasks[:3]
    config = RolloutConfig(keep_results=True, group_size=2, progress=False,
                           sampling=SamplingParams(temperature=1.0, max_tokens=24, seed=1))
    with ReplayStore(tmp_path) as store:
        report = asyncio.run(rollout(lambda: WebResearchEnv(max_turns=2), policy, tasks, config,
                                     store=store))
        episodes = list(store.episodes(report.run_id))
    assert len(episodes) == 6
    for episode in episodes:
        ids, mask, logprobs = episode.token_ids, episode.loss_mask, episode.logprobs
        assert ids and len(ids) == len(mask) == len(logprobs) and 0 < sum(mask) < len(mask)
        sampled = [t for step in episode.steps for t in step.token_ids]
        assert [t for t, m in zip(ids, mask, strict=True) if m] == sampled
        # every sampled token's recorded log-prob matches a forward pass over the whole sequence
        first = mask.index(1)
        fresh = fresh_logprobs(policy, list(ids[:first]), list(ids[first:]), 1.0)
        recorded = [lp for lp, m in zip(logprobs[first:], mask[first:], strict=True)]
        diffs = [abs(f - r) for f, r, m in zip(fresh, recorded, mask[first:], strict=True) if m]
        assert max(diffs) < TOLERANCE


def test_the_cli_runs_a_model_policy(tiny_model: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    from webresearch.cli import main

    code = main(["rollout", "--policy", "hf", "--model", str(tiny_model), "--episodes", "2",
                 "--max-tokens", "16", "--max-turns", "1", "--no-progress", "--store",
                 str(tmp_path), "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["episodes"] == 2
    with ReplayStore(tmp_path) as store:
        assert all(e.token_ids and e.loss_mask for e in store.episodes())
    assert main(["rollout", "--policy", "hf", "--no-progress", "--no-store"]) == 2


def test_concurrent_requests_share_batches(policy: object) -> None:
    sampling = SamplingParams(temperature=1.0, max_tokens=4, stop=(), seed=0)

    async def many() -> int:
        before = policy.batches
        prompts = [[{"role": "user", "content": f"question {i}"}] for i in range(8)]
        await asyncio.gather(*(policy.generate([p], sampling) for p in prompts))
        return policy.batches - before

    assert asyncio.run(many()) <= 3  # 8 requests, max_batch 4: two batches (three at worst)
