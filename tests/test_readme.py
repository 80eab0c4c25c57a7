"""Every command in the README and the docs site works as written after the Quickstart, from
the repository root.

The pages are ``README.md`` and every ``docs/**/*.md``; their Python blocks are run by
``tests/test_docs.py``.

Commands are each line of a fenced ``bash`` block (``\\`` continuations joined, a
trailing ``# comment`` dropped) and each inline code span that starts with
``.venv/bin/``, ``.venv-vllm/bin/``, ``bash ``, ``python``, ``pip`` or is a
``webresearch`` command with options. Each has one check in ``CHECKS``:

- ``run``: run by bash in a sandbox that looks like a clone after the Quickstart
  (``.venv`` is this interpreter's environment, ``runs/store`` holds the first command's
  rollout, ``runs/tiny`` a tiny model, ``data/deepresearcher_dev.jsonl`` the dev
  questions), with smaller budgets where a flag allows, and ``RUN_ID`` / ``EPISODE_ID``
  replaced by ids from that store;
- ``parse``: the ``webresearch`` command line is parsed by the real parser (unknown
  flags and bad choices fail) but not run: it needs a server, a key, a Ray cluster, the
  network, or minutes;
- ``help``: a script's own argument parser run on the README's arguments, the script
  stopped once they parse (each is smoke-tested with a tiny budget in
  ``tests/test_examples.py``);
- ``extra``: ``pip install -e '.[NAME]'``: the extra exists, and the dev extra that
  ``.ci/test`` installs holds all of its packages;
- ``install``: an install line for one use, on a fresh clone: ``.ci/install-check``
  (run by ``.ci/test``) runs it verbatim in a fresh venv, then a small command of that
  use; a torch pin in it equals ``.ci/test``'s;
- ``fresh``: a fresh-venv line for another extra: checked as ``extra``, its torch pin as
  ``pin`` (not installed: the dev extra holds the same packages);
- ``pin``, ``self``, ``script``, ``covered``: the CPU torch pin equals ``.ci/test``'s,
  ``.ci/run`` calls the test command verbatim, a script exists and ``.ci/test`` runs it,
  or a named test runs the command.

A command with no check fails, so a new command is classified when it is added.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import DEV_SAMPLE, PYTHONPATH

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
"""The README and every page of the docs site."""
PREFIXES = (".venv/bin/", ".venv-vllm/bin/", "bash ", "python", "pip")


@dataclass(frozen=True)
class Check:
    """How one README command is checked."""

    kind: str
    """run, parse, help, extra, pin, self, script or covered."""
    budget: dict[str, str] = field(default_factory=dict)
    """For run: substrings replaced before running (a smaller budget)."""
    arg: str = ""
    """For extra: its name; for covered: 'test file::text it holds'."""


TORCH = ".venv/bin/pip install torch==2.13.0 && "
"""The CPU torch line before an extra that needs torch."""
SMALL_HF = "--episodes 2 --group-size 2 --max-tokens 8 --max-turns 1"
CHECKS: dict[str, Check] = {
    # The Quickstart, and the install line of each use
    "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/webresearch rollout "
    "--policy oracle --episodes 200": Check("run", {
        "python3 -m venv .venv && .venv/bin/pip install -e . && ": ""}),  # the install itself:
    # timed on a fresh clone by benchmarks/quickstart.py
    "bash .ci/test": Check("self"),
    "python3 -m venv .venv && .venv/bin/pip install -e .": Check("install"),
    "python3 -m venv .venv && .venv/bin/pip install torch==2.13.0 && .venv/bin/pip install -e "
    "'.[train]'": Check("install"),
    "python3 -m venv .venv && .venv/bin/pip install -e '.[corpus]'": Check("install"),
    **{f"python3 -m venv .venv && {torch}.venv/bin/pip install -e '.[{extra}]'":
       Check("fresh", arg=extra) for extra, torch in (
           ("dense", TORCH), ("vital", ""), ("trl", TORCH), ("ray", ""), ("vllm", ""),
           ("openenv", ""), ("verifiers", ""))},
    ".venv/bin/pip install -e '.[vllm]'": Check("extra", arg="vllm"),  # .ci/vllm-env on CPU
    ".venv/bin/pip install -e '.[parquet]'": Check("extra", arg="parquet"),
    ".venv/bin/pip install -e '.[docs]'": Check("extra", arg="docs"),
    ".venv/bin/pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu":
        Check("pin"),
    # Policies
    ".venv/bin/python -c \"from webresearch.policies import build_tiny_model; "
    "build_tiny_model('runs/tiny')\"": Check("run"),
    ".venv/bin/webresearch rollout --policy hf --model runs/tiny --episodes 64 --group-size 8":
        Check("run", {"--episodes 64 --group-size 8": SMALL_HF}),
    ".venv/bin/webresearch rollout --policy openai --base-url http://127.0.0.1:8000/v1 "
    "--model qwen --episodes 64": Check("parse"),
    ".venv-vllm/bin/python -m vllm.entrypoints.openai.api_server --model DIR "
    "--served-model-name qwen --host 127.0.0.1 --port 8000 --gpu-memory-utilization 0.2": Check(
        "covered", arg="tests/policies/test_vllm.py::vllm.entrypoints.openai.api_server"),
    # (that test starts it with --served-model-name, --host 127.0.0.1 and --port)
    "bash .ci/vllm-env": Check("script"),
    "bash .ci/verl-env": Check("script"),
    # Training
    ".venv/bin/python examples/train_grpo.py --steps 20 --out runs/grpo": Check("help"),
    ".venv/bin/python examples/train_grpo.py --steps 20 --workers 2": Check("help"),
    ".venv/bin/python examples/train_grpo.py --steps 20 --out runs/grpo-async --async "
    "--staleness 1": Check("help"),
    ".venv/bin/python examples/train_grpo.py --steps 20 --out runs/grpo-async-ray --async "
    "--workers 2": Check("help"),
    ".venv/bin/python benchmarks/async_train.py": Check("help"),
    # On a cluster
    ".venv/bin/ray start --head --port 6379": Check("ray"),
    ".venv/bin/ray start --address HEAD:6379": Check("ray"),
    ".venv/bin/ray start --address HEAD:6379 --resources='{\"policy\": 1}' --num-gpus 1":
        Check("ray"),
    ".venv/bin/webresearch rollout --workers -1 --ray-address HEAD:6379 --store runs/":
        Check("parse"),
    ".venv/bin/python benchmarks/ray_cluster.py": Check("help"),
    # The live web
    ".venv/bin/python benchmarks/fuzz_actions.py": Check("help"),
    ".venv/bin/python benchmarks/scaling.py": Check("help"),
    ".venv/bin/webresearch serve-web --port 8080 --latency-ms 50 --rate-429 0.1":
        Check("parse"),  # a server: tests/test_cli.py starts one
    ".venv/bin/webresearch rollout --web serve:http://127.0.0.1:8080 --policy oracle":
        Check("parse"),  # needs serve-web running: tests/test_cli.py runs the printed command
    ".venv/bin/python benchmarks/corpus_first_query.py": Check("help"),
    ".venv/bin/python benchmarks/soak.py": Check("help"),
    ".venv/bin/python benchmarks/soak.py --web sim --episodes 20000": Check("help"),
    # Learning the task
    ".venv/bin/python examples/train_sim.py": Check("help"),
    ".venv/bin/python examples/train_sim.py --seed 0": Check("help"),
    ".venv/bin/python examples/train_sim.py --sft-from runs/train_sim/sft": Check("help"),
    ".venv/bin/python benchmarks/compact_format.py": Check("help"),
    # Integrations
    ".venv/bin/pip install -e '.[trl]'": Check("extra", arg="trl"),
    ".venv/bin/python examples/train_trl.py --steps 2": Check("help"),
    ".venv/bin/pip install -e '.[openenv]'": Check("extra", arg="openenv"),
    ".venv/bin/pip install -e '.[verifiers]'": Check("extra", arg="verifiers"),
    ".venv/bin/vf-eval webresearch-v0 -m MODEL --client.base-url URL -n 8 --env.taskset.env "
    "'{\"tasks\": \"tasks.jsonl\", \"max_turns\": 5}'": Check("run", {"-n 8": "-n 8 --dry-run"}),
    # Rollouts at scale
    ".venv/bin/webresearch rollout --web live --tasks questions.jsonl --policy openai "
    "--base-url http://127.0.0.1:8000/v1 --model qwen --episodes 4096 --group-size 16 "
    "--concurrency 4096": Check("parse"),
    ".venv/bin/webresearch rollout --episodes 4096 --workers -1": Check("parse"),
    ".venv/bin/webresearch rollout --episodes 1000000": Check("parse"),  # minutes
    ".venv/bin/webresearch rollout --workers 32 --ray-address auto --policy hf "
    "--model runs/tiny": Check("parse"),
    ".venv/bin/pip install -e '.[ray]'": Check("extra", arg="ray"),
    ".venv/bin/webresearch rollout --policy oracle --episodes 100 --search-usd 0.001 "
    "--budget-usd 0.05": Check("run"),
    ".venv/bin/webresearch rollout --web live --tasks questions.jsonl --policy openai "
    "--base-url http://127.0.0.1:8000/v1 --model qwen --episodes 4096 --adaptive "
    "--min-concurrency 4 --concurrency 256": Check("parse"),  # tests/rollout/ drive it
    ".venv/bin/python benchmarks/adaptive.py": Check("help"),
    ".venv/bin/python benchmarks/long_horizon.py": Check("help"),
    # Evaluation
    ".venv/bin/webresearch data deepresearcher --split dev": Check("parse"),  # the network;
    # tests/cli/test_data.py fetches from a loopback server
    ".venv/bin/webresearch eval --tasks data/deepresearcher_dev.jsonl --policy heuristic":
        Check("run"),
    ".venv/bin/webresearch eval --tasks questions.jsonl --policy openai --base-url "
    "http://127.0.0.1:8000/v1 --model qwen --web live --judge https://api.openai.com/v1 "
    "--judge-model gpt-4o-mini": Check("parse"),
    ".venv/bin/webresearch eval --from-store --run RUN_ID --store runs/store": Check("run"),
    ".venv/bin/webresearch eval --tasks data/deepresearcher_dev.jsonl --policy heuristic "
    "--blocked-domains benchmarks,example.org": Check("run"),
    # The simulated web and the live web
    ".venv/bin/webresearch rollout --policy oracle --episodes 500": Check("run"),
    ".venv/bin/webresearch rollout --policy no-tool --episodes 500": Check("run"),
    ".venv/bin/pip install -e '.[pdf]'": Check("extra", arg="pdf"),
    # A local corpus
    ".venv/bin/pip install -e '.[corpus]'": Check("extra", arg="corpus"),
    ".venv/bin/webresearch index wiki-18.jsonl": Check("parse"),
    ".venv/bin/webresearch rollout --web corpus:wiki-18.jsonl --tasks questions.jsonl "
    "--policy heuristic": Check("parse"),
    ".venv/bin/pip install -e '.[vital]'": Check("extra", arg="vital"),
    ".venv/bin/python benchmarks/corpus_recall.py --tasks data/deepresearcher_dev.jsonl":
        Check("help"),
    ".venv/bin/webresearch eval --tasks data/deepresearcher_dev.jsonl --web "
    "corpus:vital-articles --policy heuristic": Check("parse"),
    ".venv/bin/python benchmarks/corpus.py": Check("help"),
    # A retriever server: servers, the network, a cluster (tests/corpus/test_serve_corpus.py,
    # tests/corpus/test_retriever_server.py, tests/distributed/test_corpus_shards.py)
    ".venv/bin/webresearch data wiki18": Check("parse"),
    ".venv/bin/webresearch serve-corpus data/wiki-18.jsonl --retriever bm25 --workers 4":
        Check("parse"),
    ".venv/bin/webresearch serve-corpus data/wiki-18.jsonl --ray-shards 8 --ray-address auto "
    "--shard-dir /shared/wiki-18.shards": Check("parse"),
    ".venv/bin/webresearch rollout --web retriever:http://127.0.0.1:8000 --tasks questions.jsonl "
    "--policy heuristic": Check("parse"),
    # Wiki-scale corpora: hours at 21M passages (tests/corpus/test_streaming.py builds small ones)
    ".venv/bin/webresearch index data/wiki-18.jsonl --retriever bm25-stream": Check("parse"),
    ".venv/bin/webresearch serve-corpus data/wiki-18.jsonl --retriever bm25-stream --workers 4":
        Check("parse"),
    ".venv/bin/webresearch rollout --web corpus:data/wiki-18.jsonl#bm25-stream --tasks "
    "questions.jsonl --policy heuristic": Check("parse"),
    ".venv/bin/python -m webresearch.corpus.synthetic data/synthetic.jsonl --passages 1000000 "
    "--seed 0": Check("run", {"--passages 1000000": "--passages 1000"}),
    ".venv/bin/python benchmarks/wiki_scale.py --passages 1000000": Check("help"),
    ".venv/bin/python benchmarks/wiki_scale.py --passages 21000000": Check("help"),
    # Recording and replaying runs
    ".venv/bin/webresearch replay runs runs/store": Check("run"),
    ".venv/bin/webresearch replay episodes runs/store --status answered --min-reward 0.5":
        Check("run"),
    ".venv/bin/webresearch replay show runs/store EPISODE_ID": Check("run"),
    ".venv/bin/webresearch replay rescore runs/store --run RUN_ID --reward em": Check("run"),
    ".venv/bin/webresearch replay export runs/store --out run.parquet": Check("run"),
    ".venv/bin/webresearch view runs/store": Check("parse"),  # a server: the viewer's tests
    # Speed
    ".venv/bin/python benchmarks/env_steps.py": Check("help"),
    ".venv/bin/python benchmarks/crawl.py": Check("help"),
    ".venv/bin/python benchmarks/concurrency.py --vector 64 --ray 1,2": Check("help"),
    ".venv/bin/python benchmarks/replay_store.py": Check("help"),
    ".venv/bin/python benchmarks/policies.py": Check("help"),
    ".venv/bin/python benchmarks/learner.py": Check("help"),
    ".venv/bin/python benchmarks/extract.py": Check("help"),
    ".venv/bin/python benchmarks/quickstart.py": Check("help"),
    ".venv/bin/webresearch rollout --policy oracle --episodes 500 --search-usd 0.001":
        Check("run"),
    ".venv/bin/python benchmarks/train_grpo.py": Check("help"),
}


# ------------------------------------------------------------------ extraction
def fenced_commands(text: str) -> list[str]:
    """Each command of each ```bash block: continuations joined, trailing comments dropped."""
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, re.DOTALL | re.MULTILINE):
        joined = re.sub(r"\\\n\s*", "", block)
        for raw in joined.splitlines():
            line = re.sub(r"\s+#\s.*$", "", raw).strip()
            if line and not line.startswith("#"):
                commands.append(" ".join(line.split()))
    return commands


def inline_commands(text: str) -> list[str]:
    """Inline code spans outside fenced blocks that are commands."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)
    spans = (" ".join(s.split()) for s in re.findall(r"(?<!`)`([^`]+)`(?!`)", prose))
    return [s for s in spans if s.startswith(PREFIXES)
            or (s.startswith("webresearch ") and " -" in s)]


