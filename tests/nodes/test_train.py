"""train.trainer: learning, specs, regularization, progress events, cancellation, checkpoints and resume."""

from __future__ import annotations

import time

import pytest
import torch

from nodeloom.engine import CancelToken, NodeError
from nodeloom.engine.events import NodeProgress
from nodeloom.nodes.optim import OptimizerParams
from nodeloom.nodes.train import optimizer_class_and_kwargs, pad_examples, trainer_classes
from tests.support.tiny_models import (
    FIXTURES,
    TINY_GPT,
    causal_dataset,
    context,
    run_graph,
    run_node,
)


@pytest.fixture(scope="module")
def blocks(tokenizer):
    return causal_dataset(tokenizer, block_size=16)


@pytest.fixture
def model(tmp_path, tokenizer):
    return run_node("model.from_config", context(tmp_path), {"tokenizer": tokenizer}, **TINY_GPT)["model"]


def train(tmp_path, model, data, events=None, validation=None, seed=0, **params):
    inputs = {"model": model, "train": data} | {
        key: value for key, value in params.items() if key in ("optimizer", "schedule", "regularization")
    }
    if validation is not None:
        inputs["validation"] = validation
    params = {key: value for key, value in params.items() if key not in inputs}
    return run_node("train.trainer", context(tmp_path, seed=seed, events=events), inputs, save_steps=0, **params)


def test_a_few_steps_lower_the_loss_and_stream_progress(tmp_path, model, blocks):
    events: list = []
    before = {name: value.clone() for name, value in model.state_dict().items()}
    out = train(tmp_path, model, blocks, events, validation=blocks, optimizer={"lr": 3e-3}, max_steps=16, batch_size=4)
    losses = [entry["loss"] for entry in out["history"]["steps"]]
    assert len(losses) == 16
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4 - 0.3
    metrics = out["metrics"]
    assert metrics["steps"] == 16 and metrics["train_loss"] > 0
    assert metrics["eval_loss"] < losses[0]
    assert metrics["eval_perplexity"] == pytest.approx(torch.tensor(metrics["eval_loss"]).exp().item())
    assert metrics["train_tokens"] == 16 * 4 * 16  # every block is 16 real tokens
    assert metrics["train_tokens_per_second"] > 0 and metrics["train_runtime"] > 0
    progress = [event.values for event in events if isinstance(event, NodeProgress) and "loss" in event.values]
    assert [values["step"] for values in progress] == list(range(1, 17))
    assert {"loss", "learning_rate", "epoch", "tokens_per_second"} <= set(progress[0])
    assert all(values["tokens_per_second"] > 0 for values in progress)
    assert out["history"]["eval"][-1]["eval_loss"] == pytest.approx(metrics["eval_loss"])
    # the input model is left alone: a cached value may be shared with other nodes
    assert all(torch.equal(value, model.state_dict()[name]) for name, value in before.items())
    assert not torch.equal(out["model"].state_dict()["lm_head.weight"], before["lm_head.weight"])


def test_schedule_spec_shapes_the_learning_rate(tmp_path, model, blocks):
    def rates(schedule, steps=8):
        history = train(
            tmp_path,
            model,
            blocks,
            optimizer={"name": "sgd", "lr": 0.1},
            schedule=schedule,
            max_steps=steps,
            batch_size=2,
        )["history"]
        return [entry["learning_rate"] for entry in history["steps"]]

    warm = rates({"name": "linear", "warmup_steps": 4})
    assert warm[0] < warm[1] < warm[2] and max(warm) == pytest.approx(0.1) and warm[-1] < warm[4]
    assert rates({"name": "constant"}) == [pytest.approx(0.1)] * 8
    restarts = rates({"name": "cosine_with_restarts", "num_cycles": 2}, steps=12)
    # it climbs back up once
    assert any(later > earlier for earlier, later in zip(restarts, restarts[1:], strict=False))


def test_optimizer_specs_become_torch_optimizers():
    adam_class, adam = optimizer_class_and_kwargs(OptimizerParams(name="adam", lr=1e-3, beta2=0.98), "cpu")
    assert adam_class is torch.optim.Adam and adam["betas"] == (0.9, 0.98) and adam["fused"] is True
    sgd_class, sgd = optimizer_class_and_kwargs(OptimizerParams(name="sgd", lr=0.1, momentum=0.9, fused=False), "cpu")
    assert sgd_class is torch.optim.SGD and sgd["momentum"] == 0.9 and sgd["fused"] is False
    adafactor_class, adafactor = optimizer_class_and_kwargs(OptimizerParams(name="adafactor", lr=1e-3), "cpu")
    assert adafactor_class.__name__ == "Adafactor" and adafactor["relative_step"] is False


def test_regularization_dropout_and_weight_decay_exclusions(tmp_path, model, blocks):
    from transformers import TrainingArguments

    out = train(tmp_path, model, blocks, regularization={"dropout": 0.3}, max_steps=1, batch_size=2)
    rates = {module.p for module in out["model"].modules() if isinstance(module, torch.nn.Dropout)}
    assert rates == {0.3} and out["model"].config.resid_pdrop == 0.3
    assert {module.p for module in model.modules() if isinstance(module, torch.nn.Dropout)} == {0.1}

    NodeLoomTrainer, _ = trainer_classes()
    args = TrainingArguments(output_dir=str(tmp_path / "args"), use_cpu=True, report_to="none")
    excluded = NodeLoomTrainer(model=model, args=args, decay_bias_and_norm=False).get_decay_parameter_names(model)
    everything = NodeLoomTrainer(model=model, args=args, decay_bias_and_norm=True).get_decay_parameter_names(model)
    assert "transformer.h.0.attn.c_attn.weight" in excluded
    assert "transformer.h.0.attn.c_attn.bias" not in excluded and "transformer.h.0.ln_1.weight" not in excluded
    assert set(everything) == {name for name, _ in model.named_parameters()}


