"""``webresearch replay ...``: list runs and episodes, show one step by step, re-score, export."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from webresearch.envs.rewards import REWARDS, Submission, get_reward
from webresearch.errors import DamagedRecord
from webresearch.replay.export import export_store, import_store
from webresearch.replay.schema import EpisodeRecord
from webresearch.replay.store import ReplayStore

__all__ = ["add_replay_commands", "format_episode", "format_row", "one_line", "rescore",
           "run_replay_command"]


def add_replay_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    replay = commands.add_parser("replay", help="inspect, re-score and export recorded runs")
    verbs = replay.add_subparsers(dest="verb", required=True)
    runs = verbs.add_parser("runs", help="list the runs of a store")
    runs.add_argument("store", type=Path, help="the replay store folder (a rollout's --store)")
    episodes = verbs.add_parser("episodes", help="list episodes, filtered")
    episodes.add_argument("store", type=Path, help="the replay store folder (a rollout's --store)")
    episodes.add_argument("--run", help="only this run's episodes")
    episodes.add_argument("--dataset", help="only tasks of this dataset")
    episodes.add_argument("--status", help="only episodes that ended so (answered, error, ...)")
    episodes.add_argument("--min-reward", type=float, help="only rewards at least this")
    episodes.add_argument("--max-reward", type=float, help="only rewards at most this")
    episodes.add_argument("--limit", type=int, default=50, help="rows to print at most")
    show = verbs.add_parser("show", help="show one episode step by step")
    show.add_argument("store", type=Path, help="the replay store folder (a rollout's --store)")
    show.add_argument("episode_id", help="the episode's id (as replay episodes lists it)")
    score = verbs.add_parser("rescore", help="score a run's answers with another reward")
    score.add_argument("store", type=Path, help="the replay store folder (a rollout's --store)")
    score.add_argument("--run", required=True, help="the run to re-score")
    score.add_argument("--reward", required=True, choices=sorted(REWARDS),
                       help="the reward to score its answers with")
    export = verbs.add_parser("export", help="write a store (or one run) to .jsonl/.parquet")
    export.add_argument("store", type=Path, help="the replay store folder (a rollout's --store)")
    export.add_argument("--out", type=Path, required=True,
                        help="file to write; .jsonl or .parquet picks the format")
    export.add_argument("--run", help="only this run (default: every run)")
    load = verbs.add_parser("import", help="read a .jsonl/.parquet export into a store")
    load.add_argument("store", type=Path, help="the replay store folder to add the episodes to")
    load.add_argument("file", type=Path, help="a .jsonl or .parquet file that export wrote")


def run_replay_command(args: argparse.Namespace) -> int:
    """Carry out ``webresearch replay <verb>``; returns the exit status.

    Every verb but ``import`` reads: a missing or mistyped store is an error (2). A
    damaged record is named on stderr and left out, the rest is listed or exported,
    and the status is 1.
    """
    with ReplayStore(args.store, create=args.verb == "import", on_damage=_report) as store:
        if args.verb == "runs":
            _print_runs(store)
        elif args.verb == "episodes":
            rows = store.select(args.run, dataset=args.dataset, status=args.status,
                                min_reward=args.min_reward, max_reward=args.max_reward)
            for row in rows[: args.limit]:
                print(format_row(row))
            print(f"{len(rows)} episodes")
        elif args.verb == "show":
            print(format_episode(store.episode(args.episode_id)))
        elif args.verb == "rescore":
            before, after = rescore(store.episodes(args.run), args.reward)
            print(json.dumps({"run": args.run, "reward": args.reward, "episodes": len(after),
                              "mean_recorded": _mean(before), "mean_rescored": _mean(after)}))
        elif args.verb == "export":
            print(f"{export_store(store, args.out, run_id=args.run)} episodes -> {args.out}")
        else:
            print(f"{import_store(store, args.file)} new episodes from {args.file}")
    return 1 if store.damaged else 0


def rescore(episodes: Iterable[EpisodeRecord], reward: str) -> tuple[list[float], list[float]]:
    """Recorded rewards of the scored episodes and the rewards ``reward`` gives them.

    The reward scores what the env parsed (the recorded answer, ``None`` without one),
    never the text again; episodes broken from outside have no reward and are skipped.
    """
    fn = get_reward(reward)
    before, after = [], []
    for episode in episodes:
        if episode.reward is None:
            continue
        submission = Submission(episode.answer, tuple(s.action for s in episode.steps))
        before.append(episode.reward)
        after.append(float(fn(submission, episode.task.answers)))
    return before, after


def format_row(row: dict[str, Any]) -> str:
    """One episode summary as a line of ``replay episodes`` (``-`` for no reward).

    Example:
        >>> print(format_row({"episode_id": "e1", "run_id": "r1", "dataset": "", "reward": None,
        ...                   "status": "timeout", "task_id": "t"}))
        e1  r1  -          timeout      reward      -  t
    """
    reward = "-" if row["reward"] is None else format(row["reward"], ".3f")
    cell = {k: one_line(str(row[k])) for k in ("episode_id", "run_id", "dataset", "status",
                                               "task_id")}
    return (f"{cell['episode_id']}  {cell['run_id']}  {cell['dataset'] or '-':<10} "
            f"{cell['status']:<12} reward {reward:>6}  {cell['task_id']}")


_LINE_BREAKS = {ord(c): c.encode("unicode_escape").decode()
                for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


def one_line(text: str) -> str:
    """``text`` with what would break a listing's line written as an escape.

    Example:
        >>> one_line("a\\nb\\u2028c")
        'a\\\\nb\\\\u2028c'
    """
    return text.translate(_LINE_BREAKS)


def format_episode(episode: EpisodeRecord) -> str:
    """An episode as readable text: question, gold, each step, outcome."""
    lines = [f"episode {episode.episode_id} (run {episode.run_id}, group {episode.group})",
             f"question: {episode.task.question}",
             f"gold: {' | '.join(episode.task.answers)}", ""]
    for i, step in enumerate(episode.steps, 1):
        cached = f", {step.cache_hits} cached" if step.cache_hits else ""
        lines.append(f"--- step {i}: {step.tool} {list(step.arguments)} "
                     f"(env {step.latency_s * 1000:.1f} ms, policy {step.policy_s * 1000:.1f} ms"
                     f"{cached})")
        lines.append(f"> {step.action}")
        if step.observation:
            lines.append(step.observation[:1500] + ("..." if len(step.observation) > 1500 else ""))
        if step.error:
            lines.append(f"! {step.error}")
    lines.append("")
    score = ("no score (broken from outside)" if episode.reward is None else
             f"reward {episode.reward:.3f}, F1 {episode.f1 or 0.0:.3f}, EM {episode.em or 0.0:.0f}")
    lines.append(f"status {episode.status}, answer {episode.answer!r}, {score}, "
                 f"{episode.seconds:.2f} s")
    if episode.error:
        lines.append(f"error: {episode.error}")
    if episode.traceback:
        lines.append(episode.traceback.rstrip())
    return "\n".join(lines)


def _print_runs(store: ReplayStore) -> None:
    for run in store.runs():
        rows = store.summaries(run.run_id)
        print(f"{one_line(run.run_id)}  policy {one_line(run.policy) or '-':<10} "
              f"{len(rows):>7} episodes  "
              f"mean reward {_mean([r['reward'] for r in rows if r['reward'] is not None]):.3f}")


def _report(damage: DamagedRecord) -> None:
    print(f"webresearch: error: {damage}; skipped", file=sys.stderr)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0
