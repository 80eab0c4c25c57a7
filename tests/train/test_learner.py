"""The learner: it learns, accumulation does not change the gradient, checkpoints resume exactly."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest

from webresearch.envs.rewards import Submission
from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError, WebResearchError
from webresearch.policies.policy import SamplingParams
from webresearch.replay.store import ReplayStore
from webresearch.status import EpisodeStatus
from webresearch.train import GRPOConfig, GRPOLearner, LossConfig, TrainConfig, train

torch = pytest.importorskip("torch")
SAMPLING = SamplingParams(temperature=1.0, max_tokens=16, stop=(), seed=0)


def digit_share(submission: Submission, golds: Sequence[str]) -> float:
    response = "\n".join(submission.responses)
    return sum(c.isdigit() for c in response) / max(1, len(response))


def year_tasks() -> list[object]:
    return [t for t in WebResearchEnv().tasks if t.question.startswith("In what year")]


def make_env() -> WebResearchEnv:
    return WebResearchEnv(tasks=year_tasks(), reward=digit_share, max_turns=1)


def rollouts(model_dir: Path, store_dir: Path, *, steps: int, lr: float) -> list[float]:
    from webresearch.policies.hf import HFPolicy

    torch.manual_seed(0)
    policy = HFPolicy(model_dir, max_batch=32)
    learner = GRPOLearner(policy.model, GRPOConfig(lr=lr, micro_batch_size=8))
    with ReplayStore(store_dir) as store:
        logs = asyncio.run(train(policy=policy, learner=learner, make_env=make_env,
                                 tasks=year_tasks(), store=store, config=TrainConfig(
                                     steps=steps, groups_per_step=4, group_size=8,
                                     sampling=SAMPLING)))
        versions = sorted({e.policy_version for e in store.episodes()})
    assert versions == list(range(steps))  # every episode knows the weights that made it
    return [log.metrics.reward for log in logs]


def test_the_tiny_model_learns_on_cpu(tiny_model: Path, tmp_path: Path) -> None:
    rewards = rollouts(tiny_model, tmp_path, steps=16, lr=1e-2)
    first, last = sum(rewards[:3]) / 3, sum(rewards[-3:]) / 3
    assert last > first + 0.05 and last > 2 * first, rewards


def episodes_from(model_dir: Path, store_dir: Path) -> list[list[object]]:
    from webresearch.policies.hf import HFPolicy
    from webresearch.rollout import RolloutConfig, rollout

    policy = HFPolicy(model_dir, max_batch=16)
    config = RolloutConfig(keep_results=True, group_size=4, progress=False, sampling=SAMPLING)
    with ReplayStore(store_dir) as store:
        report = asyncio.run(rollout(make_env, policy, year_tasks()[:2], config, store=store))
    return [report.results[:4], report.results[4:]]


def model_copy(model_dir: Path) -> object:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo"])
def test_micro_batches_accumulate_to_the_full_batch_gradient(tiny_model: Path, tmp_path: Path,
                                                             loss_type: str) -> None:
    groups = episodes_from(tiny_model, tmp_path)
    grads = []
    for micro in (8, 3, 1):
        model = model_copy(tiny_model)
        learner = GRPOLearner(model, GRPOConfig(lr=0.0, micro_batch_size=micro,
                                                loss=LossConfig(loss_type=loss_type)))
        learner.step(groups)  # lr 0: the weights stay; Adam's first moment is 0.1 x gradient
        grads.append(learner_grads(learner))
    for other in grads[1:]:
        assert float((grads[0] - other).abs().max()) < 1e-6


def learner_grads(learner: GRPOLearner) -> object:
    state = learner.optimizer.state
    return torch.cat([state[p]["exp_avg"].flatten() for p in learner.model.parameters()
                      if p in state])


def test_checkpoints_resume_exactly(tiny_model: Path, tmp_path: Path) -> None:
    groups = episodes_from(tiny_model, tmp_path / "store")
    config = GRPOConfig(lr=1e-3, micro_batch_size=4, warmup_steps=2, schedule="cosine",
                        total_steps=10)
    straight = GRPOLearner(model_copy(tiny_model), config)
    for _ in range(4):
        straight.step(groups)
    resumed = GRPOLearner(model_copy(tiny_model), config)
    for _ in range(2):
        resumed.step(groups)
    resumed.save(tmp_path / "ckpt.pt")
    fresh = GRPOLearner(model_copy(tiny_model), config)
    fresh.load(tmp_path / "ckpt.pt")
    for _ in range(2):
        fresh.step(groups)
    assert fresh.step_count == straight.step_count == 4
    for a, b in zip(straight.model.parameters(), fresh.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_stale_groups_are_dropped_and_bad_input_is_refused(tiny_model: Path,
                                                           tmp_path: Path) -> None:
    groups = episodes_from(tiny_model, tmp_path)
    learner = GRPOLearner(model_copy(tiny_model), GRPOConfig(lr=0.0, max_staleness=1))
    learner.policy_version = 1
    assert learner.step(groups).dropped_stale == 0
    learner.policy_version = 5
    with pytest.raises(WebResearchError, match="at most 1 versions old"):
        learner.step(groups)
    with pytest.raises(ConfigError, match="Expects a ref_model when beta != 0"):
        GRPOLearner(model_copy(tiny_model), GRPOConfig(loss=LossConfig(beta=0.1)))
    stripped = [[dataclasses.replace(e, token_ids=None) for e in g] for g in groups]
    with pytest.raises(WebResearchError, match="Expects episodes with token ids"):
        GRPOLearner(model_copy(tiny_model)).step(stripped)


def broken(episode: object, status: EpisodeStatus = EpisodeStatus.POLICY_ERROR) -> object:
    return dataclasses.replace(episode, status=status, reward=None, f1=None, em=None)


def test_a_broken_episode_is_left_out_not_scored_as_zero(tiny_model: Path,
                                                         tmp_path: Path) -> None:
    groups = episodes_from(tiny_model, tmp_path)  # two groups of four
    first, second = groups
    # A group that lost one episode trains on its three others, against their own mean.
    mixed = [[*first[:3], broken(first[3])], second]
    learner = GRPOLearner(model_copy(tiny_model), GRPOConfig(lr=0.0))
    metrics = learner.step(mixed)
    assert metrics.dropped_broken == 1 and metrics.sequences == 7
    # Scored as 0.0 it would have changed the gradient: the three alone give another one.
    alone = GRPOLearner(model_copy(tiny_model), GRPOConfig(lr=0.0))
    alone.step([first[:3], second])
    assert torch.equal(learner_grads(learner), learner_grads(alone))
    # A group left with one scored episode has no baseline: dropped whole.
    lone = [[first[0], *(broken(e, EpisodeStatus.TIMEOUT) for e in first[1:])], second]
    assert GRPOLearner(model_copy(tiny_model)).step(lone).dropped_broken == 4
    # Every episode broken: no step at all, the weights and version stay.
    dead = GRPOLearner(model_copy(tiny_model))
    metrics = dead.step([[broken(e) for e in g] for g in groups])
    assert metrics.sequences == 0 and dead.policy_version == 0
    # Weighed in explicitly: trained on with the reward given for them.
    weighed = GRPOLearner(model_copy(tiny_model), GRPOConfig(lr=0.0, broken_reward=-1.0))
    assert weighed.step(mixed).sequences == 8


def aged(groups: list[list[object]], *versions: int) -> list[list[object]]:
    """The groups with their episodes' policy versions set, one version per group."""
    return [[dataclasses.replace(e, policy_version=v) for e in g]  # type: ignore[type-var]
            for g, v in zip(groups, versions, strict=True)]


