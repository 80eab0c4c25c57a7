"""The GRPO learner: recorded groups in, one optimizer step out, readable top to bottom."""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from webresearch._lazy import require
from webresearch.errors import ConfigError, WebResearchError
from webresearch.replay.schema import EpisodeRecord
from webresearch.train.loss import LossConfig, group_advantages, grpo_loss

__all__ = ["GRPOConfig", "GRPOLearner", "StepMetrics", "add_lora", "pad_batch"]


def add_lora(model: Any, *, rank: int = 16, alpha: int = 32, dropout: float = 0.0) -> Any:
    """Freeze ``model`` and add LoRA adapters to its linear layers (in place, with peft).

    The adapters live inside the same module objects, so a policy holding ``model``
    samples through them; only they are trained (and saved by :meth:`GRPOLearner.save`).
    """
    peft = require("peft", "train")
    config = peft.LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout,
                             target_modules="all-linear", task_type="CAUSAL_LM")
    return peft.get_peft_model(model, config)


@dataclass(frozen=True, slots=True, kw_only=True)
class GRPOConfig:
    """Everything the learner needs besides the model."""

    loss: LossConfig = field(default_factory=LossConfig)
    """Clip ranges, KL weight and aggregation."""
    lr: float = 1e-6
    """Peak learning rate (AdamW)."""
    weight_decay: float = 0.0
    warmup_steps: int = 0
    """Linear warm-up from 0 to ``lr``."""
    schedule: str = "constant"
    """After warm-up: ``constant``, ``linear`` (to 0 at ``total_steps``) or ``cosine``."""
    total_steps: int = 1000
    max_grad_norm: float | None = 1.0
    """Clip the gradient's global norm; ``None`` never clips."""
    micro_batch_size: int = 4
    """Sequences per forward/backward (gradients accumulate over the step)."""
    scale_rewards: bool = True
    """Divide advantages by the group's std (GRPO); ``False`` is Dr. GRPO."""
    advantage_eps: float = 1e-4
    temperature: float = 1.0
    """The sampling temperature, so recomputed log-probs match the recorded ones."""
    max_staleness: int | None = None
    """Drop episodes sampled more than this many policy versions ago."""
    stale_weight: float = 1.0
    """Multiply an episode's advantage by ``stale_weight ** age`` (age in versions)."""
    broken_reward: float | None = None
    """``None``: leave out episodes broken from outside (a timeout, a policy or env
    error: they have no reward), and groups left with fewer than two episodes. A number:
    train on them with this reward instead, explicitly."""

    def __post_init__(self) -> None:
        if self.schedule not in ("constant", "linear", "cosine"):
            raise ConfigError(f"Expects schedule in ['constant', 'linear', 'cosine'], "
                              f"actual: {self.schedule!r}")


@dataclass(frozen=True, slots=True)
class StepMetrics:
    """What one learner step did."""

    step: int
    loss: float
    reward: float
    kl: float
    entropy: float
    clip_fraction: float
    grad_norm: float
    lr: float
    sequences: int
    tokens: int
    flat_groups: int
    """Groups whose rewards were all equal (no learning signal)."""
    dropped_stale: int
    dropped_broken: int = 0
    """Episodes left out because they were broken from outside (and the rest of groups
    left with fewer than two)."""


