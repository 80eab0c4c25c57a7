"""The ``webresearch`` command line: ``webresearch rollout`` runs a policy and summarises."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import functools
import json
import logging
import os
import shlex
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

from webresearch.cli.corpus import add_index_command, opening_note, run_index
from webresearch.cli.costs import add_cost_options, blocked_domains, budget_note, prices_of
from webresearch.cli.data import add_data_command, run_data
from webresearch.cli.eval import add_eval_command, run_eval
from webresearch.cli.options import (
    WEB_HELP,
    Parser,
    add_policy_options,
    args_json,
    check_policy_options,
    check_tasks_option,
)
from webresearch.cli.preflight import check_policy_server, check_web, set_torch_threads
from webresearch.cli.replay import add_replay_commands, run_replay_command
from webresearch.cli.serve_corpus import add_serve_corpus_command, run_serve_corpus
from webresearch.envs.backends import make_web
from webresearch.envs.config import BROWSE_SCOPES
from webresearch.envs.formats import FORMATS
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError, WebResearchError
from webresearch.net.secrets import RedactingFilter
from webresearch.policies import Policy, SamplingParams
from webresearch.policies.factory import READERS, make_policy, shared_reader
from webresearch.replay.export import episode_line
from webresearch.replay.schema import EpisodeRecord, RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.replay.viewer import add_view_command, view
from webresearch.rollout import RolloutConfig, RolloutReport, rollout
from webresearch.rollout.local import episode_count
from webresearch.tasks import Task
from webresearch.web.backend import WebBackend

__all__ = ["build_parser", "main", "serve_web_command"]

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = Parser(prog="webresearch", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)  # of Parser, like parser
    run = commands.add_parser("rollout", help="run a policy on WebResearch-v0 and summarise",
                              description="Run a policy on WebResearch-v0 and summarise "
                                          "(reward, F1 and EM on a 0-1 scale).")
    add_policy_options(run, default="oracle")
    run.add_argument("--temperature", type=float, default=1.0,
                     help="sampling temperature of a model policy")
    run.add_argument("--max-tokens", type=int, default=1024, help="tokens per action")
    run.add_argument("--episodes", type=int, default=200, help="episodes in all (default: 200)")
    run.add_argument("--group-size", type=int, default=1, help="rollouts per task (GRPO group)")
    run.add_argument("--concurrency", type=int, default=64,
                     help="episodes in flight at once (with --adaptive: the most)")
    run.add_argument("--adaptive", action="store_true",
                     help="adapt the episodes in flight to 429s, Retry-After and the policy's "
                          "latency, between --min-concurrency and --concurrency")
    run.add_argument("--min-concurrency", type=int, default=1,
                     help="with --adaptive: the fewest episodes in flight (default: 1)")
    run.add_argument("--workers", type=int, default=0,
                     help="Ray rollout workers (0: this process only; -1: one per CPU)")
    run.add_argument("--ray-address", help="a Ray cluster to join (default: a local Ray)")
    run.add_argument("--serve-policy", action="store_true",
                     help="with --workers: build the policy once in a shared actor "
                          "(the default for hf and vllm)")
    run.add_argument("--tasks", default="default",
                     help="'default' (the web's task set) or a JSONL/JSON/Parquet task file")
    run.add_argument("--web", default="sim", help=WEB_HELP)
    run.add_argument("--action-format", default="deepresearcher", choices=sorted(FORMATS),
                     help="the tool-call grammar the policy writes")
    run.add_argument("--max-turns", type=int, default=10, help="tool calls before the answer")
    run.add_argument("--on-format-error", default="end", choices=("end", "feedback"),
                     help="a malformed action ends the episode, or comes back as feedback")
    run.add_argument("--reader", default="none", choices=READERS,
                     help="who reads browsed pages: none (raw paged text), keyword, or a "
                          "model (hf, vllm, openai) given by --reader-model/--reader-base-url")
    run.add_argument("--reader-model", help="the reading model (directory or served name)")
    run.add_argument("--reader-base-url", help="the reading model's OpenAI-compatible API root")
    run.add_argument("--browse-scope", default="any", choices=BROWSE_SCOPES,
                     help="which URLs browse accepts: any, latest (search results), searched")
    run.add_argument("--timeout", type=float, default=300.0, help="deadline per episode (s)")
    run.add_argument("--output", type=Path, help="also write every episode to this JSONL file")
    run.add_argument("--store", type=Path, default=Path("runs/store"),
                     help="record the run in this replay store (default: runs/store)")
    run.add_argument("--no-store", action="store_true", help="do not record the run")
    run.add_argument("--json", action="store_true",
                     help="print the summary as one JSON object on the last line")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_cost_options(run, blocked="none")
    run.add_argument("--log-level", default="WARNING", help="logging level")
    _add_serve_web(commands)
    add_replay_commands(commands)
    add_view_command(commands)
    add_eval_command(commands)
    add_index_command(commands)
    add_data_command(commands)
    add_serve_corpus_command(commands)
    return parser


def _add_serve_web(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve-web", help="serve the simulated web over HTTP (Serper, SearXNG, Brave APIs)",
        description="Serve the simulated web over HTTP; it prints the rollout command "
                    "(--web serve:<URL>) that points the live web backend at it.")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on (0: any free)")
    serve.add_argument("--world-seed", type=int, default=0, help="which simulated world")
    serve.add_argument("--api-key", default="test-key", help="key the search APIs accept")
    serve.add_argument("--log-level", default="WARNING", help="logging level")
    for name in ("seed", "latency_ms", "rate_429", "retry_after_s", "rate_5xx", "rate_reset",
                 "rate_truncated", "rate_drip", "rate_redirect", "pad_kb", "rate_limit_rps",
                 "rate_limit_burst"):
        kind = int if name in ("seed", "pad_kb", "rate_limit_burst") else float
        serve.add_argument("--" + name.replace("_", "-"), type=kind, default=None,
                           help=f"fault injection: {name} (see webresearch.sim.Faults)")
    serve.add_argument("--rate-limit-counts-refused", action="store_true", default=None,
                       help="refused requests count against --rate-limit-rps too (as "
                            "OpenAI's API counts unsuccessful requests)")
    serve.add_argument("--latency", default="fixed", choices=("fixed", "lognormal", "heavy"),
                       help="how --latency-ms is drawn: fixed, lognormal or heavy-tailed")


async def _serve_web(args: argparse.Namespace) -> int:
    from webresearch.sim.faults import Faults  # noqa: PLC0415 - the server is optional
    from webresearch.sim.server import SimInternet  # noqa: PLC0415
    from webresearch.sim.sim_web import SimSite  # noqa: PLC0415
    from webresearch.sim.world import WorldConfig  # noqa: PLC0415

    options = {k: v for k, v in vars(args).items() if v is not None and k in Faults.__annotations__}
    faults = Faults(**options)
    site = SimSite.of(WorldConfig(seed=args.world_seed))
    async with SimInternet(site, faults=faults, api_key=args.api_key, host=args.host,
                           port=args.port) as net:
        print(f"serving the simulated web at {net.base_url} "
              f"(pages under /wiki/, search at /serper/search, /searxng/search, "
              f"/brave/res/v1/web/search); Ctrl-C stops", flush=True)
        print(f"to run the live web backend against it:\n  "
              f"{serve_web_command(net.base_url, args.world_seed)}", flush=True)
        await asyncio.Event().wait()
    return 0


def serve_web_command(base_url: str, world_seed: int = 0) -> str:
    """The rollout command that uses a ``serve-web`` at ``base_url`` (what it prints).

    Example:
        >>> serve_web_command("http://0.0.0.0:8080", world_seed=2)
        "webresearch rollout --web 'serve:http://127.0.0.1:8080#seed=2' --policy oracle"
    """
    from webresearch.sim.served import served_spec  # noqa: PLC0415 - the server is optional

    reachable = base_url.replace("//0.0.0.0:", "//127.0.0.1:").replace("//[::]:", "//[::1]:")
    spec = served_spec(reachable, world_seed)
    return shlex.join(["webresearch", "rollout", "--web", spec, "--policy", "oracle"])


async def _rollout(args: argparse.Namespace) -> int:
    check_policy_options(args)
    if args.adaptive and args.workers:
        raise ConfigError(f"Expects --adaptive on the local runner (--workers 0): Ray workers "
                          f"keep a fixed number in flight, actual: --workers {args.workers}")
    if args.web.startswith("corpus:"):
        spec, _, retriever = args.web.removeprefix("corpus:").partition("#")
        print(opening_note(spec, retriever or "bm25"), file=sys.stderr, flush=True)
    async with make_web(args.web) as web:  # once per command: a replay store is read once
        await _preflight(args, web)
        return await _rollout_on(args, web)


async def _preflight(args: argparse.Namespace, web: WebBackend) -> None:
    """What cannot work fails here, as one line, before the first episode."""
    await check_tasks_option(args.tasks, web, args.web)
    check_web(web)
    args.model = await check_policy_server(args.policy, args.model, args.base_url)
    args.reader_model = await check_policy_server(args.reader, args.reader_model,
                                                  args.reader_base_url, flag="--reader-model")


async def _rollout_on(args: argparse.Namespace, web: WebBackend) -> int:
    def make_env(tasks: str | list[Task], web: str | WebBackend) -> WebResearchEnv:
        set_torch_threads(args)  # where the reader is built (a Ray worker too)
        reader = shared_reader(args.reader, args.reader_model, args.reader_base_url)
        return WebResearchEnv(tasks=tasks, web=web, action_format=args.action_format,
                              max_turns=args.max_turns, on_format_error=args.on_format_error,
                              reader=reader, browse_scope=args.browse_scope,
                              blocked_domains=blocked_domains(args))

    probe = make_env(args.tasks, web)  # loads (and checks) the task file once
    tasks, env_json = probe.tasks, probe.config_json()
    await probe.aclose()

    def build_policy() -> Policy:
        set_torch_threads(args)  # where the policy is built (a Ray policy actor too)
        return make_policy(args.policy, tasks=tasks, fmt=args.action_format, model=args.model,
                           base_url=args.base_url, max_turns=args.max_turns)

    config = RolloutConfig(episodes=args.episodes, group_size=args.group_size,
                           concurrency=args.concurrency, episode_timeout_s=args.timeout,
                           adaptive=args.adaptive, min_concurrency=args.min_concurrency,
                           progress=not args.no_progress, budget_usd=args.budget_usd,
                           prices=prices_of(args, web.spec() or args.web),
                           sampling=SamplingParams(temperature=args.temperature,
                                                   max_tokens=args.max_tokens))
    run = RunRecord(policy=args.policy, model=args.model or "", config={
        "env": env_json, "rollout": config.to_json(),
        "cli": args_json(args)})
    try:
        if args.workers:  # each worker builds its own web from the spec
            report = await _ray_rollout(args, make_env=lambda: make_env(tasks,
                                                                        _worker_web(args.web)),
                                        build_policy=build_policy, tasks=tasks, config=config,
                                        run=run)
        else:
            report = await _local_rollout(args, make_env=lambda: make_env(tasks, web),
                                          build_policy=build_policy, tasks=tasks,
                                          config=config, run=run)
    except (KeyboardInterrupt, asyncio.CancelledError):
        if not args.no_store:
            with ReplayStore(args.store) as store:
                kept = store.count(run.run_id) if run.run_id in {
                    r.run_id for r in store.runs()} else 0
            print(f"interrupted: {kept} finished episodes kept as run {run.run_id} in "
                  f"{args.store}", file=sys.stderr)
        raise KeyboardInterrupt from None
    recorded = f"; recorded as run {report.run_id} in {args.store}" if report.run_id else ""
    print(f"policy {args.policy} on web {args.web}, {args.action_format} format{recorded}")
    print(report.table())
    if note := budget_note(report.summary, args.budget_usd, episode_count(tasks, config)):
        print(note, file=sys.stderr)
    if args.json:
        print(json.dumps(report.summary.to_json()))
    return _failed_run_status(report, None if args.no_store else args.store)


def _worker_web(spec: str) -> str | WebBackend:
    """What a Ray worker's envs get for ``spec``: a replay backend made once per process
    (its store read once, not per env), any other spec as it is (each env makes its own)."""
    return _replay_web(spec) if spec.startswith("replay:") else spec


@functools.cache
def _replay_web(spec: str) -> WebBackend:
    return make_web(spec)


def _failed_run_status(report: RolloutReport, store: Path | None) -> int:
    """1 (with one line on stderr) when every episode failed, else 0."""
    summary = report.summary
    if summary.episodes == 0 or summary.scored > 0:
        return 0
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(summary.status.items()))
    where = (f"; `webresearch replay episodes {shlex.quote(str(store))} --run "
             f"{report.run_id}` lists them" if store is not None and report.run_id else "")
    print(f"webresearch: error: every episode failed ({statuses}){where}", file=sys.stderr)
    return 1


async def _local_rollout(args: argparse.Namespace, *, make_env: Callable[[], WebResearchEnv],
                         build_policy: Callable[[], Policy], tasks: list[Task],
                         config: RolloutConfig, run: RunRecord) -> RolloutReport:
    with (contextlib.nullcontext() if args.no_store else ReplayStore(args.store)) as store, \
            _episode_output(args.output) as on_episode:
        async with build_policy() as policy:
            return await rollout(make_env, policy, tasks, config, store=store, run=run,
                                 on_episode=on_episode)


@contextlib.contextmanager
def _episode_output(path: Path | None) -> Iterator[Callable[[EpisodeRecord], None] | None]:
    """Writes each episode to ``path`` (JSON lines) as it ends: a long run keeps none."""
    if path is None:
        yield None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        yield functools.partial(_write_episode, out)


def _write_episode(out: TextIO, episode: EpisodeRecord) -> None:
    out.write(episode_line(episode))  # valid UTF-8 whatever text the episode met


async def _ray_rollout(args: argparse.Namespace, *, make_env: Callable[[], WebResearchEnv],
                       build_policy: Callable[[], Policy], tasks: list[Task],
                       config: RolloutConfig, run: RunRecord) -> RolloutReport:
    from webresearch.distributed import RayConfig, RayRunner  # noqa: PLC0415 - optional

    ray_config = RayConfig(address=args.ray_address,
                           workers=None if args.workers < 0 else args.workers,
                           serve_policy=args.serve_policy or args.policy in ("hf", "vllm"))
    with (contextlib.nullcontext() if args.no_store else ReplayStore(args.store)) as store, \
            _episode_output(args.output) as on_episode:
        async with RayRunner(make_env, build_policy, ray_config,
                             concurrency=config.concurrency, store=store) as runner:
            return await runner.run(tasks, config, run=run, on_episode=on_episode)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Output piped into a reader that stops early (``| head``) ends the command quietly
    with status 141 (128 + SIGPIPE, as a shell tool killed by it), not a traceback.
    ``kill -USR1 <pid>`` prints every thread's stack to stderr: where a run that seems
    stuck is waiting.
    """
    _stacks_on_sigusr1()
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()  # inside the try: a closed pipe shows here, not at exit
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush then succeeds
        os.close(devnull)
        return 141


def _stacks_on_sigusr1() -> None:
    stream = sys.__stderr__  # the process's own stderr, even while something captures it
    if hasattr(signal, "SIGUSR1") and stream is not None:
        with contextlib.suppress(ValueError, OSError):  # no file descriptor to write to
            faulthandler.register(signal.SIGUSR1, file=stream, all_threads=True)


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "rollout": lambda args: asyncio.run(_rollout(args)),
    "serve-web": lambda args: asyncio.run(_serve_web(args)),
    "view": lambda args: view(args.store, host=args.host, port=args.port),
    "replay": run_replay_command, "eval": run_eval, "index": run_index, "data": run_data,
    "serve-corpus": run_serve_corpus,
}
"""What runs each subcommand."""


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=getattr(args, "log_level", "WARNING").upper(),
                        format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # no API key reaches a log line
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    try:
        return _COMMANDS[args.command](args)
    except WebResearchError as exc:
        print(f"webresearch: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("webresearch: interrupted", file=sys.stderr)
        return 130

