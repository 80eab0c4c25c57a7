"""The policy interface: a batch of conversations in, one completion per conversation out."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

from webresearch.chat import ChatMessage, Completion, Prompt, PromptLike, SamplingParams, as_prompt
from webresearch.errors import PolicyError
from webresearch.web.closing import AsyncClosing
from webresearch.web.reader import LLMReader, Reader

__all__ = ["ChatMessage", "Completion", "Policy", "Prompt", "PromptLike", "SamplingParams",
           "as_prompt"]


class Policy(AsyncClosing, abc.ABC):
    """Anything that turns conversations into completions: scripted, HF, vLLM, a server.

    Policies are async context managers; :meth:`aclose` is idempotent.
    """

    name: str = "policy"

    tokenizer: Any = None
    """The backend's tokenizer, when it has one: the rollout then assembles token ids."""

    @abc.abstractmethod
    async def generate(
        self,
        prompts: Sequence[PromptLike],
        sampling: SamplingParams | None = None,
    ) -> list[Completion]:
        """Return one completion per prompt, in order."""

    def load_weights(self, state_dict: dict[str, Any]) -> None:
        """Sample from these weights from now on (a learner's, after a step).

        Backends that hold a model override this; the others cannot take weights.
        """
        raise PolicyError(f"Expects a policy that can load weights, actual: {self.name!r} "
                          "cannot")

    def as_reader(self) -> Reader:
        """A reading agent that reads with this policy (``WebResearchEnv(reader=policy)``)."""
        return LLMReader(self)