def step_grads(model_dir: Path, groups: list[list[object]], version: int,
               **config: object) -> tuple[object, object]:
    """One lr-0 step at learner version ``version``: its metrics and its (unclipped) gradient."""
    learner = GRPOLearner(model_copy(model_dir), GRPOConfig(
        lr=0.0, micro_batch_size=8, max_grad_norm=None, **config))  # type: ignore[arg-type]
    learner.policy_version = version
    return learner.step(groups), learner_grads(learner)  # type: ignore[arg-type]


def test_stale_weight_scales_old_episodes_by_weight_to_the_age(tiny_model: Path,
                                                               tmp_path: Path) -> None:
    groups = episodes_from(tiny_model, tmp_path)
    _, base = step_grads(tiny_model, aged(groups, 0, 0), 0)
    assert float(base.abs().max()) > 0  # type: ignore[attr-defined]
    _, fresh = step_grads(tiny_model, aged(groups, 0, 0), 0, stale_weight=0.5)
    assert torch.allclose(fresh, base, rtol=1e-5, atol=1e-9)  # age 0: weight 0.5 ** 0 = 1
    _, old = step_grads(tiny_model, aged(groups, 0, 0), 2, stale_weight=0.5)
    assert torch.allclose(old, 0.25 * base, rtol=1e-4, atol=1e-9)  # age 2: 0.5 ** 2
    _, mixed = step_grads(tiny_model, aged(groups, 2, 2), 2, stale_weight=0.5)
    assert torch.allclose(mixed, base, rtol=1e-5, atol=1e-9)  # the age counts, not the version


