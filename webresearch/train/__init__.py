"""Training: GRPO's loss and learner, and the loop that rolls out, records and learns."""

from __future__ import annotations

from webresearch.train.learner import GRPOConfig, GRPOLearner, StepMetrics, add_lora
from webresearch.train.loop import TrainConfig, TrainLog, train
from webresearch.train.loss import LOSS_TYPES, LossConfig, group_advantages, grpo_loss

__all__ = ["LOSS_TYPES", "GRPOConfig", "GRPOLearner", "LossConfig", "StepMetrics", "TrainConfig",
           "TrainLog",
           "add_lora", "group_advantages", "grpo_loss", "train"]
