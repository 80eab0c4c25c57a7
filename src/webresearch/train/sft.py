"""Behaviour cloning from the store: recorded episodes, tokenised as the rollout would, loss on
the policy's tokens only.

Scripted demonstrations carry text, not token ids. :func:`demo_tokens` lays an episode
out with the :class:`~webresearch.policies.tokens.TokenAssembler` the rollout itself
uses (the chat template around every observation, each action's ids with mask 1), so
the cloned policy and the GRPO learner see one and the same token layout.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from webresearch.errors import ConfigError, WebResearchError
from webresearch.policies.tokens import TokenAssembler
from webresearch.replay.schema import EpisodeRecord
from webresearch.replay.store import ReplayStore
from webresearch.status import EpisodeStatus

__all__ = ["SFTConfig", "SFTExample", "SFTMetrics", "SFTTrainer", "demo_tokens", "sft_examples"]


@dataclass(frozen=True, slots=True)
class SFTExample:
    """One episode as the model sees it: token ids and a mask (1 = the policy's token)."""

    ids: tuple[int, ...]
    mask: tuple[int, ...]
    episode_id: str = ""


def demo_tokens(episode: EpisodeRecord, tokenizer: Any) -> SFTExample:
    """Lay out ``episode`` as the rollout would have: prompt and observations 0, actions 1.

    Each action is encoded alone (as a policy samples it, turn by turn); the
    observation that follows it is added as the rollout adds it. The last step's
    observation (the end of the episode) is not part of the sequence.
    """
    tokens = TokenAssembler(tokenizer)
    tokens.start([{"role": m["role"], "content": m["content"]} for m in episode.prompt])
    for i, step in enumerate(episode.steps):
        tokens.add_completion(tokenizer.encode(step.action, add_special_tokens=False))
        if i + 1 < len(episode.steps):
            tokens.add_observation(step.observation)
    return SFTExample(tuple(tokens.ids), tuple(tokens.mask), episode.episode_id)


def sft_examples(store: ReplayStore, run_id: str, tokenizer: Any, *,
                 max_tokens: int | None = None) -> list[SFTExample]:
    """The scored episodes of ``run_id``, tokenised; broken ones (timeouts, errors) are skipped.

    ``max_tokens`` drops episodes longer than that many tokens.
    """
    out = []
    for episode in store.episodes(run_id):
        if not EpisodeStatus.parse(episode.status).scored or not episode.steps:
            continue
        example = demo_tokens(episode, tokenizer)
        if max_tokens is None or len(example.ids) <= max_tokens:
            out.append(example)
    if not out:
        raise WebResearchError(f"Expects scored episodes in run {run_id!r}, actual: none")
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class SFTConfig:
    """How to clone: optimiser, batch and schedule."""

    lr: float = 3e-3
    """Peak learning rate (AdamW)."""
    weight_decay: float = 0.0
    """AdamW's decoupled weight decay."""
    warmup_steps: int = 20
    """Linear warm-up from 0 to ``lr``; then cosine decay to 10% at ``total_steps``."""
    total_steps: int = 1000
    """The schedule's length (training may stop earlier, on a time budget)."""
    batch_size: int = 16
    """Episodes per optimizer step."""
    micro_batch_tokens: int = 8192
    """Padded tokens per forward/backward; gradients accumulate over the step."""
    max_grad_norm: float = 1.0
    """Clip the gradient's global norm to this."""
    seed: int = 0
    """Seeds the order of examples."""

    def __post_init__(self) -> None:
        for name in ("total_steps", "batch_size", "micro_batch_tokens"):
            if getattr(self, name) < 1:
                raise ConfigError(f"Expects {name} >= 1, actual: {getattr(self, name)}")
        if self.lr <= 0:
            raise ConfigError(f"Expects lr > 0, actual: {self.lr}")


@dataclass(frozen=True, slots=True)
class SFTMetrics:
    """What one optimizer step did."""

    step: int
    loss: float
    """Mean cross-entropy per policy token."""
    tokens: int
    """Policy tokens in the step."""
    lr: float
    grad_norm: float
    seconds: float
    """Wall time of the step."""


class SFTTrainer:
    """Fine-tune a causal LM on :class:`SFTExample` batches, the loss on mask-1 tokens only.

    Args:
        model: A transformers causal LM (anything returning ``.logits``), trained in place.
        config: The optimiser and schedule.
    """

    def __init__(self, model: Any, config: SFTConfig | None = None) -> None:
        import torch  # noqa: PLC0415 - heavy, optional

        self.torch = torch
        self.model = model
        self.config = config or SFTConfig()
        self.optimizer = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad], lr=self.config.lr,
            weight_decay=self.config.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.step_count = 0

    def _lr_factor(self, step: int) -> float:
        c = self.config
        if step < c.warmup_steps:
            return (step + 1) / c.warmup_steps
        progress = min(1.0, (step - c.warmup_steps) / max(1, c.total_steps - c.warmup_steps))
        return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress))

    def step(self, batch: Sequence[SFTExample]) -> SFTMetrics:
        """One optimizer step on ``batch``."""
        start = time.perf_counter()
        tokens = sum(sum(e.mask[1:]) for e in batch)
        if tokens == 0:
            raise WebResearchError("Expects examples with policy tokens, actual: none")
        self.model.train()
        total = 0.0
        for part in _micro_batches(batch, self.config.micro_batch_tokens):
            total += self._micro_step(part, tokens)
        params = [p for p in self.model.parameters() if p.grad is not None]
        norm = self.torch.nn.utils.clip_grad_norm_(params, self.config.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step_count += 1
        return SFTMetrics(self.step_count, total, tokens, float(self.scheduler.get_last_lr()[0]),
                          float(norm), time.perf_counter() - start)

    def _micro_step(self, batch: Sequence[SFTExample], tokens: int) -> float:
        """Forward and backward on a few sequences; returns their share of the step's loss."""
        torch = self.torch
        width = max(len(e.ids) for e in batch)
        ids = torch.tensor([list(e.ids) + [0] * (width - len(e.ids)) for e in batch])  # (b, L)
        mask = torch.tensor([list(e.mask) + [0] * (width - len(e.mask)) for e in batch])  # (b, L)
        attention = torch.tensor([[1] * len(e.ids) + [0] * (width - len(e.ids)) for e in batch])
        where = mask[:, 1:].bool()  # (b, L-1): a token's logits come from the position before
        logits = self._logits(ids, attention, where)  # (n, V)
        loss = torch.nn.functional.cross_entropy(logits.float(), ids[:, 1:][where],
                                                 reduction="sum") / tokens
        loss.backward()
        return float(loss.detach())

    def _logits(self, ids: Any, attention: Any, where: Any) -> Any:
        """The next-token logits at the ``where`` positions only, ``(n, V)``.

        The policy's tokens are a fifth of a research episode; projecting only their
        positions onto the vocabulary saves most of the output layer's cost. Models
        without a separable decoder and output layer get the full logits, then a pick.
        """
        decoder = getattr(self.model, "get_decoder", lambda: None)()
        head = getattr(self.model, "get_output_embeddings", lambda: None)()
        if decoder is None or head is None:
            logits = self.model(input_ids=ids, attention_mask=attention).logits  # (b, L, V)
            return logits[:, :-1][where]
        hidden = decoder(input_ids=ids, attention_mask=attention).last_hidden_state  # (b, L, H)
        return head(hidden[:, :-1][where])

    def fit(self, examples: Sequence[SFTExample], *, steps: int | None = None,
            seconds: float | None = None,
            on_step: Callable[[SFTMetrics], None] | None = None) -> list[SFTMetrics]:
        """Step through shuffled epochs of ``examples`` until ``steps`` or ``seconds`` run out.

        Batches hold examples of similar length (less padding). With neither budget,
        trains ``config.total_steps`` steps.
        """
        if steps is None and seconds is None:
            steps = self.config.total_steps
        rng = random.Random(self.config.seed)
        start, logs = time.perf_counter(), list[SFTMetrics]()
        while True:
            for batch in _length_batches(examples, self.config.batch_size, rng):
                if (steps is not None and len(logs) >= steps) or (
                        seconds is not None and time.perf_counter() - start >= seconds):
                    return logs
                logs.append(self.step(batch))
                if on_step is not None:
                    on_step(logs[-1])

    def save(self, path: str) -> None:
        """Save the model in the Hugging Face layout (``from_pretrained`` loads it)."""
        self.model.save_pretrained(path)


def _length_batches(examples: Sequence[SFTExample], size: int,
                    rng: random.Random) -> list[list[SFTExample]]:
    """Shuffle, sort windows of ``50 * size`` by length, cut into batches, shuffle the batches."""
    order = list(examples)
    rng.shuffle(order)
    batches = []
    for i in range(0, len(order), 50 * size):
        window = sorted(order[i:i + 50 * size], key=lambda e: len(e.ids))
        batches += [window[j:j + size] for j in range(0, len(window), size)]
    rng.shuffle(batches)
    return batches


def _micro_batches(batch: Sequence[SFTExample], budget: int) -> list[list[SFTExample]]:
    """Split ``batch`` so each part's padded size (rows times longest) stays within ``budget``."""
    parts: list[list[SFTExample]] = [[]]
    for example in sorted(batch, key=lambda e: len(e.ids)):
        part = parts[-1]
        if part and (len(part) + 1) * len(example.ids) > budget:
            parts.append([])
        parts[-1].append(example)
    return parts
