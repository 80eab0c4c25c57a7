"""Training: GRPO's loss and learner, and the loop (synchronous or asynchronous) that learns."""

from __future__ import annotations

from webresearch.train.config import AsyncConfig, AsyncStepLog, TrainConfig, TrainLog
from webresearch.train.learner import GRPOConfig, GRPOLearner, StepMetrics, add_lora
from webresearch.train.loop import Learner, train, train_async
from webresearch.train.loss import LOSS_TYPES, LossConfig, group_advantages, grpo_loss

__all__ = ["LOSS_TYPES", "AsyncConfig", "AsyncStepLog", "GRPOConfig", "GRPOLearner", "Learner",
           "LossConfig", "StepMetrics", "TrainConfig", "TrainLog",
           "add_lora", "group_advantages", "grpo_loss", "train", "train_async"]
