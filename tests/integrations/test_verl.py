"""verl: the agent loop plays an episode through a fake server manager."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from dataclasses import dataclass, fields
from pathlib import Path

import pytest

from webresearch.integrations import verl as adapter
from webresearch.integrations.verl import AgentLoopResult, WebResearchAgentLoop, verl_rows

TASK = {"question": "Who founded Pogre Works?", "answers": ["Kraemukreisk Jepudou"]}

# verl 0.9's AgentLoopOutput fields (verl/experimental/agent_loop/agent_loop.py) that an
# agent loop fills; verl needs transformers<5.11, so it does not install beside this project.
VERL_FIELDS = {"prompt_ids", "response_ids", "response_mask", "response_logprobs",
               "reward_score", "num_turns", "metrics", "extra_fields"}


class CharTokenizer:
    """Characters as token ids: enough for the env's token assembly."""

    eos_token = None
    eos_token_id = 0
    pad_token_id = 0

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


class FakeServerManager:
    """Answers with a search, then the gold answer, the way verl's server would: token ids."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.turns = [
            '<think>look</think><tool_call>{"name": "web_search", "arguments": '
            '{"query": ["Pogre Works"]}}</tool_call>',
            "<think>found</think><answer>Kraemukreisk Jepudou</answer>"]

    async def generate(self, *, request_id: str, prompt_ids: list[int],
                       sampling_params: dict) -> TokenOutput:
        self.requests.append({"prompt_ids": prompt_ids, "sampling_params": sampling_params})
        ids = [ord(c) for c in self.turns[len(self.requests) - 1]]
        return TokenOutput(ids, [-0.5] * len(ids))


def run_loop(server: FakeServerManager, rows: list[dict]) -> object:
    loop = WebResearchAgentLoop(server_manager=server, tokenizer=CharTokenizer(),
                                env={"max_turns": 3}, processor=None, name="webresearch")
    return asyncio.run(loop.run({"temperature": 1.0}, **rows[0]))


def test_agent_loop_maps_the_episode_onto_verl_s_output() -> None:
    server = FakeServerManager()
    output = run_loop(server, verl_rows([TASK]))
    assert output.reward_score == 1.0
    assert output.extra_fields["status"] == "answered"
    assert output.extra_fields["tool_calls"] == 1
    mask, ids = output.response_mask, output.response_ids
    assert len(mask) == len(ids) == len(output.response_logprobs)
    sampled = [i for i, m in zip(ids, mask, strict=True) if m == 1]
    assert "".join(map(chr, sampled)) == "".join(server.turns)  # the model's tokens, exactly
    assert 0 in mask  # the observation between the turns
    # the second request is the first one's tokens, extended: token in, token out
    first, second = (r["prompt_ids"] for r in server.requests)
    assert second[:len(first)] == first and server.requests[0]["sampling_params"]["stop"]
    assert output.prompt_ids == first


def test_output_has_verl_s_fields() -> None:
    output = run_loop(FakeServerManager(), verl_rows([TASK]))
    if importlib.util.find_spec("verl") is None:
        assert isinstance(output, AgentLoopResult)
        assert {f.name for f in fields(AgentLoopResult)} == VERL_FIELDS
    else:  # the real pydantic model
        assert set(type(output).model_fields) >= VERL_FIELDS


def test_a_row_without_a_task_is_a_clear_error() -> None:
    with pytest.raises(Exception, match="extra_info"):
        run_loop(FakeServerManager(), [{"raw_prompt": []}])


def test_dataset_and_yaml(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = adapter.write_verl_dataset(tmp_path / "train.parquet", [TASK])
    row = pq.read_table(path).to_pylist()[0]
    assert row["agent_name"] == "webresearch"
    assert json.loads(row["extra_info"]["task"])["question"] == TASK["question"]
    yaml = adapter.write_agent_loop_yaml(tmp_path / "agent.yaml", {"max_turns": 4}).read_text()
    assert "_target_: webresearch.integrations.verl.WebResearchAgentLoop" in yaml