def documented_commands() -> list[str]:
    """Every command of the README and the docs pages, once each, in page order."""
    found: list[str] = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        found += fenced_commands(text) + inline_commands(text)
    return list(dict.fromkeys(found))


COMMANDS = documented_commands()


# --------------------------------------------------------------------- sandbox
@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder that looks like a clone after both Quickstart commands."""
    venv = Path(sys.prefix)
    if not (venv / "bin" / "webresearch").exists():
        pytest.fail(f"Expects the tests to run in a venv with webresearch installed, "
                    f"actual: {venv} has no bin/webresearch")
    root = tmp_path_factory.mktemp("clone")
    (root / ".venv").symlink_to(venv)
    for name in ("examples", "benchmarks"):
        (root / name).symlink_to(ROOT / name)
    (root / "data").mkdir()
    shutil.copy(DEV_SAMPLE, root / "data" / "deepresearcher_dev.jsonl")
    bash(root, ".venv/bin/webresearch rollout --policy oracle --episodes 20 --no-progress")
    return root


PARSE_ALL = """
import argparse, contextlib, io, json, pathlib, runpy, shlex, sys
real_parse_args = argparse.ArgumentParser.parse_args

def parse_then_stop(self, args=None, namespace=None):
    real_parse_args(self, args, namespace)  # a bad flag or value exits 2 here
    print(self.format_usage(), end="")
    raise SystemExit(0)

