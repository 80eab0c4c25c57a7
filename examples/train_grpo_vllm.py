"""GRPO for a real model on a GPU: vLLM samples, transformers learns, weights reload each step.

    python examples/train_grpo_vllm.py --model Qwen/Qwen2.5-7B-Instruct --web live \\
        --tasks questions.jsonl --steps 100 --groups 32 --group-size 16 --out runs/grpo7b

The sampling engine (``VLLMPolicy``) and the trained model (transformers, on the same
or another GPU) are separate copies. After every learner step the new weights are
saved and vLLM reloads them (a fresh engine from the saved directory: simple and
always correct; vLLM's in-place weight update via ``collective_rpc`` avoids the
restart and can replace ``reload``). For an external server (``OpenAIPolicy``), restart
or hot-reload it from the saved directory the same way. This script needs a GPU and
the ``vllm`` and ``train`` extras; it is documented, not run, in CI here.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from webresearch.policies.policy import Completion, Policy, PromptLike, SamplingParams


class ReloadingVLLM(Policy):
    """A ``VLLMPolicy`` that can be re-created from a new weights directory."""

    name = "vllm"

    def __init__(self, model: str | Path, **engine: Any) -> None:
        from webresearch.policies.vllm import VLLMPolicy

        self.engine_options = engine
        self.inner = VLLMPolicy(model, **engine)
        self.tokenizer = self.inner.tokenizer

    async def generate(self, prompts: Sequence[PromptLike],
                       sampling: SamplingParams | None = None) -> list[Completion]:
        return await self.inner.generate(prompts, sampling)

    def reload(self, directory: Path) -> None:
        from webresearch.policies.vllm import VLLMPolicy

        self.inner.engine.shutdown()
        self.inner = VLLMPolicy(directory, **self.engine_options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="checkpoint directory or hub id")
    parser.add_argument("--tasks", default="default")
    parser.add_argument("--web", default="sim")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--groups", type=int, default=32)
    parser.add_argument("--group-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-6)
    parser.add_argument("--beta", type=float, default=0.001, help="KL weight (DeepResearcher)")
    parser.add_argument("--max-tokens", type=int, default=2048)
    parser.add_argument("--lora-rank", type=int, default=0, help="0: full fine-tuning")
    parser.add_argument("--out", type=Path, default=Path("runs/grpo-vllm"))
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from webresearch.envs.web_research import WebResearchEnv
    from webresearch.replay.store import ReplayStore
    from webresearch.train import (
        GRPOConfig,
        GRPOLearner,
        LossConfig,
        TrainConfig,
        add_lora,
        train,
    )

    device = "cuda"
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16).to(device)
    reference = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16).to(device)
    if args.lora_rank:
        model = add_lora(model, rank=args.lora_rank)
    learner = GRPOLearner(model, GRPOConfig(lr=args.lr, total_steps=args.steps,
                                            loss=LossConfig(beta=args.beta)),
                          ref_model=reference.eval())
    policy = ReloadingVLLM(args.model, gpu_memory_utilization=0.45)
    weights = args.out / "weights"

    def sync(learner: GRPOLearner) -> None:
        shutil.rmtree(weights, ignore_errors=True)
        # merge a copy: merge_and_unload() works in place and would end the adapters' training
        merged = (copy.deepcopy(learner.model).merge_and_unload() if args.lora_rank
                  else learner.model)
        merged.save_pretrained(weights)
        tokenizer.save_pretrained(weights)
        policy.reload(weights)

    env_tasks = WebResearchEnv(tasks=args.tasks, web=args.web).tasks
    with ReplayStore(args.out / "store") as store:
        asyncio.run(train(
            policy=policy, learner=learner, tasks=env_tasks, store=store,
            make_env=lambda: WebResearchEnv(tasks=env_tasks, web=args.web),
            config=TrainConfig(steps=args.steps, groups_per_step=args.groups,
                               group_size=args.group_size,
                               sampling=SamplingParams(temperature=1.0,
                                                       max_tokens=args.max_tokens)),
            sync_weights=sync, on_step=lambda log: print(log.metrics, flush=True)))
    learner.save(args.out / "checkpoint.pt")


if __name__ == "__main__":
    main()
