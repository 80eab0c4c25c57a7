"""Learner tokens per second against a bare forward/backward loop of the same model and batch.

Records ``--groups`` x ``--group-size`` episodes of the tiny model on the simulated web
(not timed), then times ``GRPOLearner.step`` on them (log-probs, GRPO loss, backward,
clipping, AdamW) against a bare loop that runs the same micro-batches through the
model, a log-softmax gather, ``.sum().backward()`` and an AdamW step. Tokens are every
token of every sequence. Usage: ``python benchmarks/learner.py``; the last line is one
JSON object with ``tokens_per_s``, ``bare_tokens_per_s`` and ``ratio``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time

import torch

from webresearch.envs.rewards import Submission
from webresearch.envs.web_research import WebResearchEnv
from webresearch.policies.hf import HFPolicy
from webresearch.policies.policy import SamplingParams
from webresearch.policies.tiny import build_tiny_model
from webresearch.rollout import RolloutConfig, rollout
from webresearch.train import GRPOConfig, GRPOLearner
from webresearch.train.learner import pad_batch


def digits(submission: Submission, golds: object) -> float:
    response = "\n".join(submission.responses)
    return sum(c.isdigit() for c in response) / max(1, len(response))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=4)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--micro-batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(2)
    policy = HFPolicy(build_tiny_model(tempfile.mkdtemp()), max_batch=64)
    tasks = WebResearchEnv().tasks[: args.groups]
    config = RolloutConfig(keep_results=True, group_size=args.group_size, progress=False,
                           sampling=SamplingParams(max_tokens=32, stop=(), seed=0))
    report = asyncio.run(rollout(lambda: WebResearchEnv(reward=digits, max_turns=1), policy,
                                 tasks, config))
    episodes = report.results
    groups = [episodes[i:i + args.group_size] for i in range(0, len(episodes), args.group_size)]
    tokens = sum(len(e.token_ids or ()) for e in episodes)
    learner = GRPOLearner(policy.model, GRPOConfig(lr=1e-6, micro_batch_size=args.micro_batch))
    optimizer = torch.optim.AdamW(policy.model.parameters(), lr=1e-6)

    def bare() -> None:
        for start in range(0, len(episodes), args.micro_batch):
            ids, _, _ = pad_batch(torch, episodes[start:start + args.micro_batch])
            logits = policy.model(input_ids=ids.clamp(min=0),
                                  attention_mask=(ids >= 0).long()).logits  # (b, L, V)
            scores = torch.log_softmax(logits[:, :-1].float(), dim=-1)
            taken = scores.gather(-1, ids[:, 1:].clamp(min=0).unsqueeze(-1))  # (b, L-1, 1)
            taken.sum().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    rates: dict[str, list[float]] = {"learner": [], "bare": []}
    for _ in range(args.repeats + 1):  # the first round warms up
        for name, fn in (("bare", bare), ("learner", lambda: learner.step(groups))):
            start = time.perf_counter()
            fn()
            rates[name].append(tokens / (time.perf_counter() - start))
    learner_rate = statistics.median(rates["learner"][1:])
    bare_rate = statistics.median(rates["bare"][1:])
    print(f"{tokens} tokens per step: learner {learner_rate:,.0f} tokens/s, "
          f"bare forward/backward {bare_rate:,.0f} tokens/s")
    print(json.dumps({"tokens_per_s": learner_rate, "bare_tokens_per_s": bare_rate,
                      "ratio": learner_rate / bare_rate, "tokens_per_step": tokens}))


if __name__ == "__main__":
    main()
