"""vLLM in-process (its async engine) as a policy: GPU users' fast path; it runs on CPU too."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from webresearch._lazy import require
from webresearch.errors import DependencyNotInstalled
from webresearch.policies.policy import (
    Completion,
    Policy,
    Prompt,
    PromptLike,
    SamplingParams,
    as_prompt,
)

__all__ = ["VLLMPolicy"]


class VLLMPolicy(Policy):
    """Generate with vLLM's async engine in this process; requests from every episode batch.

    Log-probs are the engine's ``processed_logprobs`` (after temperature, as the HF
    backend reports them). Call :meth:`aclose` to shut the engine down.

    Args:
        model: A model directory or hub id.
        engine_options: Extra ``AsyncEngineArgs`` (``gpu_memory_utilization``,
            ``max_model_len``, ``tensor_parallel_size``, ...).
    """

    name = "vllm"

    def __init__(self, model: str | Path, **engine_options: Any) -> None:
        vllm = require("vllm", "vllm")
        try:
            engine_args, engine = vllm.AsyncEngineArgs, vllm.AsyncLLMEngine
        except AttributeError as exc:  # a vLLM of another API
            raise DependencyNotInstalled(
                "vllm", "vllm", f"a vllm without {exc.name} (another version)") from exc
        options = {"dtype": "auto", "logprobs_mode": "processed_logprobs", **engine_options}
        args = engine_args(model=str(model), **options)
        self.engine = engine.from_engine_args(args)
        self.tokenizer = _tokenizer(self.engine, model)

    async def generate(self, prompts: Sequence[PromptLike],
                       sampling: SamplingParams | None = None) -> list[Completion]:
        sampling = sampling or SamplingParams()
        return list(await asyncio.gather(*(self._one(as_prompt(p), sampling) for p in prompts)))

    async def _one(self, prompt: Prompt, sampling: SamplingParams) -> Completion:
        from vllm import SamplingParams as VLLMSampling  # noqa: PLC0415

        params = VLLMSampling(
            temperature=sampling.temperature, top_p=sampling.top_p,
            max_tokens=sampling.max_tokens, stop=list(sampling.stop) or None, seed=sampling.seed,
            logprobs=0, include_stop_str_in_output=True, skip_special_tokens=False)
        ids = prompt.token_ids
        if ids is None:
            text = self.tokenizer.apply_chat_template([dict(m) for m in prompt.messages],
                                                      tokenize=False, add_generation_prompt=True)
            ids = tuple(self.tokenizer.encode(text, add_special_tokens=False))
        final = None
        async for output in self.engine.generate({"prompt_token_ids": list(ids)}, params,
                                                 request_id=uuid.uuid4().hex):
            final = output
        assert final is not None
        out = final.outputs[0]
        token_ids = tuple(out.token_ids)
        logprobs = tuple(step[t].logprob for step, t in zip(out.logprobs, token_ids, strict=True))
        return Completion(out.text, token_ids, logprobs, out.finish_reason or "stop")

    async def aclose(self) -> None:
        self.engine.shutdown()


def _tokenizer(engine: Any, model: str | Path) -> Any:
    """The model's tokenizer (from its files: vLLM's own accessor differs between versions)."""
    from transformers import AutoTokenizer  # noqa: PLC0415

    return AutoTokenizer.from_pretrained(model)
