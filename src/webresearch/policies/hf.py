"""A Hugging Face transformers policy: batched generation with per-token log-probs."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from webresearch.errors import DependencyNotInstalled
from webresearch.policies.policy import (
    Completion,
    Policy,
    Prompt,
    PromptLike,
    SamplingParams,
    as_prompt,
)

__all__ = ["HFPolicy"]


def _torch() -> Any:
    try:
        import torch  # noqa: PLC0415 - heavy, optional
        import transformers  # noqa: PLC0415, F401
    except ImportError as exc:
        raise DependencyNotInstalled("torch/transformers", "train") from exc
    return torch


class HFPolicy(Policy):
    """Generate with a transformers causal LM, on CPU or GPU.

    Log-probs are those of the sampled tokens under the model's logits divided by the
    sampling temperature (the distribution the tokens were drawn from, before top-p),
    which is what an importance ratio in GRPO compares against.

    Requests from concurrent episodes are batched as they arrive: while one batch
    generates (in a worker thread, so the event loop stays free), new requests queue,
    and the next batch takes all of them (up to ``max_batch``) that share sampling
    settings. No episode waits for a turn-wide barrier.

    Args:
        model: A model directory or hub id, or a loaded model.
        tokenizer: Its tokenizer (loaded from ``model`` when it is a path).
        device: ``cpu``, ``cuda``, ...
        max_batch: Prompts per ``generate`` call.
    """

    name = "hf"

    def __init__(self, model: str | Path | Any, *, tokenizer: Any = None, device: str = "cpu",
                 max_batch: int = 16) -> None:
        torch = _torch()
        from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415

        if isinstance(model, str | Path):
            tokenizer = tokenizer or AutoTokenizer.from_pretrained(model)
            model = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
        self.model = model.to(device).eval()  # type: ignore[arg-type]
        self.tokenizer = tokenizer
        self.device = device
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[tuple[list[int], SamplingParams, asyncio.Future[Completion]]] = []
        self._worker: asyncio.Task[None] | None = None
        self.batches = 0
        """Batches generated so far."""
        config = self.model.generation_config
        eos = config.eos_token_id
        self._eos = set(eos if isinstance(eos, list) else [eos]) | {tokenizer.eos_token_id}
        self._pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self._eos)

    def load_weights(self, state_dict: dict[str, Any]) -> None:
        """Load new weights into the model (say, a learner's after a step in another process)."""
        with self._lock:
            self.model.load_state_dict(state_dict)

    def prompt_ids(self, prompt: Prompt) -> list[int]:
        """The prompt's token ids: its own, or its messages through the chat template."""
        if prompt.token_ids is not None:
            return list(prompt.token_ids)
        text = self.tokenizer.apply_chat_template([dict(m) for m in prompt.messages],
                                                  tokenize=False, add_generation_prompt=True)
        ids: list[int] = self.tokenizer.encode(text, add_special_tokens=False)
        return ids

    async def generate(self, prompts: Sequence[PromptLike],
                       sampling: SamplingParams | None = None) -> list[Completion]:
        sampling = sampling or SamplingParams()
        loop = asyncio.get_running_loop()
        futures = []
        for prompt in prompts:
            future: asyncio.Future[Completion] = loop.create_future()
            self._queue.append((self.prompt_ids(as_prompt(prompt)), sampling, future))
            futures.append(future)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return list(await asyncio.gather(*futures))

    async def _drain(self) -> None:
        """Generate queued requests, a batch at a time, until none are left."""
        while self._queue:
            sampling = self._queue[0][1]
            batch = [r for r in self._queue if r[1] == sampling][: self.max_batch]
            self._queue = [r for r in self._queue if not any(r is b for b in batch)]
            try:
                outs = await asyncio.to_thread(self._generate, [r[0] for r in batch], sampling)
            except Exception as exc:  # every waiter hears it, then the next batch goes
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, _, future), out in zip(batch, outs, strict=True):
                if not future.done():
                    future.set_result(out)

    def _generate(self, ids: list[list[int]], sampling: SamplingParams) -> list[Completion]:
        with self._lock:
            self.batches += 1
            return self._batch(ids, sampling)

    def _batch(self, batch: list[list[int]], sampling: SamplingParams) -> list[Completion]:
        torch = _torch()
        width = max(len(row) for row in batch)
        input_ids = torch.tensor([[self._pad] * (width - len(r)) + r for r in batch])  # (B, L)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in batch])  # (B, L)
        greedy = sampling.temperature <= 0
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        with torch.no_grad():
            result = self.model.generate(
                input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device),
                do_sample=not greedy, temperature=None if greedy else sampling.temperature,
                top_p=None if greedy else sampling.top_p, top_k=None,
                max_new_tokens=sampling.max_tokens, stop_strings=list(sampling.stop) or None,
                tokenizer=self.tokenizer, return_dict_in_generate=True, output_logits=True,
                pad_token_id=self._pad)
        new = result.sequences[:, width:]  # (B, T)
        logits = torch.stack(result.logits, dim=1).float()  # (B, T, V)
        scale = 1.0 if greedy else sampling.temperature
        logprobs = torch.log_softmax(logits / scale, dim=-1).gather(
            -1, new.unsqueeze(-1)).squeeze(-1)  # (B, T)
        out = []
        for row, row_logprobs in zip(new.tolist(), logprobs.tolist(), strict=True):
            n, reason = self._length(row, sampling.stop)
            text = self.tokenizer.decode(row[:n], skip_special_tokens=True)
            out.append(Completion(text, tuple(row[:n]), tuple(row_logprobs[:n]), reason))
        return out

    def _length(self, row: list[int], stops: Sequence[str]) -> tuple[int, str]:
        """How many generated tokens are the policy's: up to a stop string or an end token.

        Finished rows are padded with the pad id, which may also be an end token, so a
        stop string is looked for first.
        """
        end = next((i + 1 for i, t in enumerate(row) if t in self._eos), len(row))
        if stops:
            for i in range(end):
                piece = self.tokenizer.decode(row[: i + 1])
                if any(stop in piece for stop in stops):
                    return i + 1, "stop"
        return end, "stop" if end < len(row) or row[end - 1] in self._eos else "length"
