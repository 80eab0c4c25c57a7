"""The ``webresearch`` command: the README's main job, JSON output, errors."""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import dev_questions
from webresearch.cli import build_parser, main
from webresearch.cli.options import help_missing


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "webresearch.cli", *args], capture_output=True,
                          text=True, timeout=300)


def test_rollout_prints_a_summary_and_json_last() -> None:
    out = run("rollout", "--policy", "oracle", "--episodes", "30", "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("episodes", "mean_reward", "mean_f1", "mean_em", "mean_tool_calls", "seconds"):
        assert key in summary
    assert summary["episodes"] == 30 and summary["mean_f1"] >= 0.95
    assert "dataset" in out.stdout and "30/30" in out.stderr  # table, then the progress bar


def test_no_tool_and_output_file(tmp_path: Path, capsys: object) -> None:
    path = tmp_path / "eps.jsonl"
    code = main(["rollout", "--policy", "no-tool", "--episodes", "5", "--no-progress",
                 "--output", str(path), "--json"])
    assert code == 0
    lines = path.read_text().splitlines()
    assert len(lines) == 5 and json.loads(lines[0])["status"] == "answered"


@pytest.mark.ray
def test_ray_rollout_writes_each_episode_as_it_ends(tmp_path: Path) -> None:
    """``--workers`` streams like the local rollout: the output file and the store get
    every episode once; the summary counts them all."""
    pytest.importorskip("ray")
    path = tmp_path / "eps.jsonl"
    out = run("rollout", "--policy", "oracle", "--episodes", "12", "--workers", "1",
              "--concurrency", "4", "--no-progress", "--output", str(path), "--json",
              "--store", str(tmp_path / "runs"))
    assert out.returncode == 0, out.stderr
    ids = [json.loads(line)["episode_id"] for line in path.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 12
    assert json.loads(out.stdout.strip().splitlines()[-1])["episodes"] == 12


def test_errors_are_one_clear_line(tmp_path: Path) -> None:
    out = run("rollout", "--tasks", str(tmp_path / "none.jsonl"), "--no-progress")
    assert out.returncode == 2
    assert out.stderr.strip().startswith("webresearch: error: Expects a task file")
    out = run("rollout", "--policy", "gpt")
    assert out.returncode == 2 and "invalid choice: 'gpt'" in out.stderr


def test_dev_dataset_rollout(dev_dataset: Path) -> None:
    n = dev_questions(dev_dataset)
    out = run("rollout", "--policy", "no-tool", "--tasks", str(dev_dataset), "--episodes", str(n),
              "--no-progress", "--json", "--no-store")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["episodes"] == n and summary["errors"] == 0


def first_episode_recorded(store: Path, proc: subprocess.Popen[str], deadline_s: float) -> None:
    """Wait until the rollout writing ``store`` has recorded an episode, or fail at the deadline."""
    from webresearch.replay.store import ReplayStore

    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        if (store / "cache.db").exists():
            with ReplayStore(store) as s:
                if any(s.count(run.run_id) for run in s.runs()):
                    return
        time.sleep(0.05)
    raise AssertionError(f"no episode recorded within {deadline_s} s")


def stacks_of(proc: subprocess.Popen[str]) -> str:
    """What a stuck ``webresearch`` process prints on SIGUSR1 (its threads' stacks); ends it."""
    proc.send_signal(signal.SIGUSR1)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.communicate(timeout=10)  # it keeps running: the dump is on stderr by then
    proc.kill()
    return proc.communicate()[1]


def test_ctrl_c_stops_cleanly_and_keeps_what_finished(tmp_path: Path) -> None:
    from webresearch.replay.store import ReplayStore

    store = tmp_path / "store"
    # `python -m webresearch.cli`, with Ctrl-C handled as in a terminal even when this test
    # runs in a script's background job, whose processes inherit SIGINT ignored (what shells
    # do to background jobs), which Python then keeps: Ctrl-C would do nothing.
    launch = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
              "runpy.run_module('webresearch.cli', run_name='__main__', alter_sys=True)")
    proc = subprocess.Popen([sys.executable, "-c", launch, "rollout", "--episodes", "100000",
                             "--store", str(store), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first_episode_recorded(store, proc, deadline_s=120)  # ~1 s here, even on a busy machine
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:  # say where it waits: every thread's stack
            raise AssertionError("Ctrl-C did not stop the rollout within 120 s:\n"
                                 + stacks_of(proc)) from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "interrupted:" in err and "finished episodes kept as run" in err
    kept = int(err.split("interrupted: ")[1].split()[0])
    with ReplayStore(store) as s:
        (run,) = s.runs()
        assert s.count(run.run_id) == kept > 0
        assert all(e.status == "answered" for e in s.episodes(run.run_id))


def _read_line(proc: subprocess.Popen[str], prefix: str, deadline_s: float = 120.0) -> str:
    """The first line of ``proc``'s stdout that starts with ``prefix`` (waits, bounded)."""
    import queue
    import threading
    import time

    assert proc.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or ()],
                     daemon=True).start()  # ends when the process's stdout closes
    deadline = time.monotonic() + deadline_s
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left).strip()
        except queue.Empty:
            break
        if line.startswith(prefix):
            return line
    raise AssertionError(f"no line starting with {prefix!r} from {proc.args}")