class GRPOLearner:
    """Update ``model`` from groups of recorded episodes (token ids, mask, sampled log-probs).

    Args:
        model: A causal LM (transformers, or anything returning ``.logits``); trained in place,
            so an ``HFPolicy`` holding it samples from the new weights at once.
        config: The step's hyper-parameters.
        ref_model: The frozen reference policy for the KL term (needed when ``beta > 0``).
    """

    def __init__(self, model: Any, config: GRPOConfig | None = None, *,
                 ref_model: Any = None) -> None:
        import torch  # noqa: PLC0415 - heavy, optional

        self.torch = torch
        self.model = model
        self.config = config or GRPOConfig()
        if self.config.loss.beta != 0.0 and ref_model is None:
            raise ConfigError("Expects a ref_model when beta != 0, actual: None")
        self.ref_model = ref_model
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=self.config.lr,
                                           weight_decay=self.config.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.step_count = 0
        self.policy_version = 0

    # ------------------------------------------------------------ schedule
    def _lr_factor(self, step: int) -> float:
        c = self.config
        if step < c.warmup_steps:
            return (step + 1) / c.warmup_steps
        progress = min(1.0, (step - c.warmup_steps) / max(1, c.total_steps - c.warmup_steps))
        if c.schedule == "linear":
            return 1.0 - progress
        if c.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return 1.0

    # ---------------------------------------------------------------- step
    def step(self, groups: list[list[EpisodeRecord]]) -> StepMetrics:
        """One optimizer step on ``groups`` (each: the rollouts of one task)."""
        torch, c = self.torch, self.config
        groups, broken = self._scored(groups)
        if not groups:  # every group broken (say, the policy's server was down): no step
            return StepMetrics(step=self.step_count, loss=0.0, reward=0.0, kl=0.0, entropy=0.0,
                               clip_fraction=0.0, grad_norm=0.0, lr=float(
                                   self.scheduler.get_last_lr()[0]), sequences=0, tokens=0,
                               flat_groups=0, dropped_stale=0, dropped_broken=broken)
        groups, dropped = self._fresh(groups)
        episodes = [e for g in groups for e in g]
        rewards = torch.tensor([_reward(e, c.broken_reward) for e in episodes],
                               dtype=torch.float32)  # (B,)
        sizes = [len(g) for g in groups]
        advantages, flat = group_advantages(rewards, sizes[0] if len(set(sizes)) == 1 else sizes,
                                            scale=c.scale_rewards, eps=c.advantage_eps)  # (B,)
        ages = torch.tensor([self.policy_version - e.policy_version for e in episodes])
        advantages = advantages * c.stale_weight ** ages.clamp(min=0)  # (B,)
        tokens = sum(sum(_check(e).loss_mask or ()) for e in episodes)
        self.model.train()
        totals: dict[str, float] = {"loss": 0.0, "kl": 0.0, "entropy": 0.0, "clip_fraction": 0.0}
        for start in range(0, len(episodes), c.micro_batch_size):
            batch = episodes[start:start + c.micro_batch_size]
            parts = self._micro_step(batch, advantages[start:start + c.micro_batch_size],
                                     sequences=len(episodes), tokens=max(tokens, 1))
            for key, value in parts.items():
                totals[key] += value
        grad_norm = self._clip()
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step_count += 1
        self.policy_version += 1
        return StepMetrics(step=self.step_count, loss=totals["loss"],
                           reward=float(rewards.mean()), kl=totals["kl"],
                           entropy=totals["entropy"], clip_fraction=totals["clip_fraction"],
                           grad_norm=grad_norm, lr=float(self.scheduler.get_last_lr()[0]),
                           sequences=len(episodes), tokens=tokens, flat_groups=flat,
                           dropped_stale=dropped, dropped_broken=broken)

    def _micro_step(self, batch: list[EpisodeRecord], advantages: Any, *, sequences: int,
                    tokens: int) -> dict[str, float]:
        """Forward, loss and backward for a few sequences; returns their share of the metrics."""
        torch = self.torch
        ids, mask, old = pad_batch(torch, batch)  # (b, L) each
        target_mask = mask[:, 1:]  # a token's log-prob comes from the position before it
        logprobs, entropy = self._logprobs(self.model, ids, entropy_at=target_mask)  # (b, L-1)
        recorded = old[:, 1:]
        missing = torch.tensor([e.logprobs is None for e in batch]).unsqueeze(1)  # (b, 1)
        old_logprobs = torch.where(missing, logprobs.detach(), recorded)  # (b, L-1)
        ref = None
        if self.ref_model is not None and self.config.loss.beta != 0.0:
            with torch.no_grad():
                ref = self._logprobs(self.ref_model, ids)[0]
        loss, metrics = grpo_loss(logprobs, old_logprobs, advantages, target_mask,
                                  self.config.loss, ref_logprobs=ref, sequences=sequences,
                                  tokens=tokens)
        loss.backward()  # type: ignore[no-untyped-call]
        share = float(target_mask.sum()) / tokens
        return {"loss": float(loss.detach()), "kl": float(metrics["kl"]) * share,
                "entropy": float(entropy.sum()) / tokens,
                "clip_fraction": float(metrics["clip_fraction"]) * share}

    def _logprobs(self, model: Any, ids: Any, *, entropy_at: Any = None) -> tuple[Any, Any]:
        """Log-probs of each next token, ``(b, L-1)``, and the entropies where ``entropy_at``
        is 1 (only the policy's tokens: the full vocabulary at every position would cost
        as much as the log-softmax itself)."""
        torch = self.torch
        attention = (ids >= 0).long()
        logits = model(input_ids=ids.clamp(min=0), attention_mask=attention).logits  # (b, L, V)
        scores = torch.log_softmax(logits[:, :-1].float() / self.config.temperature, dim=-1)
        taken = scores.gather(-1, ids[:, 1:].clamp(min=0).unsqueeze(-1)).squeeze(-1)  # (b, L-1)
        entropy = None
        if entropy_at is not None:
            with torch.no_grad():
                picked = scores[entropy_at.bool()]  # (n, V)
                entropy = -(picked.exp() * picked).sum(-1)  # (n,)
        return taken, entropy

    def _clip(self) -> float:
        params = [p for p in self.model.parameters() if p.grad is not None]
        if self.config.max_grad_norm is None:
            norms = [p.grad.detach().norm() for p in params]
            return float(self.torch.stack(norms).norm()) if norms else 0.0
        norm = self.torch.nn.utils.clip_grad_norm_(params, self.config.max_grad_norm)
        return float(norm)

    def _scored(self, groups: list[list[EpisodeRecord]]
                ) -> tuple[list[list[EpisodeRecord]], int]:
        """Leave out broken episodes (unless ``broken_reward`` weighs them in), and groups
        left with fewer than two episodes, which have no baseline to learn against."""
        if self.config.broken_reward is not None:
            return groups, 0
        kept = []
        for group in groups:
            scored = [e for e in group if e.scored]
            if len(scored) == len(group) or len(scored) >= 2:
                kept.append(scored)
        return kept, sum(len(g) for g in groups) - sum(len(g) for g in kept)

    def _fresh(self, groups: list[list[EpisodeRecord]]) -> tuple[list[list[EpisodeRecord]], int]:
        """Drop whole groups that hold an episode older than ``max_staleness`` versions."""
        limit = self.config.max_staleness
        if limit is None:
            return groups, 0
        kept = [g for g in groups
                if all(self.policy_version - e.policy_version <= limit for e in g)]
        if not kept:
            raise WebResearchError(f"Expects episodes at most {limit} versions old, actual: "
                                   "every group was staler")
        return kept, sum(len(g) for g in groups) - sum(len(g) for g in kept)

    # ---------------------------------------------------------- checkpoints
    def save(self, path: str | Path) -> None:
        """Save everything a resumed run needs to continue exactly."""
        torch = self.torch
        torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(), "step": self.step_count,
                    "policy_version": self.policy_version, "config": asdict(self.config),
                    "rng": {"torch": torch.get_rng_state(), "python": random.getstate()}},
                   Path(path))

    def load(self, path: str | Path) -> None:
        torch = self.torch
        state = torch.load(Path(path), weights_only=True)  # never unpickles code
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step_count, self.policy_version = state["step"], state["policy_version"]
        torch.set_rng_state(state["rng"]["torch"])
        random.setstate(state["rng"]["python"])