argparse.ArgumentParser.parse_args = parse_then_stop
usages = {}
for command in json.loads(sys.argv[1]):
    _, script, *args = shlex.split(command)
    sys.argv = [script, *args]
    sys.path.insert(0, str(pathlib.Path(script).resolve().parent))  # as python does for a script
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        usages[command] = out.getvalue() if exc.code == 0 else f"exit {exc.code}: {err.getvalue()}"
    else:
        usages[command] = "ran without parsing its arguments"
print(json.dumps(usages))
"""


@pytest.fixture(scope="module")
def script_usages(sandbox: Path) -> dict[str, str]:
    """Each script's own parser run on the README's arguments, all in one process (one
    torch import): its usage line once they parse, or the parser's error."""
    commands = [c for c in COMMANDS if CHECKS.get(c, Check("")).kind == "help"]
    assert all(c.startswith(".venv/bin/python ") for c in commands)
    done = bash(sandbox, f".venv/bin/python -c {shlex.quote(PARSE_ALL)} "
                         f"{shlex.quote(json.dumps(commands))}")
    usages: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return usages


def bash(root: Path, command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": PYTHONPATH,
           "WEBRESEARCH_CACHE_DIR": str(root / "cache")}
    done = subprocess.run(["bash", "-c", command], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def store_ids(root: Path) -> dict[str, str]:
    """A run id and one of its episodes' ids, from the sandbox's store."""
    from webresearch.replay.store import ReplayStore

    with ReplayStore(root / "runs" / "store") as store:
        run = store.runs()[0]
        episode = next(iter(store.episodes(run.run_id)))
    return {"RUN_ID": run.run_id, "EPISODE_ID": episode.episode_id}


# ------------------------------------------------------------------ the checks
def test_every_readme_command_has_a_check_and_every_check_a_command() -> None:
    assert len(COMMANDS) >= 30
    assert [c for c in COMMANDS if c not in CHECKS] == []
    assert [c for c in CHECKS if c not in COMMANDS] == []


def test_commands_use_the_venv_not_bare_python_or_pip() -> None:
    """Bare ``python``, ``pip`` or ``webresearch`` fail after the Quickstart (no activated
    venv); the only other start is the Quickstart's own ``python3 -m venv``."""
    bare = [c for c in COMMANDS if not c.startswith((".venv/bin/", ".venv-vllm/bin/", "bash "))
            and not c.startswith("python3 -m venv .venv && ")]
    assert bare == []
    assert [page for page in PAGES if "../shared" in page.read_text(encoding="utf-8")] == []


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[:60])
def test_readme_command(command: str, request: pytest.FixtureRequest) -> None:
    check = CHECKS.get(command)
    assert check is not None, f"classify this README command in CHECKS: {command}"
    if check.kind == "run":
        root: Path = request.getfixturevalue("sandbox")
        if "runs/tiny" in command and not (root / "runs" / "tiny").exists():
            shutil.copytree(request.getfixturevalue("tiny_model"), root / "runs" / "tiny")
        for old, new in check.budget.items():
            assert old in command, old
            command = command.replace(old, new)
        for placeholder, value in store_ids(root).items():
            command = command.replace(placeholder, value)
        bash(root, command)
    elif check.kind == "parse":
        parse(command)
    elif check.kind == "help":
        usage = request.getfixturevalue("script_usages")[command]
        assert usage.startswith("usage:"), usage
    else:
        CHECKERS[check.kind](command, check.arg)


