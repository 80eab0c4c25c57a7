"""A verl rollout batch through verl's own worker, run under ``.venv-verl`` by ``test_verl.py``.

Real verl 0.9.1: the config (its Hydra YAML), ``RLHFDataset`` over the Parquet file
that :func:`write_verl_dataset` writes, ``collate_fn``, ``DataProto``,
``AgentLoopWorker.generate_sequences`` (the loop instantiated from its registry by
the YAML that :func:`write_agent_loop_yaml` writes, then verl's padding and
``_postprocess``), ``LLMServerClient`` and ``GlobalRequestLoadBalancer``. Stood in:
Ray (its actor handles are in-process objects whose methods have a ``remote`` that
awaits the call) and the inference servers (vLLM/SGLang need a GPU): a scripted
server and one that samples from the tiny HF model. Prints one JSON line, ``RESULT``.

Usage: ``python verl_batch.py WORKDIR CUT_LENGTH MODEL_LENGTH MODEL_TURN_TOKENS``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import torch

TASKS = [{"id": "pogre", "question": "Who founded Pogre Works?",
          "answers": ["Kraemukreisk Jepudou"]},
         {"id": "other", "question": "Who founded Rilvo Mills?", "answers": ["Ada Lane"]}]
ENV = {"max_turns": 3, "top_k": 1, "max_observation_chars": 400, "on_format_error": "feedback"}
SCRIPT = ['<think>look</think><tool_call>{"name": "web_search", "arguments": '
          '{"query": ["Pogre Works"]}}</tool_call>',
          "<think>found it</think><answer>Kraemukreisk Jepudou</answer>"]


class Handle:
    """A Ray actor handle stand-in: ``handle.method.remote(...)`` runs ``method`` now and
    returns an awaitable of its result (verl fires some calls without awaiting them)."""

    def __init__(self, target: Any) -> None:
        self.target = target

    def __getattr__(self, name: str) -> Any:
        return _Method(getattr(self.target, name))


class _Method:
    def __init__(self, method: Any) -> None:
        self.method = method

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        result = self.method(*args, **kwargs)
        if asyncio.iscoroutine(result):
            return result
        future = asyncio.get_running_loop().create_future()
        future.set_result(result)
        return future


class Recorder:
    """verl's load balancer, recording the request id of every acquire."""

    def __init__(self, balancer: Any) -> None:
        self.balancer, self.request_ids = balancer, []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.balancer, name)

    def acquire_server(self, request_id: str, **extra: Any) -> Any:
        self.request_ids.append(request_id)
        return self.balancer.acquire_server(request_id, **extra)


class ScriptedServer:
    """Answers each turn from SCRIPT (by how many assistant turns the prompt holds)."""

    def __init__(self, name: str, tokenizer: Any) -> None:
        self.name, self.tokenizer, self.calls = name, tokenizer, []

    async def generate(self, *, request_id: str, prompt_ids: list[int],
                       sampling_params: dict[str, Any], **_: Any) -> Any:
        from verl.workers.rollout.replica import TokenOutput

        turn = self.tokenizer.decode(prompt_ids).count("<|im_start|>assistant") - 1
        ids = self.tokenizer.encode(SCRIPT[turn], add_special_tokens=False)
        ids = ([*ids, self.tokenizer.eos_token_id])[:sampling_params["max_tokens"]]
        self.calls.append({"prompt": len(prompt_ids), "max_tokens": sampling_params["max_tokens"],
                           "head": prompt_ids[:8]})
        return TokenOutput(token_ids=ids, log_probs=[-0.5] * len(ids), stop_reason="completed")


