"""Our GRPO loss and its gradient against TRL 1.16's ``GRPOTrainer._compute_loss``, to 1e-5."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from webresearch.train import GRPOConfig, GRPOLearner, LossConfig, grpo_loss

trl = pytest.importorskip("trl")
torch = pytest.importorskip("torch")
TOLERANCE = 1e-5
B, P, C = 4, 6, 9  # sequences, prompt tokens, completion tokens


def trl_trainer(model: object, tokenizer: object, tmp_path: Path, *, loss_type: str,
                beta: float, correction: bool = False) -> object:
    from datasets import Dataset
    from trl import GRPOConfig as TRLConfig
    from trl import GRPOTrainer

    args = TRLConfig(output_dir=str(tmp_path), per_device_train_batch_size=B, num_generations=2,
                     max_completion_length=C, beta=beta, epsilon=0.2, epsilon_high=0.28,
                     loss_type=loss_type, report_to="none", use_cpu=True, temperature=1.0,
                     bf16=False, fp16=False, use_bias_correction_kl=correction)
    trainer = GRPOTrainer(model=model, reward_funcs=lambda completions, **_: [0.0] * len(
        completions), args=args, train_dataset=Dataset.from_dict({"prompt": ["q"] * B}),
        processing_class=tokenizer)
    trainer.current_gradient_accumulation_steps = 1
    return trainer


def batch() -> dict[str, object]:
    generator = torch.Generator().manual_seed(0)
    prompt = torch.randint(10, 500, (B, P), generator=generator)
    completion = torch.randint(10, 500, (B, C), generator=generator)
    mask = torch.ones(B, C, dtype=torch.long)
    for row, length in enumerate((9, 7, 4, 8)):  # ragged completions, padded on the right
        mask[row, length:] = 0
    return {"prompt_ids": prompt, "prompt_mask": torch.ones(B, P, dtype=torch.long),
            "completion_ids": completion, "completion_mask": mask,
            "advantages": torch.tensor([1.2, -0.7, 0.3, -1.5]),
            "noise": torch.randn(B, C, generator=generator) * 0.3,
            "ref_noise": torch.randn(B, C, generator=generator) * 0.2}


def grads(model: object) -> list[object]:
    return [p.grad.detach().clone() for p in model.parameters() if p.grad is not None]


@pytest.mark.parametrize(("beta", "correction"), [(0.0, False), (0.04, False), (0.04, True)],
                         ids=["no-kl", "kl", "kl-bias-corrected"])
@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo", "dapo"])
def test_loss_and_gradient_match_trl(tiny_model: Path, tmp_path: Path, loss_type: str,
                                     beta: float, correction: bool) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    ours_model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    theirs_model = copy.deepcopy(ours_model)
    data = batch()
    mask = data["completion_mask"]
    # Padding as the learner pads (-1, attended to by nobody), as TRL's attention mask does.
    padded = data["completion_ids"].masked_fill(mask == 0, -1)
    ids = torch.cat([data["prompt_ids"], padded], dim=1)  # (B, P + C)

    # Ours: the learner's log-probs over the whole sequence, then the completion part.
    config = GRPOConfig(loss=LossConfig(epsilon=0.2, epsilon_high=0.28, beta=beta,
                                        kl_bias_correction=correction, loss_type=loss_type,
                                        max_completion_length=C))
    learner = GRPOLearner(ours_model, config, ref_model=copy.deepcopy(ours_model))
    logprobs = learner._logprobs(ours_model, ids)[0][:, P - 1:]  # (B, C)
    old = logprobs.detach() + data["noise"]
    ref = logprobs.detach() + data["ref_noise"]
    ours, _ = grpo_loss(logprobs, old, data["advantages"], mask, config.loss,
                        ref_logprobs=ref if beta else None)
    ours.backward()

    # Theirs: TRL's own loss on an identical copy of the model.
    trainer = trl_trainer(theirs_model, tokenizer, tmp_path, loss_type=loss_type, beta=beta,
                          correction=correction)
    inputs = {k: data[k] for k in ("prompt_ids", "prompt_mask", "completion_ids",
                                   "completion_mask", "advantages")}
    inputs.update(old_per_token_logps=old, ref_per_token_logps=ref,
                  num_items_in_batch=mask.sum().float())
    theirs_model.train()
    theirs = trainer._compute_loss(theirs_model, inputs)
    theirs.backward()

    assert abs(ours.item() - theirs.item()) < TOLERANCE, (ours.item(), theirs.item())
    for a, b in zip(grads(ours_model), grads(theirs_model), strict=True):
        assert float((a - b).abs().max()) < TOLERANCE