def parse(command: str) -> None:
    from webresearch.cli import build_parser

    program, *argv = shlex.split(command)
    assert program == ".venv/bin/webresearch", command
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"the CLI refuses {command!r} (exit {exc.code})")


def check_extra(command: str, extra: str) -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    extras = config["options.extras_require"]
    assert command == f".venv/bin/pip install -e '.[{extra}]'" and extra in extras
    own_env = ROOT / ".ci" / f"{extra}-env"  # vLLM: CI has its CPU build in a venv of its own
    if own_env.is_file():
        check_script(f"bash .ci/{own_env.name}", "")
        return
    wanted = {line.strip() for line in extras[extra].splitlines() if line.strip()}
    names = {re.split(r"[<>=!\[;]", line)[0].lower() for line in wanted}
    dev = {re.split(r"[<>=!\[;]", line.strip())[0].lower()
           for line in extras["dev"].splitlines() if line.strip()}
    assert names <= dev, f"[{extra}] has packages the dev extra lacks: {names - dev}"


def check_pin(command: str, _: str) -> None:
    pin = re.search(r"torch==[\w.]+", command)
    assert pin is not None and pin.group(0) in (ROOT / ".ci" / "test").read_text()


def check_install(command: str, _: str) -> None:
    """``.ci/install-check`` runs this line verbatim in a fresh venv of a fresh clone."""
    assert f'"{command}"' in (ROOT / ".ci" / "install-check").read_text(), (
        f"add this install line to .ci/install-check with a command of its use: {command}")
    if "torch==" in command:
        check_pin(command, "")


