"""train.trainer's FSDP and DeepSpeed parameters: the TrainingArguments they become, and the runs they refuse.

accelerate shards only across CUDA GPUs started by a launcher (on CPU the Trainer trains with plain DDP whatever
`fsdp` says), and DeepSpeed is not installed here: what is checked is what the Trainer is handed and what the
node refuses, not a sharded run itself."""

from __future__ import annotations

import importlib.util
import json

import pytest

from nodeloom.engine import NodeError
from nodeloom.engine.cache import node_key
from nodeloom.engine.node import discover
from nodeloom.engine.validation import file_problems, param_problems
from nodeloom.nodes.memory import MemoryNeed
from nodeloom.nodes.sharding import (
    check_sharding,
    deepspeed_errors,
    deepspeed_settings,
    per_process_need,
    sharding_arguments,
)
from tests.support.tiny_models import TINY_BERT_CLASSIFIER, TINY_GPT, causal_dataset, context, run_node

LAUNCHED = {"LOCAL_RANK": "0", "RANK": "0", "WORLD_SIZE": "2"}


def tiny_model(tmp_path, tokenizer, **config):
    return run_node("model.from_config", context(tmp_path), {"tokenizer": tokenizer}, **config)["model"]


@pytest.mark.parametrize("strategy, reshard", [("full_shard", True), ("shard_grad_op", False)])
def test_fsdp_becomes_an_fsdp2_plugin_that_wraps_each_transformer_block(tmp_path, tokenizer, strategy, reshard):
    from accelerate.utils import FullyShardedDataParallelPlugin
    from accelerate.utils.fsdp_utils import fsdp2_prepare_auto_wrap_policy
    from transformers import TrainingArguments

    args = TrainingArguments(
        output_dir=str(tmp_path / "out"), use_cpu=True, report_to="none", **sharding_arguments(strategy, None)
    )
    assert args.fsdp_plugin_args["fsdp_version"] == 2
    assert args.fsdp_plugin_args["reshard_after_forward"] is reshard
    plugin = FullyShardedDataParallelPlugin(**args.fsdp_plugin_args)  # what the Trainer builds from them
    # no layer class is given: the wrap policy falls back to each model's own _no_split_modules
    for config, blocks in (
        (TINY_GPT, {"GPT2Block"}),
        (TINY_BERT_CLASSIFIER | {"num_labels": 2}, {"BertLayer", "BertEmbeddings"}),
    ):
        model = tiny_model(tmp_path, tokenizer, **config)
        wraps = fsdp2_prepare_auto_wrap_policy(plugin, model)
        assert {type(module).__name__ for module in model.modules() if wraps(module)} == blocks


def test_no_sharding_leaves_the_trainer_on_plain_ddp(tmp_path):
    from transformers import TrainingArguments

    assert sharding_arguments("off", None) == {}
    args = TrainingArguments(
        output_dir=str(tmp_path), use_cpu=True, report_to="none", **sharding_arguments("off", None)
    )
    assert args.fsdp_plugin_args is None and not args.deepspeed


def test_a_deepspeed_config_is_handed_over_as_a_copy():
    settings = {"zero_optimization": {"stage": 2}, "train_micro_batch_size_per_gpu": "auto"}
    handed = sharding_arguments("off", settings)["deepspeed"]
    assert handed == settings
    handed["train_micro_batch_size_per_gpu"] = 8  # the Trainer fills "auto" values in place
    assert settings["train_micro_batch_size_per_gpu"] == "auto"


@pytest.mark.parametrize(
    "fsdp, deepspeed, device, environ, expected",
    [
        (
            "full_shard",
            "",
            "cpu",
            LAUNCHED,
            "parameter 'fsdp': FSDP shards across CUDA GPUs only and this run is on cpu",
        ),
        ("shard_grad_op", "", "mps", LAUNCHED, "parameter 'fsdp': FSDP shards across CUDA GPUs only"),
        ("off", "ds.json", "cpu", LAUNCHED, "parameter 'deepspeed_config': DeepSpeed shards across CUDA GPUs only"),
        ("full_shard", "", "cuda", {}, "parameter 'fsdp': FSDP needs a run started by a launcher"),
        ("off", "ds.json", "cuda", {"LOCAL_RANK": "-1"}, "parameter 'deepspeed_config': DeepSpeed needs a run started"),
    ],
)
def test_a_run_the_trainer_would_not_shard_is_refused_in_one_line(fsdp, deepspeed, device, environ, expected):
    with pytest.raises(NodeError) as raised:
        check_sharding(fsdp, deepspeed, device, environ)
    message = str(raised.value)
    assert message.startswith(f"train.trainer: {expected}") and "\n" not in message
    assert "--processes N" in message  # the fix: a launched run, or the parameter off
    assert ("set fsdp to off" if fsdp != "off" else "clear deepspeed_config") in message


def test_plain_and_launched_gpu_runs_pass():
    check_sharding("off", "", "cpu", {})  # no sharding asked: nothing to check, wherever it runs
    check_sharding("full_shard", "", "cuda", LAUNCHED)
    check_sharding("shard_grad_op", "", "cuda", {"LOCAL_RANK": "0", "WORLD_SIZE": "1"})  # torchrun with one GPU


