"""verl: the budgets on their own, then a real verl 0.9.1 rollout batch in ``.venv-verl``.

verl pins transformers<5.11, so it lives in an environment of its own (``bash
.ci/verl-env``); ``verl_batch.py`` runs there and reports what verl's own worker made.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PYTHONPATH
from webresearch.envs.config import EnvConfig
from webresearch.errors import ConfigError, DependencyNotInstalled
from webresearch.integrations import verl as adapter
from webresearch.integrations.episodes import make_env
from webresearch.integrations.verl import TokenBudget, play_episode, verl_rows
from webresearch.tasks import Task

ROOT = Path(__file__).resolve().parents[2]
VERL_PYTHON = ROOT / ".venv-verl" / "bin" / "python"
TASK = {"question": "Who founded Pogre Works?", "answers": ["Kraemukreisk Jepudou"]}
TURNS = ['<think>look</think><tool_call>{"name": "web_search", "arguments": '
         '{"query": ["Pogre Works"]}}</tool_call>',
         "<think>found</think><answer>Kraemukreisk Jepudou</answer>"]
CUT, MODEL_LENGTH, MODEL_TURN = 209, 128, 16  # verl_batch.py's response budgets


class CharTokenizer:
    """Characters as token ids: enough for the env's token assembly."""

    eos_token = None
    eos_token_id = 0

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [ord(c) for c in text]

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return "".join(chr(i) for i in ids if i)

    def apply_chat_template(self, messages: list[dict], tools: object = None,
                            tokenize: bool = False, add_generation_prompt: bool = False) -> str:
        text = "".join(f"<{m['role']}>{m['content']}\n" for m in messages)
        return text + ("<assistant>" if add_generation_prompt else "")


@dataclass
class TokenOutput:
    token_ids: list[int]
    log_probs: list[float] | None


