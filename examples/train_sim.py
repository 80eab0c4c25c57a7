"""Teach a tiny model to research on the simulated web, and show the task reward rise on a world
it never saw: behaviour cloning, then GRPO on DeepResearcher's F1 reward, on CPU.

Three phases, every episode through the real env, rollout, replay store and learner:

1. **Demonstrations**: scripted policies (the oracle, searching only words it has read;
   the impatient oracle, which answers after its first search; the no-tool floor; mixed
   per task) play tasks of one simulated world, eight times the default size
   (``sim:seed=0,scale=8``: too many names to memorise); the episodes are recorded in
   the replay store. On a multi-hop task the demonstrations that search answer after the
   first search 5 times in 9, so the cloned model, played greedily, answers after one
   search: whether to research further is what GRPO has to learn from the reward.
2. **Behaviour cloning**: a tiny Qwen2 model, from scratch (its tokenizer trained on
   other worlds' pages), first drills on copying lists of the training world's names
   (``webresearch.train.copying``: without it, it never copies a name it has not seen),
   then is fine-tuned on those episodes read back from the store, the loss on the
   policy's tokens only.
3. **GRPO** from that checkpoint on the task reward (F1 with the -1 format penalty),
   all kinds of task from the start (``--one-hop-steps`` puts one-hop tasks first).

Before and after each phase the model is scored (greedy) on held-out tasks of another
world (``sim:seed=N``: new entities, new pages, the same kinds of question), with F1 and
EM per hop count, and a paired bootstrap 95% interval of GRPO's improvement. It writes
a PNG, the checkpoints, and prints one JSON object last.

    python examples/train_sim.py                  # about 25 minutes on 2 cores
    python examples/train_sim.py --minutes 10     # the same, cut to fit 10 minutes in all

Every phase stops at its step budget (``--copy-steps``, ``--sft-steps``, ``--grpo-steps``):
the same steps, and the same result, on a fast machine or a slow one. ``--minutes`` is an
optional cap over the whole script: the training phases stop early so that the script,
evaluations included, ends within about that time (then a slower machine trains fewer
steps). Each phase prints its progress as it goes.

What it reaches, and what did not work on the way, is in docs/reports/training.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from webresearch.envs.web_research import WebResearchEnv
from webresearch.policies.hf import HFPolicy
from webresearch.policies.policy import SamplingParams
from webresearch.policies.tiny import build_tiny_model
from webresearch.replay.store import ReplayStore
from webresearch.sim.tasks import generate_tasks
from webresearch.sim.world import World, WorldConfig
from webresearch.tasks import Task
from webresearch.train import (
    GRPOConfig,
    GRPOLearner,
    LossConfig,
    TrainConfig,
    TrainLog,
    train,
)
from webresearch.train.compact import CompactFormat
from webresearch.train.copying import copy_examples
from webresearch.train.demos import demo_policy, record_demos
from webresearch.train.heldout import HeldoutResult, evaluate, paired_bootstrap
from webresearch.train.sft import SFTConfig, SFTMetrics, SFTTrainer, sft_examples

STOP = ("</search>", "</answer>")


@dataclass
class History:
    """What the run measured, for the plot and the JSON."""

    drill: list[SFTMetrics] = field(default_factory=list)
    sft: list[SFTMetrics] = field(default_factory=list)
    grpo: list[TrainLog] = field(default_factory=list)
    heldout: dict[str, HeldoutResult] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Budget:
    """``--minutes``: a cap over the whole script, or none (``end`` is ``None``)."""

    end: float | None

    @classmethod
    def of(cls, minutes: float | None) -> Budget:
        return cls(None if not minutes else time.perf_counter() + minutes * 60)

    def left(self, reserve: float = 0.0) -> float | None:
        """Seconds left for training, keeping ``reserve`` for what must still run."""
        return None if self.end is None else max(0.0, self.end - time.perf_counter() - reserve)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--out", type=Path, default=Path("runs/train_sim"))
    add("--seed", type=int, default=0)
    add("--sft-from", type=Path, default=None,
        help="start GRPO from this cloned model (skips demonstrations and cloning)")
    add("--minutes", type=float, default=None,
        help="optional cap on the whole script's wall-clock time: the training phases stop "
             "early (the drill and cloning get --sft-share of the time left, GRPO the rest) "
             "so that everything, evaluations included, ends within about this; default: "
             "none, every phase runs its step budget")
    add("--sft-share", type=float, default=0.45,
        help="with --minutes: the share of the training time for the drill and cloning")
    add("--copy-steps", type=int, default=1500,
        help="steps of the copy drill before cloning (batches of 32 lists of names); 0: none")
    add("--sft-steps", type=int, default=1100, help="steps of behaviour cloning")
    add("--grpo-steps", type=int, default=80, help="steps of GRPO")
    add("--train-world", type=int, default=0, help="the world demonstrations and GRPO use")
    add("--train-scale", type=int, default=8,
        help="the training world has this many times the entities of a default world: "
             "too many names to memorise, so the model must learn to copy them")
    add("--heldout-world", type=int, default=1000, help="the unseen world of the evaluation")
    add("--heldout-tasks", type=int, default=300)
    add("--demo-tasks", type=int, default=6000)
    add("--grpo-tasks", type=int, default=2000, help="size of GRPO's task pool")
    add("--oracle", type=float, default=0.4, help="share of demonstrations by the oracle")
    add("--heuristic", type=float, default=0.0, help="... by the heuristic searcher")
    add("--no-tool", type=float, default=0.1, help="... by the no-tool floor")
    add("--impatient", type=float, default=0.5,
        help="... by the impatient oracle (answers after its first search)")
    add("--tokenizer-worlds", type=lambda text: [int(x) for x in text.split(",")],
        default=[101, 102, 103, 104, 105, 106],
        help="seeds of the worlds whose pages train the tokenizer (comma-separated); "
             "neither the training nor the held-out world, so that no name of either is "
             "one token")
    add("--hidden", type=int, default=128)
    add("--layers", type=int, default=4)
    add("--heads", type=int, default=4)
    add("--kv-heads", type=int, default=4,
        help="key-value heads; as many as --heads: copying wants a head that finds the "
             "previous token and one that looks after it, with keys of their own")
    add("--max-turns", type=int, default=4)
    add("--top-k", type=int, default=1)
    add("--max-tokens", type=int, default=96, help="longest action, in tokens")
    add("--sft-lr", type=float, default=1e-3)
    add("--sft-batch", type=int, default=16)
    add("--sft-max-tokens", type=int, default=1024, help="longest demonstration cloned")
    add("--grpo-lr", type=float, default=1e-4)
    add("--groups", type=int, default=8, help="tasks per GRPO step")
    add("--group-size", type=int, default=8, help="rollouts per task")
    add("--temperature", type=float, default=0.6,
        help="GRPO's sampling temperature (low enough that sampled copies of names stay "
             "close to the greedy ones the evaluation plays)")
    add("--one-hop-steps", type=float, default=0.0,
        help="share of GRPO steps on one-hop tasks before all kinds (a curriculum; it "
             "taught the cloned model to stop after one search)")
    return parser.parse_args()


def sim_env(args: argparse.Namespace, world: int, tasks: list[Task],
            scale: int = 1) -> WebResearchEnv:
    return WebResearchEnv(web=f"sim:seed={world},scale={scale}", tasks=tasks,
                          action_format=CompactFormat(), reward="deepresearcher",
                          max_turns=args.max_turns, top_k=args.top_k, date="2026-01-01")


def world_tasks(world: int, n: int, seed: int, scale: int = 1) -> list[Task]:
    return generate_tasks(World.generate(WorldConfig(seed=world).scaled(scale)), n=n, seed=seed)


def curriculum(tasks: list[Task], one_hop_share: float, steps: int, per_step: int,
               rng: random.Random) -> list[Task]:
    """The GRPO task order: one-hop tasks for the first share of steps, then all kinds."""
    first = round(one_hop_share * steps) * per_step
    ones = [t for t in tasks if t.hops == 1]
    rng.shuffle(ones)
    rest = list(tasks)
    rng.shuffle(rest)
    return (ones * (first // max(1, len(ones)) + 1))[:first] + rest


def score(label: str, policy: HFPolicy, args: argparse.Namespace, tasks: list[Task],
          history: History) -> HeldoutResult:
    start = time.perf_counter()
    print(f"held-out {label:>5}: playing {len(tasks)} tasks of world {args.heldout_world} "
          "greedily ...", flush=True)
    sampling = SamplingParams(temperature=0.0, max_tokens=args.max_tokens, stop=STOP)
    result = asyncio.run(evaluate(policy, lambda: sim_env(args, args.heldout_world, tasks),
                                  tasks, sampling=sampling, concurrency=64))
    history.heldout[label] = result
    history.seconds[f"eval_{label}"] = time.perf_counter() - start
    hops = "  ".join(f"{h}-hop {f1:.3f}" for h, (_, f1, _) in result.by_hops().items())
    print(f"held-out {label:>5}: F1 {result.mean_f1:.3f}  EM {result.mean_em:.3f}  reward "
          f"{result.mean_reward:+.3f}  tool calls {sum(result.tool_calls) / len(tasks):.2f}  "
          f"({hops})  [{time.perf_counter() - start:.0f} s]", flush=True)
    return result


def drill(args: argparse.Namespace, policy: HFPolicy, history: History,
          seconds: float | None) -> None:
    """Copy lists of the training world's names: the skill every step of research is made of."""
    world = World.generate(WorldConfig(seed=args.train_world).scaled(args.train_scale))
    drills = copy_examples(policy.tokenizer, [e.name for e in world.entities.values()],
                           32 * args.copy_steps, seed=args.seed)
    trainer = SFTTrainer(policy.model, SFTConfig(lr=args.sft_lr, batch_size=32,
                                                 total_steps=args.copy_steps, seed=args.seed))

    def report(m: SFTMetrics) -> None:
        history.drill.append(m)
        if m.step % 100 == 0 or m.step == 1:
            print(f"copy step {m.step:4d}  loss {m.loss:.3f}  [{m.seconds:.2f} s/step]", flush=True)

    print(f"copy drill: {args.copy_steps} steps of 32 lists of names", flush=True)
    start = time.perf_counter()
    trainer.fit(drills, steps=args.copy_steps, seconds=seconds, on_step=report)
    history.seconds["drill"] = time.perf_counter() - start


