"""Can a tiny model learn to copy names it never saw? Research in the simulated web needs it.

Every step of a simulated task is a copy: the question's name into a query, a
snippet's name into the next query or the answer. This trains ``examples/train_sim.py``'s
model (same size, same tokenizer: Qwen2's pieces, trained on other worlds) from
scratch on the bare skill, repeating a list of 2-6 names drawn from other worlds, and
reports the loss and the share of lists of the held-out world's names (``sim:seed=1000``)
it repeats exactly, greedily (lists of three).
Usage: ``python benchmarks/copy_probe.py [--steps 1500]``; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from webresearch.policies.tiny import build_tiny_model
from webresearch.policies.tokens import TokenAssembler
from webresearch.sim.world import World, WorldConfig
from webresearch.train.copying import copy_examples, copy_list
from webresearch.train.sft import SFTConfig, SFTTrainer


def names(worlds: range | list[int]) -> list[str]:
    return [e.name for w in worlds for e in World.generate(WorldConfig(seed=w)).entities.values()]


def exact_copies(model: Any, tokenizer: Any, pool: list[str], n: int) -> float:
    """The share of ``n`` lists of three names from ``pool`` the model repeats exactly."""
    rng, hits = random.Random(1), 0
    for _ in range(n):
        text = copy_list(pool, 3, rng)
        prompt = torch.tensor([TokenAssembler(tokenizer).start([{"role": "user",
                                                                  "content": text}])])
        room = len(tokenizer.encode(text)) + 4  # the copy and its end, with a little to spare
        out = model.generate(prompt, attention_mask=torch.ones_like(prompt),
                             max_new_tokens=room, do_sample=False)
        written = tokenizer.decode(out[0, prompt.shape[1]:], skip_special_tokens=True)
        hits += written.strip() == text.strip()
    return hits / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--kv-heads", type=int, default=4)
    parser.add_argument("--examples", type=int, default=20_000, help="training lists")
    parser.add_argument("--probes", type=int, default=50, help="held-out lists to repeat")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = build_tiny_model(Path(tmp), hidden_size=args.hidden, layers=args.layers,
                                heads=args.heads, kv_heads=args.kv_heads,
                                tokenizer_worlds=range(101, 107), qwen2_pieces=True)
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    train_names, heldout_names = names(range(201, 211)), names([1000])
    data = copy_examples(tokenizer, train_names, args.examples)
    trainer = SFTTrainer(model, SFTConfig(lr=args.lr, batch_size=args.batch,
                                          total_steps=args.steps))
    start = time.perf_counter()
    logs = trainer.fit(data, steps=args.steps)
    seconds = time.perf_counter() - start
    model.eval()
    loss = sum(m.loss for m in logs[-50:]) / len(logs[-50:])
    copied = exact_copies(model, tokenizer, heldout_names, args.probes)
    print(f"{args.steps} steps in {seconds:.0f} s: loss {loss:.3f}, exact copies {copied:.2f}")
    print(json.dumps({"steps": args.steps, "final_loss": round(loss, 3),
                      "heldout_exact_copy": copied, "train_seconds": round(seconds, 1)}))


if __name__ == "__main__":
    main()