class ScriptedServer:
    """verl's server manager to a loop: a search, then the gold answer, cut at max_tokens."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    async def generate(self, *, request_id: str, prompt_ids: list[int],
                       sampling_params: dict[str, Any]) -> TokenOutput:
        self.requests.append({"request_id": request_id, "prompt_ids": prompt_ids,
                              **sampling_params})
        ids = [ord(c) for c in TURNS[len(self.requests) - 1]][:sampling_params["max_tokens"]]
        return TokenOutput(ids, [-0.5] * len(ids))


def play(budget: TokenBudget, server: ScriptedServer) -> adapter.BudgetedEpisode:
    env = make_env(EnvConfig(max_turns=3, top_k=1, max_observation_chars=300))
    try:
        return asyncio.run(play_episode(
            env, Task(id="t", question=TASK["question"], answers=tuple(TASK["answers"])),
            server_manager=server, tokenizer=CharTokenizer(), sampling_params={"temperature": 1},
            budget=budget, request_id="trajectory-1"))
    finally:
        env.close()


# ------------------------------------------------- budgets (no verl needed)
def test_an_episode_within_its_budget_is_scored_on_its_last_token() -> None:
    server = ScriptedServer()
    episode = play(TokenBudget(prompt_length=100_000, response_length=100_000), server)
    assert episode.outcome.reward == 1.0 and not episode.budget_ended
    sampled = [i for i, m in zip(episode.response_ids, episode.response_mask, strict=True) if m]
    assert "".join(map(chr, sampled)) == "".join(TURNS)
    assert episode.response_mask[-1] == 1 and episode.response_mask.count(0) > 0
    assert {r["request_id"] for r in server.requests} == {"trajectory-1"}  # one per trajectory
    first, second = (r["prompt_ids"] for r in server.requests)
    assert episode.prompt_ids == first and second[:len(first)] == first  # token in, token out


def test_the_budget_cuts_the_answer_turn_where_it_ends() -> None:
    whole = play(TokenBudget(prompt_length=100_000, response_length=100_000), ScriptedServer())
    length = len(whole.response_ids) - 10  # ends ten tokens before the answer does
    server = ScriptedServer()
    cut = play(TokenBudget(prompt_length=100_000, response_length=length), server)
    assert cut.response_ids == whole.response_ids[:length]
    assert cut.response_mask == whole.response_mask[:length] and cut.response_mask[-1] == 1
    assert cut.budget_ended and str(cut.outcome.status) == "truncated"
    assert cut.outcome.reward == -1.0  # DeepResearcher's reward without an answer
    search, observation = whole.response_mask.index(0), whole.response_mask.count(0)
    assert server.requests[1]["max_tokens"] == length - search - observation  # what was left


def test_an_observation_past_the_budget_ends_the_episode_on_the_model_s_last_token() -> None:
    whole = play(TokenBudget(prompt_length=100_000, response_length=100_000), ScriptedServer())
    searched = whole.response_mask.index(0)
    server = ScriptedServer()
    cut = play(TokenBudget(prompt_length=100_000, response_length=searched + 5), server)
    assert cut.response_mask == [1] * searched and len(server.requests) == 1
    assert cut.outcome.tool_calls == 1 and str(cut.outcome.status) == "truncated"


def test_a_long_prompt_loses_its_start_and_the_model_sees_what_verl_keeps() -> None:
    server = ScriptedServer()
    episode = play(TokenBudget(prompt_length=256, response_length=100_000, max_turn_tokens=30),
                   server)
    assert len(episode.prompt_ids) == 256 and episode.prompt_cut > 0
    assert server.requests[0]["prompt_ids"] == episode.prompt_ids
    assert {r["max_tokens"] for r in server.requests} == {30}


@pytest.mark.parametrize(("field", "value"), [("prompt_length", 0), ("response_length", -1),
                                              ("max_turn_tokens", 0)], ids=str)
def test_budgets_are_positive(field: str, value: int) -> None:
    options = {"prompt_length": 8, "response_length": 8, field: value}
    with pytest.raises(ConfigError, match=re.escape(f"Expects {field} to be a positive int")):
        TokenBudget(**options)


def test_an_unsupported_verl_is_named_with_the_supported_range() -> None:
    adapter.check_verl_version("0.9.3")
    for version in ("0.9.0", "0.10.0", "1.0"):
        with pytest.raises(ConfigError, match=re.escape("Expects verl>=0.9.1,<0.10")):
            adapter.check_verl_version(version)


@pytest.mark.skipif(importlib.util.find_spec("verl") is not None, reason="verl is installed")
def test_the_loop_without_verl_names_the_extra() -> None:
    with pytest.raises(DependencyNotInstalled, match=re.escape("webresearch[verl]")):
        adapter.WebResearchAgentLoop()


# ------------------------------------------------------ dataset and YAML
def test_rows_follow_config_tasks(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps(TASK) + "\n" + json.dumps({"question": "Q2?", "answers": ["b"]})
                    + "\n", encoding="utf-8")
    rows = verl_rows(config=EnvConfig(tasks=path))
    assert [r["reward_model"]["ground_truth"] for r in rows] == [TASK["answers"], ["b"]]
    assert len(verl_rows([TASK], config=EnvConfig(tasks=path))) == 1  # an explicit list wins


def test_a_row_without_a_task_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=re.escape("extra_info['task']")):
        adapter._task_record({"raw_prompt": []})


def test_dataset_and_yaml(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = adapter.write_verl_dataset(tmp_path / "train.parquet", [TASK])
    row = pq.read_table(path).to_pylist()[0]
    assert row["agent_name"] == "webresearch"
    assert json.loads(row["extra_info"]["task"])["question"] == TASK["question"]
    yaml = adapter.write_agent_loop_yaml(tmp_path / "agent.yaml", {"max_turns": 4}).read_text()
    assert "_target_: webresearch.integrations.verl.WebResearchAgentLoop" in yaml


# ------------------------------------------- real verl, in .venv-verl
needs_verl = pytest.mark.skipif(not VERL_PYTHON.exists(),
                                reason="needs .venv-verl (bash .ci/verl-env)")


def run_verl(args: list[str], cwd: Path, timeout: float = 600) -> str:
    env = {**os.environ, "PYTHONPATH": PYTHONPATH, "TOKENIZERS_PARALLELISM": "false",
           "OMP_NUM_THREADS": "1", "RAY_DEDUP_LOGS": "0"}
    process = subprocess.Popen([str(VERL_PYTHON), *args], cwd=cwd, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, out[-4000:]
    return out


@pytest.fixture(scope="module")
def verl_batch(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not VERL_PYTHON.exists():
        pytest.skip("needs .venv-verl (bash .ci/verl-env)")
    work = tmp_path_factory.mktemp("verl")
    out = run_verl([str(Path(__file__).with_name("verl_batch.py")), str(work), str(CUT),
                    str(MODEL_LENGTH), str(MODEL_TURN)], work)
    result: dict[str, Any] = json.loads(out.split("RESULT ", 1)[1])
    return result


def runs(mask: list[int], length: int) -> list[tuple[int, int]]:
    """The mask's runs of equal values, over its first ``length`` entries."""
    out: list[tuple[int, int]] = []
    for value in mask[:length]:
        out = [*out[:-1], (value, out[-1][1] + 1)] if out and out[-1][0] == value else [
            *out, (value, 1)]
    return out


