"""Every example script and benchmark runs, with a tiny budget, through a subprocess."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


# Subprocess timeouts are safety nets: a busy machine runs these scripts several times slower.
def run(script: str, *args: str) -> str:
    out = subprocess.run([sys.executable, str(ROOT / script), *args], capture_output=True,
                         text=True, timeout=1200, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_quickstart() -> None:
    stdout = run("examples/quickstart.py", "--episodes", "2")
    assert "oracle: mean F1 1.000 over 2 episodes" in stdout
    assert "no-tool: mean F1" in stdout and "<tool_call>" in stdout


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "examples").glob("*.py")))
def test_every_example_has_a_smoke_test(script: str) -> None:
    """Here, in a file of its own (the slowest, so that the suite's processes share them),
    or beside the adapter it shows (tests/integrations/)."""
    here = Path(__file__).parent
    smoke = [Path(__file__), *here.glob("test_example_*.py"), *here.glob("integrations/test_*.py")]
    spellings = (f"examples/{script}", f'"examples" / "{script}"')
    assert any(s in f.read_text() for f in smoke for s in spellings), \
        f"add a smoke test for examples/{script}"


def test_crawl_benchmark() -> None:
    last = run("benchmarks/crawl.py", "--pages", "20", "--page-kb", "20", "--repeats", "1",
               "--concurrency", "4", "--convert-processes", "1").splitlines()[-1]
    figures = json.loads(last)
    assert figures["pages_per_s"] > 0 and figures["ratio"] > 0 and figures["cache_hit_ms"] > 0
    assert figures["live_cpu_ms_per_page"] > 0 and figures["convert_processes"] == 1
    assert figures["cache_write_cpu_ms"] > 0


def test_extract_benchmark(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text("<title>A</title><main><p>Hello <b>there</b></p></main>")
    last = run("benchmarks/extract.py", "--pages", "5", "--repeats", "1", "--html-dir",
               str(tmp_path)).splitlines()[-1]
    figures = json.loads(last)
    assert figures["sim_ms"] > 0 and figures["files_pages"] == 1 and figures["files_ms"] > 0


def test_replay_store_benchmark() -> None:
    figures = json.loads(run("benchmarks/replay_store.py", "--episodes", "50").splitlines()[-1])
    assert figures["write_steps_per_s"] > 0 and figures["bytes_per_step"] > 0


def test_policies_benchmark() -> None:
    pytest.importorskip("torch")
    last = run("benchmarks/policies.py", "--backends", "hf", "--prompts", "2", "--max-tokens",
               "4").splitlines()[-1]
    assert json.loads(last)["hf"]["direct_tokens_per_s"] > 0


def test_learner_benchmark() -> None:
    pytest.importorskip("torch")
    last = run("benchmarks/learner.py", "--groups", "2", "--group-size", "2", "--repeats",
               "1").splitlines()[-1]
    assert json.loads(last)["ratio"] > 0


def test_copy_probe_benchmark() -> None:
    pytest.importorskip("torch")
    last = run("benchmarks/copy_probe.py", "--steps", "2", "--examples", "64", "--probes",
               "2").splitlines()[-1]
    figures = json.loads(last)
    assert figures["steps"] == 2 and 0 <= figures["heldout_exact_copy"] <= 1


def test_env_steps_benchmark() -> None:
    last = run("benchmarks/env_steps.py", "--episodes", "20", "--repeats", "1").splitlines()[-1]
    figures = json.loads(last)
    assert figures["steps_per_s"] > 0 and figures["episodes"] == 20


def test_train_grpo(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    last = run("examples/train_grpo.py", "--steps", "3", "--groups", "2", "--group-size", "4",
               "--out", str(tmp_path)).splitlines()[-1]
    assert json.loads(last)["steps"] == 3
    assert (tmp_path / "training.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "checkpoint.pt").exists()


def test_train_grpo_on_ray(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("ray")
    last = run("examples/train_grpo.py", "--steps", "2", "--groups", "2", "--group-size", "2",
               "--workers", "1", "--out", str(tmp_path)).splitlines()[-1]
    assert json.loads(last)["steps"] == 2
    from webresearch.replay import ReplayStore

    with ReplayStore(tmp_path / "store") as store:
        (run_record,) = store.runs()
        versions = sorted(e.policy_version for e in store.episodes(run_record.run_id))
    assert versions == [0, 0, 0, 0, 1, 1, 1, 1]


def test_train_grpo_vllm_is_documented() -> None:
    """It needs a GPU: here only its command line is checked."""
    assert "--group-size" in run("examples/train_grpo_vllm.py", "--help")


def test_corpus_benchmark() -> None:
    pytest.importorskip("bm25s")
    last = run("benchmarks/corpus.py", "--sizes", "300", "--queries", "5").splitlines()[-1]
    figures = json.loads(last)["300"]
    assert figures["build_s"] > 0 and figures["query_ms_mean"] > 0


def test_corpus_recall_benchmark(tmp_path: Path) -> None:
    pytest.importorskip("bm25s")
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "1", "title": "Ada", "text": "Ada Vell founded Pogre Works."}\n')
    tasks = tmp_path / "t.jsonl"
    tasks.write_text('{"question": "Who founded Pogre Works?", "answers": ["Ada Vell"], '
                     '"dataset": "toy"}\n')
    last = run("benchmarks/corpus_recall.py", "--web", f"corpus:{corpus}", "--tasks",
               str(tasks)).splitlines()[-1]
    assert json.loads(last)["toy"]["recall"] == 1.0


def test_concurrency_benchmark() -> None:
    args = ["--episodes", "16", "--rounds", "1", "--bare-s", "1", "--latency-ms", "20",
            "--vector", "2", "--vector-s", "2"]
    if importlib.util.find_spec("ray") is not None:
        args += ["--ray", "1"]
    figures = json.loads(run("benchmarks/concurrency.py", *args).splitlines()[-1])
    for key in ("episodes", "steps_per_s", "bare_rps", "ratio", "peak_rss_mb", "errors"):
        assert key in figures
    assert figures["errors"] == 0 and figures["vector"]["steps_per_s"] > 0


def test_train_sim_minutes_cap_the_whole_script(tmp_path: Path) -> None:
    """Past --minutes the training phases stop (GRPO after its step in hand); the
    evaluations still run and the JSON comes last."""
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    out = run("examples/train_sim.py", "--minutes", "0.001", "--copy-steps", "50",
              "--sft-steps", "50", "--grpo-steps", "5", "--heldout-tasks", "4",
              "--demo-tasks", "8", "--grpo-tasks", "8", "--groups", "2", "--group-size", "2",
              "--out", str(tmp_path))
    figures = json.loads(out.splitlines()[-1])
    assert (figures["copy_steps"], figures["sft_steps"], figures["grpo_steps"]) == (0, 0, 1)
    assert "recording 8 demonstrations" in out and "held-out  grpo: playing 4 tasks" in out


def test_train_sim(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    last = run("examples/train_sim.py", "--copy-steps", "2", "--sft-steps", "2",
               "--grpo-steps", "1", "--heldout-tasks", "6", "--demo-tasks", "24",
               "--grpo-tasks", "24", "--groups", "2", "--group-size", "2",
               "--out", str(tmp_path)).splitlines()[-1]
    figures = json.loads(last)
    for key in ("heldout_f1_start", "heldout_f1_end", "improvement_ci_low",
                "improvement_ci_high", "minutes"):
        assert isinstance(figures[key], float), key
    assert figures["heldout_n"] == 6
    assert (figures["copy_steps"], figures["sft_steps"], figures["grpo_steps"]) == (2, 2, 1)
    assert figures["improvement_ci_low"] <= figures["improvement_ci_high"]
    assert (tmp_path / "training.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "sft" / "config.json").exists() and (tmp_path / "grpo.pt").exists()


def test_long_horizon_benchmark() -> None:
    last = run("benchmarks/long_horizon.py", "--long", "2", "--short", "2", "--turns", "8",
               "--short-turns", "2", "--think-ms", "1", "--web-ms", "1").splitlines()[-1]
    figures = json.loads(last)
    assert figures["episodes"] == 2 and figures["statuses"] == ["answered"]
    assert figures["store_intact"] and figures["viewer_index_ok"]


def test_wiki_scale_benchmark(tmp_path: Path) -> None:
    pytest.importorskip("bm25s")
    pytest.importorskip("numba")
    last = run("benchmarks/wiki_scale.py", "--passages", "2000", "--ref-max", "2000",
               "--queries", "20", "--server-workers", "1", "--folder",
               str(tmp_path)).splitlines()[-1]
    figures = json.loads(last)
    for key in ("passages", "build_s", "build_peak_rss_mb", "index_disk_mb", "serve_rss_mb",
                "p50_ms", "p95_ms", "qps_16", "parity_top10"):
        assert key in figures, key
    assert figures["passages"] == 2000 and figures["parity_top10"] >= 0.9


def test_adaptive_benchmark() -> None:
    last = run("benchmarks/adaptive.py", "--seconds", "2", "--sweep", "2,4",
               "--rps", "20").splitlines()[-1]
    figures = json.loads(last)
    for key in ("best_fixed_concurrency", "best_fixed_episodes_per_min", "best_fixed_429_rate",
                "adaptive_episodes_per_min", "adaptive_429_rate"):
        assert key in figures, key
    assert [one["concurrency"] for one in figures["sweep"]] == [2, 4]