class ModelServer(ScriptedServer):
    """Samples from the tiny HF model, with the log-probs of a forward pass."""

    def __init__(self, name: str, tokenizer: Any, model: Any) -> None:
        super().__init__(name, tokenizer)
        self.model = model

    async def generate(self, *, request_id: str, prompt_ids: list[int],
                       sampling_params: dict[str, Any], **_: Any) -> Any:
        from verl.workers.rollout.replica import TokenOutput

        self.calls.append({"prompt": len(prompt_ids), "max_tokens": sampling_params["max_tokens"],
                           "head": prompt_ids[:8]})
        prompt = torch.tensor([prompt_ids])
        with torch.no_grad():
            out = self.model.generate(prompt, attention_mask=torch.ones_like(prompt),
                                      max_new_tokens=sampling_params["max_tokens"], do_sample=True,
                                      temperature=1.0, top_k=0, top_p=1.0)
            ids = out[0, len(prompt_ids):].tolist()
            logits = self.model(out).logits[0, len(prompt_ids) - 1:-1].float()
        logprobs = torch.log_softmax(logits, -1).gather(-1, torch.tensor(ids)[:, None])[:, 0]
        return TokenOutput(token_ids=ids, log_probs=logprobs.tolist(), stop_reason="completed")


def compose(work: Path, response_length: int) -> Any:
    import verl
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    configs = str(Path(verl.__file__).parent / "trainer" / "config")
    with initialize_config_dir(config_dir=configs, version_base=None):
        return hydra_compose("ppo_trainer", overrides=[
            f"actor_rollout_ref.model.path={work / 'tiny'}",
            f"data.train_files={work / 'train.parquet'}", "data.max_prompt_length=256",
            f"data.max_response_length={response_length}",
            f"actor_rollout_ref.rollout.agent.agent_loop_config_path={work / 'agent.yaml'}",
            "actor_rollout_ref.rollout.agent.default_agent_loop=webresearch",
            "actor_rollout_ref.rollout.name=vllm",
            "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2"])


def dataset_batch(config: Any, tokenizer: Any) -> Any:
    """The trainer's route: RLHFDataset -> collate_fn -> DataProto, reward keys kept."""
    from verl import DataProto
    from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn

    dataset = RLHFDataset(data_files=[config.data.train_files], tokenizer=tokenizer,
                          config=config.data)
    batch = DataProto.from_single_dict(collate_fn([dataset[i] for i in range(len(dataset))]))
    return batch


async def rollout(config: Any, servers: list[Any]) -> tuple[Any, list[str]]:
    from verl.experimental.agent_loop.agent_loop import AgentLoopWorker
    from verl.workers.rollout.llm_server import LLMServerClient
    from verl.workers.rollout.router import GlobalRequestLoadBalancer

    balancer = Recorder(GlobalRequestLoadBalancer({s.name: Handle(s) for s in servers}))
    worker = AgentLoopWorker(config, LLMServerClient(config, load_balancer_handle=Handle(balancer)))
    batch = dataset_batch(config, worker.tokenizer)
    return await worker.generate_sequences(batch), balancer.request_ids


def summary(output: Any, request_ids: list[str], servers: list[Any]) -> dict[str, Any]:
    batch, extra = output.batch, output.non_tensor_batch
    rows = []
    for i in range(len(output)):
        mask = batch["response_mask"][i].tolist()
        attended = int(batch["attention_mask"][i, batch["prompts"].shape[1]:].sum())
        scores = batch["rm_scores"][i]
        rows.append({
            "mask": mask, "attended": attended, "prompt_attended":
            int(batch["attention_mask"][i, :batch["prompts"].shape[1]].sum()),
            "score_at": scores.nonzero().flatten().tolist(), "score": float(scores.sum()),
            "logprobs": batch["rollout_log_probs"][i].tolist(),
            "input_ids": batch["input_ids"][i].tolist(),
            "attention_mask": batch["attention_mask"][i].tolist(),
            **{k: _plain(extra[k][i]) for k in ("status", "answer", "budget_ended",
                                                "prompt_cut", "tool_calls")},
            "num_turns": int(extra["__num_turns__"][i])})
    shapes = {k: list(batch[k].shape) for k in batch.keys()}  # noqa: SIM118 - a TensorDict
    return {"shapes": shapes, "rows": rows,
            "request_ids": request_ids,
            "servers": {s.name: s.calls for s in servers}}