def clone(args: argparse.Namespace, policy: HFPolicy, store: ReplayStore, demo_run: str,
          history: History, seconds: float | None) -> None:
    examples = sft_examples(store, demo_run, policy.tokenizer, max_tokens=args.sft_max_tokens)
    trainer = SFTTrainer(policy.model, SFTConfig(lr=args.sft_lr, batch_size=args.sft_batch,
                                                 total_steps=args.sft_steps, seed=args.seed))

    def report(m: SFTMetrics) -> None:
        history.sft.append(m)
        if m.step % 25 == 0 or m.step == 1:
            print(f"sft step {m.step:4d}  loss {m.loss:.3f}  lr {m.lr:.1e}  "
                  f"[{m.seconds:.2f} s/step]", flush=True)

    print(f"cloning {len(examples)} demonstrations, "
          f"{sum(len(e.ids) for e in examples) // len(examples)} tokens each, "
          f"{args.sft_steps} steps", flush=True)
    trainer.fit(examples, steps=args.sft_steps, seconds=seconds, on_step=report)
    policy.model.eval()


def reinforce(args: argparse.Namespace, policy: HFPolicy, store: ReplayStore,
              history: History, seconds: float | None) -> GRPOLearner:
    steps = args.grpo_steps
    learner = GRPOLearner(policy.model, GRPOConfig(
        lr=args.grpo_lr, loss=LossConfig(loss_type="grpo"), micro_batch_size=16,
        total_steps=steps, temperature=args.temperature))
    rng = random.Random(args.seed)
    tasks = curriculum(world_tasks(args.train_world, args.grpo_tasks, seed=args.seed + 1,
                                   scale=args.train_scale),
                       args.one_hop_steps, args.grpo_steps, args.groups, rng)
    sampling = SamplingParams(temperature=args.temperature, max_tokens=args.max_tokens,
                              stop=STOP, seed=None)
    print(f"GRPO: {steps} steps of {args.groups} tasks x {args.group_size} rollouts", flush=True)
    start = time.perf_counter()

    def report(log: TrainLog) -> None:
        history.grpo.append(log)
        m = log.metrics
        print(f"grpo step {m.step:3d}  reward {m.reward:+.3f}  F1 {log.mean_f1:.3f}  "
              f"flat {m.flat_groups}/{args.groups}  tool calls {log.mean_tool_calls:.2f}  "
              f"[{time.perf_counter() - start:.0f} s]", flush=True)
        if seconds is not None and time.perf_counter() - start > seconds:
            raise _OutOfTime

    with contextlib.suppress(_OutOfTime):  # the time budget ran out after a step
        asyncio.run(train(policy=policy, learner=learner,
                          make_env=lambda: sim_env(args, args.train_world, tasks, args.train_scale),
                          tasks=tasks,
                          store=store, on_step=report, config=TrainConfig(
                              steps=steps, groups_per_step=args.groups,
                              group_size=args.group_size, sampling=sampling)))
    policy.model.eval()
    return learner