@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is not None, reason="DeepSpeed is installed here")
def test_deepspeed_not_installed_is_named_with_the_fix():
    with pytest.raises(NodeError, match=r"parameter 'deepspeed_config': DeepSpeed is not installed; pip install"):
        check_sharding("off", "ds.json", "cuda", LAUNCHED)


def test_the_node_refuses_fsdp_on_cpu_before_training(tmp_path, tokenizer):
    model = tiny_model(tmp_path, tokenizer, **TINY_GPT)
    inputs = {"model": model, "train": causal_dataset(tokenizer, block_size=16)}
    with pytest.raises(NodeError, match="parameter 'fsdp': FSDP shards across CUDA GPUs only"):
        run_node("train.trainer", context(tmp_path), inputs, max_steps=1, save_steps=0, fsdp="full_shard")
    assert not (tmp_path / "work" / "checkpoints").exists()


def test_fsdp_and_deepspeed_together_are_refused_by_validation():
    problems = param_problems(discover().get("train.trainer"), {"fsdp": "full_shard", "deepspeed_config": "x"}, "t")
    assert problems and all("fsdp and deepspeed_config cannot both be set" in p.message for p in problems)
    assert not param_problems(discover().get("train.trainer"), {"fsdp": "full_shard"}, "t")


def test_the_deepspeed_config_file_is_checked_by_validation_and_part_of_the_cache_key(tmp_path):
    trainer = discover().get("train.trainer")
    refused = file_problems(trainer, {"deepspeed_config": "/dev/zero"}, "train")
    assert len(refused) == 1 and "parameter 'deepspeed_config'" in refused[0].message
    config = tmp_path / "ds.json"
    config.write_text(json.dumps({"zero_optimization": {"stage": 2}}))
    params = trainer.params.model_validate({"deepspeed_config": str(config)}).model_dump(mode="json")
    assert not file_problems(trainer, params, "train")
    before = node_key(trainer, params, {}, 0)
    config.write_text(json.dumps({"zero_optimization": {"stage": 1}}))
    assert node_key(trainer, params, {}, 0) != before  # an edited config trains anew


def test_deepspeed_settings_are_read_and_bad_files_named(tmp_path):
    config = tmp_path / "ds.json"
    good = {"zero_optimization": {"stage": 3, "stage3_gather_16bit_weights_on_model_save": True}}
    config.write_text(json.dumps(good))
    assert deepspeed_settings(str(config)) == good
    for text, expected in [
        ("{not json", "is not readable JSON"),
        ("[1, 2]", "holds list, not a JSON object"),
        (json.dumps({"zero_optimization": {"stage": 3}}), 'set "zero_optimization": {"stage3_gather_16bit'),
    ]:
        config.write_text(text)
        with pytest.raises(NodeError, match=expected) as raised:
            deepspeed_settings(str(config))
        assert str(raised.value).startswith("train.trainer: parameter 'deepspeed_config'")
    with pytest.raises(NodeError, match="does not exist; give a DeepSpeed JSON config file"):
        deepspeed_settings(str(tmp_path / "missing.json"))
    with pytest.raises(NodeError, match="is a folder"):
        deepspeed_settings(str(tmp_path))
    config.write_text(" " * (1 << 20) + "{}")
    with pytest.raises(NodeError, match="is over 1 MiB"):
        deepspeed_settings(str(config))


def test_the_trainers_refusal_of_a_deepspeed_config_is_one_line():
    mismatch = ValueError(
        "Please correct the following DeepSpeed config values that mismatch TrainingArguments values:\n"
        "- ds train_micro_batch_size_per_gpu=4 vs hf per_device_train_batch_size=8\n"
        "The easiest method is to set these DeepSpeed config values to 'auto'."
    )
    with pytest.raises(NodeError) as raised, deepspeed_errors("ds.json"):
        raise mismatch
    message = str(raised.value)
    assert "\n" not in message and message.startswith("train.trainer: parameter 'deepspeed_config': ")
    assert "train_micro_batch_size_per_gpu=4 vs hf per_device_train_batch_size=8" in message and "'auto'" in message
    with pytest.raises(ValueError, match="unrelated"), deepspeed_errors("ds.json"):
        raise ValueError("unrelated")
    with pytest.raises(ValueError, match="DeepSpeed"), deepspeed_errors(""):
        raise ValueError("DeepSpeed, but no config was given")


def test_fsdp_splits_the_memory_each_process_needs():
    need = MemoryNeed(weights=800, gradients=800, optimizer=1600, activations=100)
    assert per_process_need(need, "off", 4) == need
    assert per_process_need(need, "full_shard", 1) == need
    assert per_process_need(need, "full_shard", 4) == MemoryNeed(200, 200, 400, 100)
    assert per_process_need(need, "shard_grad_op", 4) == MemoryNeed(800, 200, 400, 100)  # weights stay gathered
