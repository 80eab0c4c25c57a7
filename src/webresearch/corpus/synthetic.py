"""A synthetic corpus with FlashRAG wiki-18's shape, streamed to a JSONL file.

wiki-18 (the corpus of Search-R1) is 21M passages of 100 words: Wikipedia articles cut
into chunks, each line ``{"id": ..., "contents": "\\"Title\\"\\ntext"}``. This generator
writes that layout from a Zipfian vocabulary (``vocab`` terms, exponent ~1 as in
English, the most frequent ranks being real English function words so that stop words
occur as often as they do in text), articles of a few passages that share a title, and
topic words that recur within an article (the burstiness that makes a passage findable
by words from it). Deterministic for a seed; memory is the vocabulary, not the corpus.

Usage: ``python -m webresearch.corpus.synthetic OUT.jsonl --passages N [--seed S]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["SyntheticSpec", "synthetic_passages", "write_synthetic"]

logger = logging.getLogger(__name__)

FUNCTION_WORDS = (
    "the of and in to a is was for on as by with he that at from his it an were are which "
    "this also be has or had first one their its after new who they two her she been other "
    "when there all during into time may more only over some would where later up such used "
    "many can about out then not no but if these will").split()
"""The top ranks of the vocabulary: frequent English words, Lucene's stop words among them."""


@dataclass(frozen=True, slots=True)
class SyntheticSpec:
    """The shape of a synthetic corpus.

    Attributes:
        passages: How many passages to write.
        vocab: Distinct words in the vocabulary.
        words: Words per passage (an article's last passage is shorter).
        zipf: The exponent of the words' rank-frequency law.
        article_passages: Mean passages per article (wiki-18: 21M over ~6M articles).
        topic_share: The share of a passage's words drawn from its article's topic words.
        seed: The seed; the same spec writes the same bytes.
    """

    passages: int
    vocab: int = 3_000_000
    words: int = 100
    zipf: float = 1.0
    article_passages: float = 3.5
    topic_share: float = 0.15
    seed: int = 0


def _vocabulary(spec: SyntheticSpec, rng: np.random.Generator) -> list[str]:
    """Function words, then random lowercase words of 3-12 letters (duplicates allowed)."""
    n = max(spec.vocab - len(FUNCTION_WORDS), 1)
    lengths = rng.integers(3, 13, n)
    letters = rng.integers(0, 26, int(lengths.sum()), dtype=np.uint8) + ord("a")
    blob = letters.tobytes().decode("ascii")
    ends = np.cumsum(lengths)
    return FUNCTION_WORDS + [blob[e - n_:e] for e, n_ in zip(ends.tolist(), lengths.tolist(),
                                                              strict=True)]


def zipf_ranks(u: np.ndarray, size: int, exponent: float, low: int = 0) -> np.ndarray:
    """Ranks in ``[low, size)`` from uniforms ``u``: the inverse CDF of the density
    ``x ** -exponent`` on ``[1, size - low + 1)`` (a continuous Zipf law, no table)."""
    top = size - low + 1.0
    if abs(exponent - 1.0) < 1e-9:
        x = top ** u
    else:
        x = ((top ** (1 - exponent) - 1) * u + 1) ** (1 / (1 - exponent))
    return np.minimum(x.astype(np.int64) - 1 + low, size - 1)


def synthetic_passages(spec: SyntheticSpec) -> Iterator[tuple[str, str]]:
    """Yield ``(title, text)`` for every passage, article by article."""
    rng = np.random.default_rng(spec.seed)
    vocab = _vocabulary(spec, rng)
    content = len(FUNCTION_WORDS)
    made, left, title, topic = 0, 0, "", np.zeros(6, dtype=np.int64)
    while made < spec.passages:
        batch = min(4096, spec.passages - made)
        words = zipf_ranks(rng.random((batch, spec.words)), len(vocab), spec.zipf)  # (batch, words)
        mask = rng.random((batch, spec.words)) < spec.topic_share
        picks = rng.integers(0, len(topic), (batch, spec.words))
        for row, row_mask, row_picks in zip(words, mask, picks, strict=True):
            if left == 0:  # a new article: its title and topic words
                left = int(rng.geometric(1 / spec.article_passages))
                title_ids = zipf_ranks(rng.random(3), len(vocab), spec.zipf, low=content)
                rare = rng.integers(content, len(vocab), 3)
                topic = np.concatenate([title_ids, rare])
                title = " ".join(vocab[t].capitalize()
                                 for t in title_ids[:int(rng.integers(1, 4))].tolist())
            row[row_mask] = topic[row_picks[row_mask]]
            left -= 1
            length = spec.words if left else int(rng.integers(20, spec.words + 1))
            yield title, " ".join([vocab[w] for w in row[:length].tolist()])
        made += batch


def write_synthetic(path: Path, spec: SyntheticSpec) -> Path:
    """Write the corpus to ``path`` (FlashRAG JSONL, ids ``"0"``, ``"1"``, ...)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    start = time.perf_counter()
    with tmp.open("w", encoding="utf-8") as f:
        lines = []
        for i, (title, text) in enumerate(synthetic_passages(spec)):
            lines.append(json.dumps({"id": str(i), "contents": f'"{title}"\n{text}'}))
            if len(lines) == 10_000:
                f.write("\n".join(lines) + "\n")
                lines.clear()
        if lines:
            f.write("\n".join(lines) + "\n")
    tmp.replace(path)
    logger.info("Wrote %d synthetic passages to %s in %.1f s", spec.passages, path,
                time.perf_counter() - start)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--passages", type=int, required=True)
    parser.add_argument("--vocab", type=int, default=3_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    write_synthetic(args.out, SyntheticSpec(args.passages, vocab=args.vocab, seed=args.seed))


if __name__ == "__main__":
    main()
