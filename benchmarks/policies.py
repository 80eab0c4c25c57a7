"""Tokens per second of each policy backend with the tiny model, and the rollout's overhead.

For each backend: ``direct`` sends ``--prompts`` prompts in one call and counts the
tokens generated per second; ``rollout`` runs as many one-turn episodes through the
rollout runner (one request per episode, batched by the backend) with the same sampling,
and counts the sampled tokens per second. ``overhead`` is ``1 - rollout / direct``.
Backends: ``hf`` (in this process), ``vllm`` (in-process engine, run in ``.venv-vllm``)
and ``openai`` (``vllm serve`` from ``.venv-vllm``, called over HTTP).
Usage: ``python benchmarks/policies.py [--backends hf,vllm,openai]``; the last line is one
JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"
ENGINE = {"dtype": "float32", "max_model_len": 8192, "enforce_eager": True,
          "gpu_memory_utilization": 0.2, "seed": 0}


async def measure(policy: Any, prompts: int, max_tokens: int) -> dict[str, float]:
    from webresearch.envs.web_research import WebResearchEnv
    from webresearch.policies.policy import SamplingParams
    from webresearch.rollout import RolloutConfig, rollout

    sampling = SamplingParams(temperature=1.0, max_tokens=max_tokens, stop=(), seed=0)
    tasks = WebResearchEnv().tasks[:prompts]
    conversations = [[{"role": "user", "content": t.question}] for t in tasks]
    await policy.generate(conversations[:2], sampling)  # warm up
    start = time.perf_counter()
    outs = await policy.generate(conversations, sampling)
    direct = sum(len(o.token_ids or ()) for o in outs) / (time.perf_counter() - start)
    config = RolloutConfig(keep_results=True,
                           concurrency=prompts, progress=False, sampling=sampling)
    report = await rollout(lambda: WebResearchEnv(max_turns=1), policy, tasks, config)
    tokens = sum(len(s.token_ids or ()) for e in report.results for s in e.steps)
    through = tokens / report.seconds
    return {"direct_tokens_per_s": direct, "rollout_tokens_per_s": through,
            "overhead": 1 - through / direct}


def run_hf(model: Path, prompts: int, max_tokens: int) -> dict[str, float]:
    import torch

    from webresearch.policies.hf import HFPolicy

    torch.set_num_threads(2)
    return asyncio.run(measure(HFPolicy(model, max_batch=prompts), prompts, max_tokens))


def run_vllm(model: Path, prompts: int, max_tokens: int) -> dict[str, float]:
    from webresearch.policies.vllm import VLLMPolicy

    async def main() -> dict[str, float]:
        policy = VLLMPolicy(model, **ENGINE)
        try:
            return await measure(policy, prompts, max_tokens)
        finally:
            await policy.aclose()

    return asyncio.run(main())


def run_openai(model: Path, prompts: int, max_tokens: int) -> dict[str, float]:
    from transformers import AutoTokenizer

    from webresearch.policies.openai_compat import OpenAIPolicy

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    flags = [f"--{k.replace('_', '-')}" + ("" if v is True else f"={v}") for k, v in ENGINE.items()]
    server = subprocess.Popen([str(VLLM_PYTHON), "-m", "vllm.entrypoints.openai.api_server",
                               "--model", str(model), "--served-model-name", "tiny", "--port",
                               str(port), *flags], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/models", timeout=2).close()
                break
            except OSError:
                time.sleep(2)
        policy = OpenAIPolicy(url, "tiny", tokenizer=AutoTokenizer.from_pretrained(model))
        return asyncio.run(measure(policy, prompts, max_tokens))
    finally:
        server.terminate()
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="hf,vllm,openai")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--model", type=Path, help="model directory (default: a new tiny one)")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.model is None:
        from webresearch.policies.tiny import build_tiny_model

        args.model = build_tiny_model(tempfile.mkdtemp())
    runners = {"hf": run_hf, "vllm": run_vllm, "openai": run_openai}
    figures: dict[str, Any] = {}
    for backend in args.backends.split(","):
        if backend == "vllm" and not args.inner:  # vLLM lives in its own environment
            if not VLLM_PYTHON.exists():
                figures[backend] = {"skipped": "no .venv-vllm (bash .ci/vllm-env)"}
                continue
            out = subprocess.run([str(VLLM_PYTHON), __file__, "--inner", "--backends", "vllm",
                                  "--model", str(args.model), "--prompts", str(args.prompts),
                                  "--max-tokens", str(args.max_tokens)], capture_output=True,
                                 text=True, check=False, cwd=ROOT)
            lines = [ln for ln in out.stdout.splitlines() if ln.startswith('{"vllm"')]
            if not lines:  # vLLM logs to stdout too: look for our line, or say what happened
                raise SystemExit(f"the vLLM run failed:\n{out.stderr[-3000:]}")
            figures[backend] = json.loads(lines[-1])["vllm"]
        elif backend == "openai" and not VLLM_PYTHON.exists():
            figures[backend] = {"skipped": "no .venv-vllm for vllm serve"}
        else:
            figures[backend] = runners[backend](args.model, args.prompts, args.max_tokens)
        print(backend, figures[backend], file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