def check_fresh(command: str, extra: str) -> None:
    prefix = "python3 -m venv .venv && "
    assert command.startswith(prefix)
    install = command.removeprefix(prefix).removeprefix(TORCH)
    if install != command.removeprefix(prefix):
        check_pin(command, "")
    check_extra(install, extra)


def check_self(command: str, _: str) -> None:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert lines[-1] == command  # CI runs exactly the README's test command


def check_script(command: str, _: str) -> None:
    script = command.split()[1]
    assert (ROOT / script).is_file() and f"{command}\n" in (ROOT / ".ci" / "test").read_text()


def check_ray(command: str, arg: str) -> None:
    """Ray's own command line: the venv has it, and ``ray start`` takes every flag given."""
    ray = Path(sys.executable).with_name("ray")
    assert ray.is_file(), f"{ray} is missing: the dev extra installs ray"
    out = subprocess.run([str(ray), "start", "--help"], capture_output=True, text=True,
                         timeout=300, check=True).stdout
    for flag in re.findall(r"(--[\w-]+)", command):
        assert flag in out, f"ray start has no {flag}"


def check_covered(command: str, arg: str) -> None:
    """The named test runs this command: it holds the text and every flag the page gives."""
    path, text = arg.split("::")
    source = (ROOT / path).read_text()
    assert text in command and text in source
    assert [f for f in re.findall(r"(--[\w-]+)", command) if f'"{f}"' not in source] == []