class _OutOfTime(Exception):
    """Raised from the step callback when GRPO's time budget is spent."""


def _running_mean(values: list[float], window: int) -> list[float]:
    """Mean of the last ``window`` values at each point (fewer at the start)."""
    return [sum(values[max(0, i + 1 - window):i + 1]) / min(i + 1, window)
            for i in range(len(values))]


def plot(history: History, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    axes[0].plot([m.step for m in history.drill], [m.loss for m in history.drill],
                 label="copy drill")
    axes[0].plot([len(history.drill) + m.step for m in history.sft],
                 [m.loss for m in history.sft], label="cloning")
    axes[0].set(title="loss per policy token", xlabel="step")
    axes[0].legend()
    steps = [log.metrics.step for log in history.grpo]
    for name, values in (("reward", [log.metrics.reward for log in history.grpo]),
                         ("F1", [log.mean_f1 for log in history.grpo])):
        line, = axes[1].plot(steps, values, alpha=0.35, linewidth=0.8)
        axes[1].plot(steps, _running_mean(values, 10), color=line.get_color(),
                     label=f"{name} (mean of 10 steps)")
    axes[1].set(title="GRPO: train reward (sampled)", xlabel="step")
    axes[1].legend()
    labels = list(history.heldout)
    hops = sorted({h for r in history.heldout.values() for h in r.by_hops()})
    width = 0.8 / (len(hops) + 1)
    for i, key in enumerate(["all", *hops]):
        values = [history.heldout[label].mean_f1 if key == "all"
                  else history.heldout[label].by_hops().get(int(key), (0, 0.0, 0.0))[1]
                  for label in labels]
        axes[2].bar([x + i * width for x in range(len(labels))], values, width,
                    label="all" if key == "all" else f"{key}-hop")
    axes[2].set_xticks([x + 0.4 - width / 2 for x in range(len(labels))],
                       [f"{label}\nreward {history.heldout[label].mean_reward:+.2f}"
                        for label in labels])
    axes[2].set(title="held-out F1 (unseen world, greedy)", ylabel="F1")
    axes[2].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)


