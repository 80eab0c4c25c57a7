"""The GRPO objective as pure functions: group-relative advantages and the clipped, masked loss.

Shapes in comments: ``B`` sequences, ``G`` rollouts per group, ``T`` token positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from webresearch.errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = ["LOSS_TYPES", "LossConfig", "group_advantages", "grpo_loss"]

LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo")
"""``grpo``: the mean over sequences of each sequence's token mean. ``bnpo`` and ``dapo``:
the mean over every policy token of the batch. ``dr_grpo``: the sum over tokens divided by
sequences times ``max_completion_length`` (Dr. GRPO's constant normaliser)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LossConfig:
    """The knobs of the GRPO loss (named as in TRL's ``GRPOConfig``)."""

    epsilon: float = 0.2
    """Lower clip range of the importance ratio: ``1 - epsilon``."""
    epsilon_high: float | None = None
    """Upper clip range ``1 + epsilon_high`` (DAPO's clip-higher); ``None`` uses ``epsilon``."""
    beta: float = 0.0
    """Weight of the k3 KL penalty to the reference policy (DeepResearcher: 0.001)."""
    kl_bias_correction: bool = False
    """Multiply the k3 KL by the importance ratio (TRL's ``use_bias_correction_kl``, on by
    default there), correcting for tokens sampled by the old policy."""
    loss_type: str = "grpo"
    """How token losses are averaged; see :data:`LOSS_TYPES`."""
    max_completion_length: int = 1024
    """Dr. GRPO's normaliser (tokens per sequence)."""

    def __post_init__(self) -> None:
        if self.loss_type not in LOSS_TYPES:
            raise ConfigError(f"Expects loss_type in {list(LOSS_TYPES)}, actual: "
                              f"{self.loss_type!r}")


def group_advantages(rewards: torch.Tensor, group_size: int | Sequence[int], *,
                     scale: bool = True, eps: float = 1e-4) -> tuple[torch.Tensor, int]:
    """Each reward minus its group's mean, divided by the group's std plus ``eps`` (if ``scale``).

    ``rewards`` holds each group's rollouts one after the other: ``group_size`` of them
    per group, or as many as each entry of a sequence of sizes says (groups that lost a
    broken episode are smaller). The std is the unbiased one (as TRL and verl compute
    it). Returns the advantages and the number of groups whose rewards are all equal
    (they teach nothing).

    Example:
        >>> import torch
        >>> adv, flat = group_advantages(torch.tensor([1.0, 0.0, 0.5, 0.5]), 2)
        >>> [round(a, 3) for a in adv.tolist()], flat
        ([0.707, -0.707, 0.0, 0.0], 1)
        >>> adv, flat = group_advantages(torch.tensor([1.0, 0.0, 0.5, 0.5, 0.5]), [2, 3])
        >>> [round(a, 3) for a in adv.tolist()], flat
        ([0.707, -0.707, 0.0, 0.0, 0.0], 1)
    """
    if not isinstance(group_size, int):
        import torch  # noqa: PLC0415 - heavy; only its tensors' methods are needed otherwise

        parts = [group_advantages(group, len(group), scale=scale, eps=eps)
                 for group in torch.split(rewards, list(group_size))]
        return torch.cat([a for a, _ in parts]), sum(flat for _, flat in parts)
    grouped = rewards.view(-1, group_size)  # (B / G, G)
    mean = grouped.mean(dim=1, keepdim=True)  # (B / G, 1)
    advantages = grouped - mean  # (B / G, G)
    std = grouped.std(dim=1, keepdim=True) if group_size > 1 else grouped.new_zeros(mean.shape)
    if scale:
        advantages = advantages / (std + eps)
    flat = int((std.squeeze(1) == 0).sum().item())
    return advantages.reshape(-1), flat  # (B,)


def grpo_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
              mask: torch.Tensor, config: LossConfig, *, ref_logprobs: torch.Tensor | None = None,
              sequences: int | None = None, tokens: float | None = None
              ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The clipped surrogate (plus k3 KL) over policy tokens, aggregated per ``loss_type``.

    Args:
        logprobs: Log-probs of the taken tokens under the policy being trained, ``(B, T)``.
        old_logprobs: The same under the policy that sampled them, ``(B, T)``.
        advantages: One advantage per sequence, ``(B,)``.
        mask: 1 where the token was sampled by the policy, ``(B, T)``.
        config: Clip ranges, KL weight, aggregation.
        ref_logprobs: Under the frozen reference policy, ``(B, T)``; needed when ``beta > 0``.
        sequences: Sequences in the whole optimizer step (for gradient accumulation);
            defaults to ``B``.
        tokens: Policy tokens in the whole step; defaults to ``mask.sum()``.

    Returns:
        The loss for this micro-batch (its share of the step's loss), and detached metrics.
    """
    import torch  # noqa: PLC0415 - the package imports without torch

    mask = mask.to(logprobs.dtype)  # (B, T)
    ratio = torch.exp(logprobs - old_logprobs)  # (B, T)
    high = config.epsilon if config.epsilon_high is None else config.epsilon_high
    clipped = torch.clamp(ratio, 1 - config.epsilon, 1 + high)  # (B, T)
    adv = advantages.unsqueeze(1)  # (B, 1)
    per_token = -torch.min(ratio * adv, clipped * adv)  # (B, T)
    kl = torch.zeros_like(per_token)
    if config.beta != 0.0:
        if ref_logprobs is None:
            raise ConfigError("Expects ref_logprobs when beta != 0, actual: None")
        delta = ref_logprobs - logprobs  # (B, T)
        kl = torch.exp(delta) - delta - 1  # k3 estimator, >= 0
        if config.kl_bias_correction:
            kl = kl * ratio
        per_token = per_token + config.beta * kl
    sequences = sequences or logprobs.shape[0]
    tokens = tokens if tokens is not None else mask.sum().clamp(min=1.0).item()
    if config.loss_type == "grpo":
        per_sequence = (per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)  # (B,)
        loss = per_sequence.sum() / sequences
    elif config.loss_type == "dr_grpo":
        loss = (per_token * mask).sum() / (sequences * config.max_completion_length)
    else:  # bnpo, dapo: every policy token of the step weighs the same
        loss = (per_token * mask).sum() / tokens
    region = (ratio < 1 - config.epsilon) & (adv < 0) | (ratio > 1 + high) & (adv > 0)
    n = mask.sum().clamp(min=1.0)
    metrics = {"kl": ((kl * mask).sum() / n).detach(),
               "clip_fraction": ((region.to(mask.dtype) * mask).sum() / n).detach(),
               "ratio": ((ratio * mask).sum() / n).detach()}
    return loss, metrics
