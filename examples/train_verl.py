"""GRPO with verl on ``WebResearch-v0``: write the dataset and the agent loop's YAML, start verl.

verl (>=0.9.1,<0.10) runs the trainer: its rollout servers (vLLM or SGLang, on GPUs)
generate, its agent loop worker plays one ``WebResearch-v0`` episode per sample through
:class:`~webresearch.integrations.verl.WebResearchAgentLoop`, and its FSDP workers train.
``--prompt-length`` and ``--response-length`` are the agent loop's budgets per trajectory
(the response budget covers every turn and observation together).

    python examples/train_verl.py --model Qwen/Qwen2.5-7B-Instruct --gpus 8

``--dry-run`` writes the files, checks every override against verl's own config (Hydra
refuses an unknown key) and prints the command instead of running it: no GPU needed.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

from webresearch.envs.config import EnvConfig
from webresearch.integrations.verl import write_agent_loop_yaml, write_verl_dataset

ENV = {"max_turns": 10, "on_format_error": "end"}
"""The env's options in the agent loop (:class:`EnvConfig` fields)."""


def overrides(args: argparse.Namespace, data: Path, agent: Path) -> list[str]:
    """verl's Hydra overrides for a GRPO run with this agent loop."""
    rollout = "actor_rollout_ref.rollout"
    return [
        "algorithm.adv_estimator=grpo",
        f"data.train_files={data}", f"data.val_files={data}",
        f"data.train_batch_size={args.batch_size}",
        f"data.max_prompt_length={args.prompt_length}",
        f"data.max_response_length={args.response_length}",
        f"actor_rollout_ref.model.path={args.model}",
        "actor_rollout_ref.actor.optim.lr=1e-6",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={args.batch_size}",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=1",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=1",
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=1",
        f"{rollout}.name=vllm", f"{rollout}.n={args.group_size}",
        f"{rollout}.agent.agent_loop_config_path={agent}",
        f"{rollout}.agent.default_agent_loop=webresearch",
        f"trainer.n_gpus_per_node={args.gpus}", "trainer.nnodes=1",
        f"trainer.total_training_steps={args.steps}", "trainer.logger=[console]",
        f"trainer.default_local_dir={args.out / 'checkpoints'}",
    ]


def check(options: list[str]) -> None:
    """Compose verl's trainer config with ``options``: Hydra refuses an unknown key."""
    import verl
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(Path(verl.__file__).parent / "trainer" / "config"),
                               version_base=None):
        config = compose("ppo_trainer", overrides=options)
    assert config.actor_rollout_ref.rollout.agent.default_agent_loop == "webresearch"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="Qwen/Qwen2.5-7B-Instruct")
    parser.add_argument("--tasks", default="default", help="a task file, or the web's own set")
    parser.add_argument("--out", type=Path, default=Path("runs/verl"))
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--group-size", type=int, default=16)
    parser.add_argument("--prompt-length", type=int, default=2048)
    parser.add_argument("--response-length", type=int, default=8192)
    parser.add_argument("--max-turn-tokens", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    data = write_verl_dataset(args.out / "train.parquet", config=EnvConfig(tasks=args.tasks))
    agent = write_agent_loop_yaml(args.out / "agent.yaml", ENV,
                                  max_turn_tokens=args.max_turn_tokens)
    options = overrides(args, data.resolve(), agent.resolve())
    command = [sys.executable, "-m", "verl.trainer.main_ppo", *options]
    if args.dry_run:
        check(options)
        print(shlex.join(command))
        return
    subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
