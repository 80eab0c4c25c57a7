"""``webresearch eval``: a policy on a task file, then F1 / EM / MBE tables per domain."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from webresearch.envs.formats import FORMATS
from webresearch.envs.web_research import WebResearchEnv
from webresearch.evaluation.judge import Judge, OpenAIJudge
from webresearch.evaluation.run import evaluate
from webresearch.evaluation.tables import to_markdown
from webresearch.policies.base import SamplingParams
from webresearch.policies.factory import POLICIES, make_policy
from webresearch.replay.schema import RunRecord
from webresearch.replay.store import ReplayStore

__all__ = ["add_eval_command", "run_eval"]


def add_eval_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("eval", help="evaluate a policy: F1, EM and MBE per dataset")
    parser.add_argument("--tasks", required=True, help="task file (JSONL/JSON/Parquet)")
    parser.add_argument("--policy", default="heuristic", choices=POLICIES)
    parser.add_argument("--model", help="model directory (hf, vllm) or served name (openai)")
    parser.add_argument("--base-url", help="the policy's OpenAI-compatible API root")
    parser.add_argument("--web", default="sim", help="web backend spec (default: sim)")
    parser.add_argument("--action-format", default="deepresearcher", choices=sorted(FORMATS))
    parser.add_argument("--max-turns", type=int, default=10)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--judge", default="none",
                        help="'none' (F1/EM only) or an OpenAI-compatible API root")
    parser.add_argument("--judge-model", default="gpt-4o-mini")
    parser.add_argument("--store", type=Path, default=Path("runs/store"))
    parser.add_argument("--run", help="run id to record under (and to resume)")
    parser.add_argument("--resume", action="store_true", help="skip tasks the run already has")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--json", action="store_true", help="print the tables as JSON last")


async def _eval(args: argparse.Namespace) -> int:
    tasks = WebResearchEnv(tasks=args.tasks, web=args.web).tasks
    policy = make_policy(args.policy, tasks=tasks, fmt=args.action_format, model=args.model,
                         base_url=args.base_url)
    judge: Judge | None = None
    if args.judge != "none":
        judge = OpenAIJudge(args.judge, args.judge_model, cache_dir=args.store.parent / "judge")
    run = RunRecord(policy=args.policy, notes="evaluation",
                    config={k: str(v) for k, v in vars(args).items()})
    if args.run:
        run = RunRecord(run_id=args.run, policy=run.policy, notes=run.notes, config=run.config)

    def make_env() -> WebResearchEnv:
        return WebResearchEnv(tasks=tasks, web=args.web, action_format=args.action_format,
                              max_turns=args.max_turns)

    try:
        with ReplayStore(args.store) as store:
            async with policy:
                report = await evaluate(
                    policy=policy, tasks=tasks, make_env=make_env, store=store, judge=judge,
                    run=run, resume=args.resume, concurrency=args.concurrency,
                    sampling=SamplingParams(temperature=args.temperature))
    finally:
        if judge is not None:
            await judge.aclose()
    print(f"run {report.run_id} in {args.store}: {len(report.scored)} episodes "
          f"({report.skipped} resumed)\n")
    print(to_markdown(report.tables))
    if args.json:
        print(json.dumps({"run_id": report.run_id, "tables": report.tables}))
    return 0


def run_eval(args: argparse.Namespace) -> int:
    """Carry out ``webresearch eval``; returns the exit status."""
    return asyncio.run(_eval(args))