def logprob_error(model: Any, output: Any) -> float:
    """Largest gap between the batch's log-probs and a fresh forward pass, on model tokens."""
    batch, worst = output.batch, 0.0
    width = batch["prompts"].shape[1]
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                       position_ids=batch["position_ids"]).logits.float()
    fresh = torch.log_softmax(logits[:, width - 1:-1], -1).gather(
        -1, batch["responses"][..., None])[..., 0]
    mask = batch["response_mask"].bool()
    worst = float((fresh - batch["rollout_log_probs"]).abs()[mask].max())
    return worst


def train_step(model: Any, output: Any, config: Any) -> dict[str, Any]:
    """verl's GRPO advantages and PPO policy loss on the batch; an AdamW step on the HF
    model stands in for verl's FSDP engine worker (which needs a GPU)."""
    from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage, get_policy_loss_fn
    from verl.utils.config import omega_conf_to_dataclass

    batch = output.batch
    mask, width = batch["response_mask"].float(), batch["prompts"].shape[1]
    advantages, _ = compute_grpo_outcome_advantage(
        token_level_rewards=batch["rm_scores"], response_mask=mask,
        index=output.non_tensor_batch["index"])
    model.train()
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                   position_ids=batch["position_ids"]).logits.float()
    log_prob = torch.log_softmax(logits[:, width - 1:-1], -1).gather(
        -1, batch["responses"][..., None])[..., 0]
    actor = omega_conf_to_dataclass(config.actor_rollout_ref.actor)
    loss, _metrics = get_policy_loss_fn("vanilla")(
        old_log_prob=batch["rollout_log_probs"], log_prob=log_prob, advantages=advantages,
        response_mask=mask, loss_agg_mode="token-mean", config=actor)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss.backward()
    optimizer.step()
    changed = sum(int(not torch.equal(a, p.detach())) for a, p in zip(before, model.parameters(),
                                                                      strict=True))
    return {"loss": float(loss.detach()), "changed": changed, "params": len(before),
            "advantages": advantages[mask.bool()].unique().tolist()}


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def main(work: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from webresearch.integrations.verl import write_agent_loop_yaml, write_verl_dataset
    from webresearch.policies.tiny import build_tiny_model

    torch.set_num_threads(1)
    torch.manual_seed(0)
    build_tiny_model(work / "tiny")
    tokenizer = AutoTokenizer.from_pretrained(work / "tiny")
    model = AutoModelForCausalLM.from_pretrained(work / "tiny", dtype=torch.float32).eval()
    (work / "tasks.jsonl").write_text("".join(json.dumps(t) + "\n" for t in TASKS))
    from webresearch.envs.config import EnvConfig
    write_verl_dataset(work / "train.parquet", config=EnvConfig(tasks=work / "tasks.jsonl"))
    result: dict[str, Any] = {}
    scripted = lambda: [ScriptedServer("s0", tokenizer), ScriptedServer("s1", tokenizer)]  # noqa: E731
    sampled = lambda: [ModelServer("s0", tokenizer, model), ModelServer("s1", tokenizer, model)]  # noqa: E731
    for name, length, turn_tokens, make in (("full", 1024, None, scripted),
                                            ("cut", int(sys.argv[2]), None, scripted),
                                            ("model", int(sys.argv[3]), int(sys.argv[4]), sampled)):
        write_agent_loop_yaml(work / "agent.yaml", ENV, max_turn_tokens=turn_tokens)
        servers = make()
        config = compose(work, length)
        output, request_ids = asyncio.run(rollout(config, servers))
        result[name] = summary(output, request_ids, servers)
    result["model"]["logprob_error"] = logprob_error(model, output)
    result["model"]["step"] = train_step(model, output, config)
    result["script_ids"] = [tokenizer.encode(s, add_special_tokens=False) for s in SCRIPT]
    result["eos"] = tokenizer.eos_token_id
    print("RESULT", json.dumps(result), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main(Path(sys.argv[1]))
