"""``webresearch eval``: a policy on a task file, then F1 / EM / MBE tables per domain."""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
from pathlib import Path

from webresearch.cli.costs import add_blocklist_option, blocked_domains
from webresearch.cli.options import (
    WEB_HELP,
    add_policy_options,
    args_json,
    check_policy_options,
)
from webresearch.cli.preflight import check_policy_server, check_web, set_torch_threads
from webresearch.envs.backends import make_web
from webresearch.envs.formats import FORMATS
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError
from webresearch.evaluation.judge import Judge, OpenAIJudge
from webresearch.evaluation.run import EvalReport, evaluate, rescore
from webresearch.evaluation.tables import to_markdown
from webresearch.policies.factory import make_policy
from webresearch.policies.policy import SamplingParams
from webresearch.replay.schema import RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.tasks import load_tasks
from webresearch.web.backend import WebBackend

__all__ = ["SCALE", "add_eval_command", "run_eval"]

SCALE = "scores in percent (0-100, as the paper's tables; rollout reports 0-1)"
"""How eval's tables are scaled, said wherever they are printed."""


def add_eval_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "eval", help="evaluate a policy: F1, EM and MBE per dataset",
        description=f"Evaluate a policy: F1, EM and MBE per dataset, {SCALE}.")
    parser.add_argument("--tasks", help="task file (JSONL/JSON/Parquet); needed unless "
                                        "--from-store")
    add_policy_options(parser, default="heuristic")
    parser.add_argument("--web", default="sim", help=WEB_HELP)
    parser.add_argument("--action-format", default="deepresearcher", choices=sorted(FORMATS),
                        help="the tool-call grammar the policy writes")
    parser.add_argument("--max-turns", type=int, default=10, help="tool calls before the answer")
    add_blocklist_option(parser, "benchmarks")
    parser.add_argument("--temperature", type=float, default=0.0,
                        help="sampling temperature of a model policy")
    parser.add_argument("--judge", default="none",
                        help="'none' (F1/EM only) or an OpenAI-compatible API root whose model "
                             "judges each answer (MBE, model-based evaluation)")
    parser.add_argument("--judge-model", default="gpt-4o-mini",
                        help="the judging model's name on --judge's server")
    parser.add_argument("--judge-usd", type=float, default=0.0,
                        help="US dollars per judge call, for the bill line (default: 0)")
    parser.add_argument("--store", type=Path, default=Path("runs/store"),
                        help="replay store that records the evaluation's episodes (the "
                             "judge's verdicts are cached beside it)")
    parser.add_argument("--run", help="run id to record under (and to resume)")
    parser.add_argument("--resume", action="store_true", help="skip tasks the run already has")
    parser.add_argument("--concurrency", type=int, default=64, help="episodes in flight at once")
    parser.add_argument("--json", action="store_true", help="print the tables as JSON last")
    parser.add_argument("--from-store", action="store_true",
                        help="score the run --run again from --store alone (its episodes and "
                             "the judge verdicts recorded with them): no policy or judge call")


async def _eval(args: argparse.Namespace) -> int:
    if args.from_store:
        return _from_store(args)
    if not args.tasks:
        raise ConfigError("Expects --tasks (a task file), actual: none (only --from-store "
                          "scores without one)")
    check_policy_options(args)
    async with make_web(args.web) as web:  # once per command: a replay store is read once
        check_web(web)
        args.model = await check_policy_server(args.policy, args.model, args.base_url)
        return await _eval_on(args, web)


async def _eval_on(args: argparse.Namespace, web: WebBackend) -> int:
    tasks = WebResearchEnv(tasks=args.tasks, web=web).tasks
    set_torch_threads(args)
    policy = make_policy(args.policy, tasks=tasks, fmt=args.action_format, model=args.model,
                         base_url=args.base_url, max_turns=args.max_turns)
    judge: Judge | None = None
    if args.judge != "none":
        judge = OpenAIJudge(args.judge, args.judge_model, cache_dir=args.store.parent / "judge")
    run = RunRecord(policy=args.policy, notes="evaluation",
                    config=args_json(args))
    if args.run:
        run = RunRecord(run_id=args.run, policy=run.policy, notes=run.notes, config=run.config)

    def make_env() -> WebResearchEnv:
        return WebResearchEnv(tasks=tasks, web=web, action_format=args.action_format,
                              max_turns=args.max_turns, blocked_domains=blocked_domains(args))

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
    return _print_report(args, report, f"({report.skipped} resumed)")


def _from_store(args: argparse.Namespace) -> int:
    """``--from-store``: the run's tables from its records; no policy or judge is called."""
    if not args.run:
        raise ConfigError("Expects --run (the evaluation's run id) with --from-store, "
                          "actual: none")
    wanted = OpenAIJudge.identity_of(args.judge, args.judge_model) if args.judge != "none" \
        else None
    with ReplayStore(args.store, create=False) as store:
        tasks = load_tasks(args.tasks) if args.tasks else None
        report = rescore(store, args.run, judge=wanted, tasks=tasks)
    return _print_report(args, report, f"scored from the store ({report.reused} recorded "
                                       "verdicts, no judge call)")


def _print_report(args: argparse.Namespace, report: EvalReport, how: str) -> int:
    """The tables as Markdown (and, with ``--json``, as JSON last)."""
    print(f"run {report.run_id} in {args.store}: {len(report.scored)} episodes {how}; "
          f"{SCALE}\n")
    print(to_markdown(report.tables))
    if report.asked:
        print(f"\njudge: {report.asked} calls, ${report.asked * args.judge_usd:.4f}")
    if args.json:
        print(json.dumps({"run_id": report.run_id, "tables": report.tables}))
    if report.all_broken:
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(report.broken.items()))
        print(f"webresearch: error: every episode failed ({statuses}); `webresearch replay "
              f"episodes {shlex.quote(str(args.store))} --run {report.run_id}` lists them",
              file=sys.stderr)
        return 1
    return 0


def run_eval(args: argparse.Namespace) -> int:
    """Carry out ``webresearch eval``; returns the exit status."""
    return asyncio.run(_eval(args))