def _reward(episode: EpisodeRecord, broken_reward: float | None) -> float:
    if episode.reward is not None:
        return episode.reward
    if broken_reward is None:
        raise WebResearchError(f"Expects a scored episode, actual: {episode.episode_id} "
                               f"ended with {episode.status}")
    return broken_reward


def _check(episode: EpisodeRecord) -> EpisodeRecord:
    if episode.token_ids is None or episode.loss_mask is None:
        raise WebResearchError(f"Expects episodes with token ids and a loss mask (sampled by a "
                               f"policy with a tokenizer), actual: {episode.episode_id} has none")
    return episode


def pad_batch(torch: Any, batch: list[EpisodeRecord]) -> tuple[Any, Any, Any]:
    """Right-pad ids (with -1), mask and recorded log-probs to one length: ``(b, L)`` each."""
    width = max(len(_check(e).token_ids or ()) for e in batch)
    ids, mask, old = [], [], []
    for e in batch:
        n, pad = len(e.token_ids or ()), width - len(e.token_ids or ())
        ids.append(list(e.token_ids or ()) + [-1] * pad)
        mask.append(list(e.loss_mask or ()) + [0] * pad)
        old.append(list(e.logprobs or [0.0] * n) + [0.0] * pad)
    return torch.tensor(ids), torch.tensor(mask), torch.tensor(old, dtype=torch.float32)