CHECKERS = {"extra": check_extra, "install": check_install, "fresh": check_fresh,
            "pin": check_pin, "self": check_self, "script": check_script,
            "covered": check_covered, "ray": check_ray}


def test_the_first_command_installs_the_core_package_only() -> None:
    """No extra in command 1: the main job needs no torch, Ray or faiss."""
    first = fenced_commands(README.read_text(encoding="utf-8"))[0]
    assert first.startswith("python3 -m venv .venv && .venv/bin/pip install -e . && ")
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    core = config["options"]["install_requires"].lower()
    assert not [m for m in ("torch", "ray", "faiss", "transformers", "vllm") if m in core]


def test_the_quickstart_benchmark_times_the_readmes_first_command() -> None:
    import runpy

    first = runpy.run_path(str(ROOT / "benchmarks" / "quickstart.py"))["first_command"]()
    assert first == fenced_commands(README.read_text(encoding="utf-8"))[0]


def test_the_dev_file_the_readme_uses_is_what_webresearch_data_writes() -> None:
    from webresearch.cli.data import default_out

    assert default_out("dev") == Path("data/deepresearcher_dev.jsonl")
    uses = [c for c in COMMANDS if "--tasks data/" in c]
    assert uses and all("--tasks data/deepresearcher_dev.jsonl" in c for c in uses)