def test_only_the_stale_groups_are_dropped(tiny_model: Path, tmp_path: Path) -> None:
    groups = episodes_from(tiny_model, tmp_path)
    metrics, grads = step_grads(tiny_model, aged(groups, 0, 3), 4, max_staleness=1)
    assert (metrics.dropped_stale, metrics.sequences) == (4, 4)  # type: ignore[attr-defined]
    _, alone = step_grads(tiny_model, aged(groups[1:], 3), 4, max_staleness=1)
    assert torch.allclose(grads, alone, rtol=1e-5, atol=1e-9)  # trained on group 1 alone
    metrics, _ = step_grads(tiny_model, aged(groups, 3, 3), 4, max_staleness=1)
    assert (metrics.dropped_stale, metrics.sequences) == (0, 8)  # age 1 <= 1: kept


def test_lora_trains_only_the_adapters_and_the_policy_sees_them(tiny_model: Path,
                                                                tmp_path: Path) -> None:
    pytest.importorskip("peft")
    from webresearch.policies.hf import HFPolicy
    from webresearch.train import add_lora

    groups = episodes_from(tiny_model, tmp_path)
    policy = HFPolicy(tiny_model)
    frozen = {n: p.detach().clone() for n, p in policy.model.named_parameters()}
    wrapped = add_lora(policy.model, rank=4)
    adapters = {n: p.detach().clone() for n, p in wrapped.named_parameters() if "lora_" in n}
    learner = GRPOLearner(wrapped, GRPOConfig(lr=1e-2, micro_batch_size=8))
    learner.step(groups)
    trained = {n for n, p in wrapped.named_parameters() if p.requires_grad}
    assert trained == set(adapters) and adapters
    # peft renames each wrapped linear layer's weight to ``...base_layer.weight``: compare
    # every base parameter under its original name, the wrapped ones above all.
    base = {n.replace(".base_layer", ""): p for n, p in policy.model.named_parameters()
            if "lora_" not in n}
    assert set(base) == set(frozen)
    changed = [n for n, p in base.items() if not torch.equal(p, frozen[n])]
    assert changed == []  # the base weights are untouched
    moved = [n for n, p in wrapped.named_parameters() if n in adapters
             and not torch.equal(p, adapters[n])]
    assert moved  # the adapters moved
    ids = torch.tensor([groups[0][0].token_ids])
    with torch.no_grad():
        through = policy.model(input_ids=ids).logits
        plain = model_copy(tiny_model)(input_ids=ids).logits  # type: ignore[operator]
    assert not torch.allclose(through, plain)  # the policy samples through the adapters
    after = asyncio.run(policy.generate([[{"role": "user", "content": "q"}]], SAMPLING))
    assert after[0].token_ids
