"""Behaviour cloning: demonstrations laid out exactly as the rollout lays out a policy's episode,
the loss on the policy's tokens only, and it learns."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError, WebResearchError
from webresearch.policies.policy import Completion, Policy, PromptLike, SamplingParams, as_prompt
from webresearch.policies.scripted import OraclePolicy, ScriptedPolicy
from webresearch.replay.schema import EpisodeRecord, RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.rollout.episode import run_episode
from webresearch.train.compact import CompactFormat
from webresearch.train.demos import demo_policy, record_demos
from webresearch.train.sft import SFTConfig, SFTExample, SFTTrainer, demo_tokens, sft_examples

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


class Tokenized(Policy):
    """A scripted policy that returns its text's token ids, as a model sampling it would."""

    def __init__(self, script: ScriptedPolicy, tokenizer: Any) -> None:
        self.script, self.tokenizer = script, tokenizer

    async def generate(self, prompts: Sequence[PromptLike],
                       sampling: SamplingParams | None = None) -> list[Completion]:
        texts = [self.script.act(as_prompt(p).messages) for p in prompts]
        return [Completion(t, tuple(self.tokenizer.encode(t, add_special_tokens=False)))
                for t in texts]


def compact_env(tasks: Sequence[Any]) -> WebResearchEnv:
    return WebResearchEnv(tasks=list(tasks), action_format=CompactFormat(), top_k=1,
                          max_turns=4, date="2026-01-01")


@pytest.fixture(scope="module")
def tokenizer(tiny_model: Path) -> Any:
    return transformers.AutoTokenizer.from_pretrained(tiny_model)


def test_a_demonstration_has_the_token_layout_of_a_rollout(tokenizer: Any) -> None:
    tasks = WebResearchEnv().tasks[:6]
    oracle = OraclePolicy(tasks, CompactFormat())
    for task in tasks:
        env = compact_env(tasks)
        sampled = asyncio.run(run_episode(env, Tokenized(oracle, tokenizer), task))
        scripted = asyncio.run(run_episode(env, oracle, task))
        assert scripted.token_ids is None and len(scripted.steps) == len(sampled.steps) > 1
        example = demo_tokens(scripted, tokenizer)
        assert example.ids == sampled.token_ids
        assert example.mask == sampled.loss_mask
        env.close()


def test_the_mask_covers_exactly_the_actions(tokenizer: Any) -> None:
    task = WebResearchEnv().tasks[0]
    episode = asyncio.run(run_episode(compact_env([task]), OraclePolicy([task], CompactFormat()),
                                      task))
    example = demo_tokens(episode, tokenizer)
    policy_text = tokenizer.decode([i for i, m in zip(example.ids, example.mask, strict=True)
                                    if m])
    assert policy_text == "".join(step.action for step in episode.steps)
    context = tokenizer.decode([i for i, m in zip(example.ids, example.mask, strict=True)
                                if not m])
    assert episode.steps[0].observation in context and task.question in context


def test_examples_are_read_back_from_the_store_without_broken_episodes(
        tokenizer: Any, tmp_path: Path) -> None:
    tasks = WebResearchEnv().tasks[:8]
    with ReplayStore(tmp_path) as store:
        run = asyncio.run(record_demos(store, lambda: compact_env(tasks),
                                       demo_policy(tasks, CompactFormat()), tasks))
        broken = EpisodeRecord(run.run_id, tasks[0], 0, "timeout", 0.0, 0.0, 0.0,
                               error="too slow")
        store.append([broken])
        examples = sft_examples(store, run.run_id, tokenizer)
        assert len(examples) == 8 and broken.episode_id not in {e.episode_id for e in examples}
        cap = sorted(len(e.ids) for e in examples)[3]
        short = sft_examples(store, run.run_id, tokenizer, max_tokens=cap)
        assert 4 <= len(short) < 8 and all(len(e.ids) <= cap for e in short)
        store.create_run(RunRecord(run_id="empty"))
        with pytest.raises(WebResearchError, match=re.escape("Expects scored episodes in run "
                                                             "'empty', actual: none")):
            sft_examples(store, "empty", tokenizer)


def test_cloning_learns_the_demonstrations(tiny_model: Path) -> None:
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_model)
    ids = tuple(range(10, 40))
    example = SFTExample(ids, (0,) * 10 + (1,) * 20)
    trainer = SFTTrainer(model, SFTConfig(lr=1e-2, warmup_steps=1, batch_size=2,
                                          total_steps=30))
    logs = trainer.fit([example, example], steps=30)
    assert len(logs) == 30 and logs[-1].loss < logs[0].loss / 4, [m.loss for m in logs]
    assert logs[0].tokens == 2 * 20  # the prompt's tokens carry no loss


def test_the_loss_ignores_context_tokens(tiny_model: Path) -> None:
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_model)
    trainer = SFTTrainer(model, SFTConfig(micro_batch_tokens=40))
    a = SFTExample(tuple(range(10, 30)), (0,) * 15 + (1,) * 5)
    b = SFTExample(tuple(range(50, 60)) + tuple(range(25, 30)), (0,) * 10 + (1,) * 5)
    assert trainer.step([a]).loss == pytest.approx(trainer.step([b]).loss, abs=0.5)
    with pytest.raises(WebResearchError, match=re.escape("Expects examples with policy tokens")):
        trainer.step([SFTExample((1, 2, 3), (0, 0, 0))])


@pytest.mark.parametrize(("field", "value"), [("batch_size", 0), ("total_steps", 0),
                                              ("micro_batch_tokens", 0), ("lr", 0.0)],
                         ids=["batch", "steps", "micro", "lr"])
def test_bad_configs_are_refused(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"Expects {field}")):
        SFTConfig(**{field: value})


def test_micro_batches_accumulate_to_the_same_gradient(tiny_model: Path) -> None:
    examples = [SFTExample(tuple(range(5 + i, 25 + 2 * i)), (0,) * 5 + (1,) * (15 + i))
                for i in range(4)]
    grads = []
    for budget in (10_000, 30):
        torch.manual_seed(0)
        model = transformers.AutoModelForCausalLM.from_pretrained(tiny_model)
        trainer = SFTTrainer(model, SFTConfig(micro_batch_tokens=budget, max_grad_norm=1e9))
        trainer.model.train()
        tokens = sum(sum(e.mask[1:]) for e in examples)
        for part in [examples] if budget > 1000 else [[e] for e in examples]:
            trainer._micro_step(part, tokens)
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()
                                if p.grad is not None]))
    assert torch.allclose(grads[0], grads[1], atol=1e-5)