def test_serve_web_prints_the_command_that_makes_a_live_rollout_succeed(tmp_path: Path) -> None:
    import shlex

    server = subprocess.Popen([sys.executable, "-m", "webresearch.cli", "serve-web", "--port",
                               "0", "--world-seed", "2"], stdout=subprocess.PIPE, text=True)
    try:
        command = shlex.split(_read_line(server, "webresearch rollout"))
        assert command[:3] == ["webresearch", "rollout", "--web"]
        assert re.fullmatch(r"serve:http://127\.0\.0\.1:\d+#seed=2", command[3])
        episodes = tmp_path / "episodes.jsonl"
        out = run(*command[1:], "--episodes", "12", "--no-store", "--no-progress", "--json",
                  "--output", str(episodes))
    finally:
        server.kill()
        server.communicate(timeout=60)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["episodes"] == 12 and summary["errors"] == 0
    assert summary["mean_f1"] == 1.0  # the oracle answers only once its searches succeeded
    observations = [step["observation"] for line in episodes.read_text().splitlines()
                    for step in json.loads(line)["steps"]]
    assert observations and not any("refused" in text for text in observations)


def _subcommands(parser: argparse.ArgumentParser, path: str = ""
                 ) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _subcommands(sub, f"{path} {name}".strip())
    return found


def test_every_flag_of_every_subcommand_has_help() -> None:
    assert help_missing(build_parser()) == []


def test_every_default_is_shown_in_help() -> None:
    checked = 0
    for path, parser in _subcommands(build_parser()):
        text = " ".join(parser.format_help().split())
        for action in parser._actions:
            default = action.default
            if (not action.option_strings or default in (None, False, argparse.SUPPRESS)
                    or "default" in (action.help or "")):
                continue
            assert f"(default: {default})" in text, f"{path} {action.option_strings[0]}"
            checked += 1
    assert checked > 30


def _closed_pipe() -> int:
    """The write end of a pipe whose reader is already gone (as ``| head`` after it quits)."""
    import os

    read, write = os.pipe()
    os.close(read)
    return write


@pytest.mark.parametrize(("args", "codes"), [
    (("rollout", "--episodes", "3", "--no-store", "--no-progress"), {141}),
    (("rollout", "--help"), {0, 141}),  # argparse itself drops help it cannot write
    (("serve-web", "--help"), {0, 141}),
], ids=["rollout", "rollout-help", "serve-web-help"])
def test_output_into_a_closed_pipe_ends_quietly(args: tuple[str, ...], codes: set[int]) -> None:
    import os

    write = _closed_pipe()
    try:
        out = subprocess.run([sys.executable, "-m", "webresearch.cli", *args], stdout=write,
                             stderr=subprocess.PIPE, text=True, timeout=300)
    finally:
        os.close(write)
    assert out.returncode in codes, out.stderr
    assert "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr, out.stderr


@pytest.mark.parametrize("command", ["rollout", "eval"])
def test_openai_policy_without_base_url_asks_for_base_url(
        command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text('{"question": "Q?", "answers": ["a"]}\n')
    code = main([command, "--policy", "openai", "--tasks", str(tasks), "--store",
                 str(tmp_path / "store")])
    err = capsys.readouterr().err
    assert code == 2 and "Expects --base-url with --policy openai" in err and "--model" not in err
    code = main([command, "--policy", "openai", "--base-url", "http://127.0.0.1:9/v1", "--tasks",
                 str(tasks), "--store", str(tmp_path / "store")])
    err = capsys.readouterr().err  # --model defaults to the server's only model: ask it
    assert code == 2 and "Expects an OpenAI-compatible server at http://127.0.0.1:9/v1" in err


@pytest.mark.parametrize("web", ["live:searxng", "corpus"])
def test_a_web_without_tasks_asks_for_the_tasks_flag(
        web: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if web == "corpus":
        pytest.importorskip("bm25s")
        corpus = tmp_path / "mini.jsonl"
        corpus.write_text('{"id": "1", "title": "Ada", "text": "Ada wrote programs."}\n')
        web = f"corpus:{corpus}"
    code = main(["rollout", "--web", web, "--no-store", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"Expects --tasks <JSONL/JSON/Parquet task file> with --web {web}" in err
    assert "tasks=" not in err


def test_eval_labels_its_scale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from webresearch.sim import SimWeb

    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps(t.to_json()) + "\n" for t in SimWeb().default_tasks()[:3]))
    assert main(["eval", "--tasks", str(tasks), "--store", str(tmp_path / "store")]) == 0
    assert "scores in percent (0-100" in capsys.readouterr().out
    assert main(["rollout", "--episodes", "2", "--no-store", "--no-progress"]) == 0
    assert "reward, F1 and EM on a 0-1 scale" in capsys.readouterr().out


def test_replay_show_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    import os

    from webresearch.replay.store import ReplayStore

    store = tmp_path / "store"
    assert main(["rollout", "--episodes", "1", "--store", str(store), "--no-progress"]) == 0
    with ReplayStore(store) as s:
        (run,) = s.runs()
        episode_id = next(iter(s.episodes(run.run_id))).episode_id
    write = _closed_pipe()
    try:
        out = subprocess.run([sys.executable, "-m", "webresearch.cli", "replay", "show",
                              str(store), episode_id], stdout=write, stderr=subprocess.PIPE,
                             text=True, timeout=300)
    finally:
        os.close(write)
    assert out.returncode == 141, out.stderr
    assert "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr, out.stderr