def cloned(args: argparse.Namespace, policy: HFPolicy, store: ReplayStore,
           demo_tasks: list[Task], heldout: list[Task], history: History,
           budget: Budget) -> None:
    """Demonstrations, the copy drill and cloning; the cloned model is saved in ``sft/``."""
    mixture = demo_policy(demo_tasks, CompactFormat(), oracle=args.oracle,
                          heuristic=args.heuristic, no_tool=args.no_tool,
                          impatient=args.impatient, seed=args.seed)
    print(f"recording {len(demo_tasks)} demonstrations in world {args.train_world} ...",
          flush=True)
    start = time.perf_counter()
    demos = asyncio.run(record_demos(
        store, lambda: sim_env(args, args.train_world, demo_tasks, args.train_scale),
        mixture, demo_tasks))
    print(f"recorded {len(demo_tasks)} demonstrations [{time.perf_counter() - start:.0f} s]",
          flush=True)
    score("init", policy, args, heldout, history)
    # Two evaluations are still to come (cloned, GRPO): the training gets what they leave.
    train_s = budget.left(reserve=2 * history.seconds["eval_init"])
    sft_s = None if train_s is None else train_s * args.sft_share
    phase_end = None if sft_s is None else time.perf_counter() + sft_s
    if args.copy_steps > 0:
        share = args.copy_steps / (args.copy_steps + args.sft_steps)
        drill(args, policy, history, None if sft_s is None else sft_s * share)
    left = None if phase_end is None else max(0.0, phase_end - time.perf_counter())
    clone(args, policy, store, demos.run_id, history, left)
    policy.model.save_pretrained(args.out / "sft")
    policy.tokenizer.save_pretrained(args.out / "sft")


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    budget = Budget.of(args.minutes)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    history = History()
    model_dir = args.sft_from or build_tiny_model(
        args.out / "init", hidden_size=args.hidden, layers=args.layers, heads=args.heads,
        kv_heads=args.kv_heads, seed=args.seed, tokenizer_worlds=args.tokenizer_worlds,
        qwen2_pieces=True)
    policy = HFPolicy(model_dir, max_batch=64)
    heldout = world_tasks(args.heldout_world, args.heldout_tasks, seed=0)
    demo_tasks = world_tasks(args.train_world, args.demo_tasks, seed=args.seed,
                             scale=args.train_scale)
    with ReplayStore(args.out / "store") as store:
        if args.sft_from is None:
            cloned(args, policy, store, demo_tasks, heldout, history, budget)
        start = score("sft", policy, args, heldout, history)
        grpo_s = budget.left(reserve=history.seconds["eval_sft"])  # the last evaluation's
        learner = reinforce(args, policy, store, history, grpo_s)
        learner.save(args.out / "grpo.pt")
        end = score("grpo", policy, args, heldout, history)
    plot(history, args.out / "training.png")
    ci = paired_bootstrap(start.f1, end.f1, seed=args.seed)
    print(json.dumps({
        "heldout_f1_start": round(start.mean_f1, 4), "heldout_f1_end": round(end.mean_f1, 4),
        "improvement_ci_low": round(ci.low, 4), "improvement_ci_high": round(ci.high, 4),
        "heldout_n": len(heldout), "minutes": round((time.perf_counter() - started) / 60, 2),
        "heldout_reward_start": round(start.mean_reward, 4),
        "heldout_reward_end": round(end.mean_reward, 4),
        "heldout_f1_init": round(history.heldout["init"].mean_f1, 4)
        if "init" in history.heldout else None,
        "by_hops": {label: {h: round(f1, 4) for h, (_, f1, _) in r.by_hops().items()}
                    for label, r in history.heldout.items()},
        "copy_steps": len(history.drill), "sft_steps": len(history.sft),
        "grpo_steps": len(history.grpo),
        "plot": str(args.out / "training.png")}))


if __name__ == "__main__":
    main()