@needs_verl
def test_verl_pads_the_batch_to_its_budgets(verl_batch: dict[str, Any]) -> None:
    for name, length in (("full", 1024), ("cut", CUT), ("model", MODEL_LENGTH)):
        shapes = verl_batch[name]["shapes"]
        assert shapes["prompts"] == [2, 256] and shapes["responses"] == [2, length], name
        assert shapes["input_ids"] == shapes["attention_mask"] == [2, 256 + length], name
        assert shapes["rm_scores"] == shapes["rollout_log_probs"] == [2, length], name
        for row in verl_batch[name]["rows"]:
            assert row["prompt_attended"] == 256 and row["prompt_cut"] > 0  # cut from the left


@needs_verl
def test_verl_s_batch_cuts_the_answer_turn_at_the_budget(verl_batch: dict[str, Any]) -> None:
    search, answer = (len(ids) + 1 for ids in verl_batch["script_ids"])  # each ends in eos
    whole, cut = verl_batch["full"]["rows"][0], verl_batch["cut"]["rows"][0]
    observation = runs(whole["mask"], whole["attended"])[1][1]
    assert runs(whole["mask"], whole["attended"]) == [(1, search), (0, observation), (1, answer)]
    assert whole["score"] == 1.0 and whole["score_at"] == [whole["attended"] - 1]
    kept = CUT - search - observation
    assert 0 < kept < answer  # the budget ends inside the answer turn
    assert runs(cut["mask"], CUT) == [(1, search), (0, observation), (1, kept)]
    assert cut["attended"] == CUT and cut["score_at"] == [CUT - 1] and cut["score"] == -1.0
    assert cut["status"] == "truncated" and cut["budget_ended"] and cut["answer"] is None
    assert cut["input_ids"][:256 + CUT] == whole["input_ids"][:256 + CUT]
    assert [c["max_tokens"] for calls in verl_batch["cut"]["servers"].values()
            for c in calls][-1] == kept  # the server was asked for what was left


@needs_verl
def test_verl_routes_every_turn_of_a_trajectory_by_one_request_id(
        verl_batch: dict[str, Any]) -> None:
    for name in ("full", "cut", "model"):
        ids = verl_batch[name]["request_ids"]
        assert len(ids) == 4 and len(set(ids)) == 2, name  # 2 trajectories x 2 turns


@needs_verl
def test_a_sampled_batch_keeps_verl_s_log_probs_and_trains(verl_batch: dict[str, Any]) -> None:
    model = verl_batch["model"]
    for row in model["rows"]:
        kept = runs(row["mask"], row["attended"])
        assert kept[0] == (1, MODEL_TURN) and kept[-1][0] == 1 and len(kept) >= 3
        assert row["budget_ended"] and row["attended"] <= MODEL_LENGTH
        assert row["score_at"] == [row["attended"] - 1]  # on the last kept token
        assert all(lp == 0.0 for lp, m in zip(row["logprobs"], row["mask"], strict=True) if not m)
    assert model["logprob_error"] < 1e-4
    step = model["step"]
    assert step["changed"] == step["params"] and step["loss"] == step["loss"]  # finite, applied


@needs_verl
def test_importing_with_an_unsupported_verl_names_the_range(tmp_path: Path) -> None:
    code = ("import importlib.metadata as m; m.version = lambda name: '0.10.2'\n"
            "try:\n    import webresearch.integrations.verl\n"
            "except Exception as exc:\n    print(type(exc).__name__, exc)")
    out = run_verl(["-c", code], tmp_path, timeout=120)
    assert "ConfigError Expects verl>=0.9.1,<0.10" in out and "actual: verl 0.10.2" in out


@needs_verl
def test_the_example_s_overrides_are_verl_s_own_keys(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps(TASK) + "\n", encoding="utf-8")
    out = run_verl([str(ROOT / "examples" / "train_verl.py"), "--dry-run", "--out",
                    str(tmp_path / "run"), "--tasks", str(tasks), "--model", "some/model"],
                   tmp_path, timeout=300)
    command = out.strip().splitlines()[-1]
    assert "-m verl.trainer.main_ppo" in command
    assert "actor_rollout_ref.rollout.agent.default_agent_loop=webresearch" in command
    assert (tmp_path / "run" / "train.parquet").is_file()
    assert "max_turn_tokens: 1024" in (tmp_path / "run" / "agent.yaml").read_text()