def test_early_stopping_stops_when_validation_loss_stops_improving(tmp_path, model, blocks):
    # an improvement threshold no loss can meet: the second evaluation already counts as no better
    regularization = {"early_stopping_patience": 1, "early_stopping_threshold": 100.0}
    out = train(
        tmp_path,
        model,
        blocks,
        validation=blocks,
        regularization=regularization,
        max_steps=50,
        eval_steps=1,
        batch_size=2,
    )
    assert out["metrics"]["steps"] == 2
    with pytest.raises(NodeError, match="needs the 'validation' input"):
        train(tmp_path, model, blocks, regularization=regularization, max_steps=5)


def test_bad_inputs_are_node_errors(tmp_path, model, blocks):
    with pytest.raises(NodeError, match="input 'train' has no 'labels' column"):
        train(tmp_path, model, blocks.remove_columns("labels"), max_steps=1)
    with pytest.raises(NodeError, match="fp16 needs a CUDA device"):
        train(tmp_path, model, blocks, max_steps=1, mixed_precision="fp16")
    with pytest.raises(NodeError, match="not a checkpoint folder"):
        train(tmp_path, model, blocks, max_steps=1, resume_from=str(tmp_path))


def test_resume_from_a_checkpoint_continues_the_same_run(tmp_path, model, blocks):
    settings = {"optimizer": {"lr": 3e-3}, "max_steps": 6, "batch_size": 4, "seed": 7}
    ctx = context(tmp_path / "full")
    full = run_node(
        "train.trainer",
        ctx,
        {"model": model, "train": blocks, "optimizer": settings["optimizer"]},
        save_steps=3,
        max_steps=6,
        batch_size=4,
        seed=7,
    )
    checkpoint = ctx.workdir / "checkpoints" / "checkpoint-3"
    assert (checkpoint / "model.safetensors").is_file() and not list(checkpoint.glob("pytorch_model*"))
    resumed = run_node(
        "train.trainer",
        context(tmp_path / "resumed"),
        {"model": model, "train": blocks, "optimizer": settings["optimizer"]},
        resume_from=str(checkpoint),
        save_steps=0,
        max_steps=6,
        batch_size=4,
        seed=7,
    )
    assert [entry["step"] for entry in resumed["history"]["steps"]] == [4, 5, 6]
    for name, value in full["model"].state_dict().items():
        assert torch.allclose(value, resumed["model"].state_dict()[name], atol=1e-5), name
    assert resumed["metrics"]["train_tokens"] == 3 * 4 * 16  # this session's tokens only


def test_cancelling_mid_training_stops_within_a_step(model, blocks):
    FIXTURES.update(model=model, blocks=blocks)
    cancel = CancelToken()
    steps_seen: list[int] = []

    def listener(event):
        if isinstance(event, NodeProgress) and event.node_id == "train" and "step" in event.values:
            steps_seen.append(event.values["step"])
            if event.values["step"] == 3:
                cancel.cancel()

    started = time.perf_counter()
    result = run_graph(
        nodes=[
            {"id": "model", "type": "fixture.model", "params": {"name": "model"}},
            {"id": "blocks", "type": "fixture.tokens", "params": {"name": "blocks"}},
            {"id": "train", "type": "train.trainer", "params": {"max_steps": 10_000, "batch_size": 2, "save_steps": 0}},
        ],
        edges=[{"source": "model", "target": "train"}, {"source": "blocks", "target": "train", "target_port": "train"}],
        listeners=[listener],
        cancel=cancel,
    )
    assert result.nodes["train"].status == "cancelled"
    assert result.status == "cancelled"
    assert steps_seen == [1, 2, 3]  # step 4 started, but its end raised before it was reported
    assert time.perf_counter() - started < 30


def test_pad_examples_pads_each_column_with_its_own_value():
    batch = pad_examples(
        [
            {"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "labels": 1},
            {"input_ids": [8], "attention_mask": [1], "labels": 0},
        ],
        pad_token_id=2,
    )
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 2, 2]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [1, 0]
    token_labels = pad_examples(
        [{"input_ids": [1, 2], "labels": [1, 2]}, {"input_ids": [3], "labels": [3]}], pad_token_id=0
    )
    assert token_labels["labels"].tolist() == [[1, 2], [3, -100]]


def test_training_a_lora_model_updates_only_the_adapter(tmp_path, model, blocks):
    lora = run_node("model.lora", context(tmp_path), {"model": model}, r=4, alpha=8)["model"]
    out = train(tmp_path, lora, blocks, optimizer={"lr": 1e-2}, max_steps=8, batch_size=4)
    trained = out["model"]
    assert hasattr(trained, "peft_config")  # still an adapter on a frozen base
    before, after = lora.state_dict(), trained.state_dict()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and all("lora_" in name for name in changed)
    losses = [entry["loss"] for entry in out["history"]["steps"]]
    assert losses[-1] < losses[0]
