"""Copy drills: repeat a list of names, a warm-up that teaches a model from scratch to copy.

Every step of research in the simulated web is a copy (the question's name into a
query, a snippet's name into the next query or the answer), and a model trained from
scratch on research episodes alone does not learn to copy a name it never saw within
minutes. On bare lists it does (``benchmarks/copy_probe.py``): the drill forms the
attention heads that find a token earlier in the context and write what followed it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from webresearch.errors import ConfigError
from webresearch.policies.tokens import TokenAssembler
from webresearch.train.sft import SFTExample

__all__ = ["copy_examples", "copy_list"]


def copy_list(names: Sequence[str], size: int, rng: random.Random) -> str:
    """``size`` distinct names of ``names``, comma-separated, each after a space.

    Example:
        >>> copy_list(["Gagem", "Dicos Theistem", "Quaco"], 2, random.Random(0))
        ' Dicos Theistem, Quaco'
    """
    return " " + ", ".join(rng.sample(names, size))


def copy_examples(tokenizer: Any, names: Sequence[str], n: int, *, sizes: tuple[int, int] = (2, 6),
                  seed: int = 0) -> list[SFTExample]:
    """``n`` drills: a user turn lists names, the assistant repeats them (the loss on that).

    Laid out with the rollout's chat template, as research episodes are; the names go
    after a space, as the compact format writes them.

    Args:
        tokenizer: A Hugging Face tokenizer with a chat template.
        names: The names to draw lists from.
        n: How many drills.
        sizes: The fewest and most names in a list.
        seed: Seeds the draws.

    Returns:
        One :class:`SFTExample` per drill: the prompt with mask 0, the copy and the
        end of the turn with mask 1.
    """
    low, high = sizes
    if n < 1:
        raise ConfigError(f"Expects n >= 1, actual: {n}")
    if not 1 <= low <= high <= len(names):
        raise ConfigError(f"Expects 1 <= sizes[0] <= sizes[1] <= len(names) ({len(names)}), "
                          f"actual: {sizes}")
    rng, out, tokens = random.Random(seed), [], TokenAssembler(tokenizer)
    for _ in range(n):
        text = copy_list(names, rng.randint(low, high), rng)
        tokens.start([{"role": "user", "content": text}])
        tokens.add_completion([*tokenizer.encode(text, add_special_tokens=False),
                               tokenizer.eos_token_id])
        out.append(SFTExample(tuple(tokens.ids), tuple(tokens.mask)))
    return out
