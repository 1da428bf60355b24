"""model.*, optim.* and io.save_model nodes, with tiny models."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from nodeloom.engine import REGISTRY, NodeError, discover
from nodeloom.engine import types as T
from nodeloom.engine.codecs import codec_for
from tests.support.tiny_models import (
    TINY_BERT_CLASSIFIER,
    TINY_GPT,
    classification_dataset,
    context,
    run_node,
)


def test_from_config_gpt2_takes_vocabulary_and_special_tokens_from_the_tokenizer(ctx, tokenizer):
    model = run_node("model.from_config", ctx, {"tokenizer": tokenizer}, **TINY_GPT, dropout=0.2)["model"]
    assert type(model).__name__ == "GPT2LMHeadModel"
    assert model.config.vocab_size == len(tokenizer)
    assert model.config.n_layer == 2 and model.config.n_embd == 32 and model.config.resid_pdrop == 0.2
    assert (model.config.pad_token_id, model.config.eos_token_id) == (tokenizer.pad_token_id, tokenizer.eos_token_id)
    logits = model(**tokenizer(["hello there"], return_tensors="pt")).logits
    assert logits.shape[-1] == len(tokenizer)


def test_from_config_is_reproducible_for_a_seed(tmp_path, tokenizer):
    first = run_node("model.from_config", context(tmp_path, seed=1), {"tokenizer": tokenizer}, **TINY_GPT)["model"]
    again = run_node("model.from_config", context(tmp_path, seed=1), {"tokenizer": tokenizer}, **TINY_GPT)["model"]
    other = run_node("model.from_config", context(tmp_path, seed=2), {"tokenizer": tokenizer}, **TINY_GPT)["model"]
    weight = "transformer.h.0.attn.c_attn.weight"
    assert torch.equal(first.state_dict()[weight], again.state_dict()[weight])
    assert not torch.equal(first.state_dict()[weight], other.state_dict()[weight])


def test_from_config_bert_classifier_counts_classes_from_the_data(ctx, tokenizer):
    data = classification_dataset(tokenizer)
    inputs = {"tokenizer": tokenizer, "dataset": data}
    model = run_node("model.from_config", ctx, inputs, **TINY_BERT_CLASSIFIER)["model"]
    assert type(model).__name__ == "BertForSequenceClassification"
    assert model.config.num_labels == 2 and model.config.hidden_size == 32 and model.config.num_hidden_layers == 2


def test_classes_are_counted_from_a_dataset_in_any_format(ctx, tokenizer):
    for data_format in ("numpy", "torch", "pandas"):
        data = classification_dataset(tokenizer).with_format(data_format)
        inputs = {"tokenizer": tokenizer, "dataset": data}
        model = run_node("model.from_config", ctx, inputs, **TINY_BERT_CLASSIFIER)["model"]
        assert model.config.num_labels == 2, data_format


def test_from_config_rejects_bad_shapes_and_missing_vocabulary(ctx):
    params = discover().get("model.from_config").params
    with pytest.raises(ValidationError, match="multiple of n_head"):
        params.model_validate({"n_embd": 30, "n_head": 4})
    with pytest.raises(ValidationError, match="encoder"):
        params.model_validate({"architecture": "bert", "task": "causal_lm"})
    with pytest.raises(NodeError, match="connect a tokenizer"):
        run_node("model.from_config", ctx, {}, **TINY_GPT)
    with pytest.raises(NodeError, match="num_labels"):
        run_node("model.from_config", ctx, {}, **TINY_GPT, task="classification", vocab_size=100)


def test_load_pretrained_bundled_minilm_as_a_classifier(ctx, tokenizer):
    model = run_node(
        "model.load_pretrained",
        ctx,
        {"dataset": classification_dataset(tokenizer)},
        name_or_path="bundled:minilm",
        task="classification",
    )["model"]
    assert type(model).__name__ == "BertForSequenceClassification"
    assert model.config.num_labels == 2
    assert model.num_parameters() > 20_000_000  # the real pretrained encoder, not a fresh toy


def test_load_pretrained_offline_hub_name_fails_clearly(ctx):
    with pytest.raises(NodeError, match=r"'gpt2' is not a local folder and the Hugging Face Hub is offline"):
        run_node("model.load_pretrained", ctx, {}, name_or_path="gpt2", task="causal_lm")


def test_load_pretrained_unknown_bundled_name_and_pickled_weights_fail_clearly(ctx, tokenizer, tmp_path):
    with pytest.raises(NodeError, match="unknown bundled model 'bundled:nope'"):
        run_node("model.load_pretrained", ctx, {}, name_or_path="bundled:nope", task="causal_lm")
    # a folder whose weights are a pickle (pytorch_model.bin) must not be loaded
    model = run_node("model.from_config", ctx, {"tokenizer": tokenizer}, **TINY_GPT)["model"]
    folder = tmp_path / "pickled"
    model.config.save_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    with pytest.raises(NodeError, match="safetensors"):
        run_node("model.load_pretrained", ctx, {}, name_or_path=str(folder), task="causal_lm")


def test_load_pretrained_local_folder_round_trip(ctx, tokenizer, tmp_path):
    model = run_node("model.from_config", ctx, {"tokenizer": tokenizer}, **TINY_GPT)["model"]
    model.save_pretrained(tmp_path / "saved")
    loaded = run_node("model.load_pretrained", ctx, {}, name_or_path=str(tmp_path / "saved"), task="causal_lm")["model"]
    batch = tokenizer(["where is my order"], return_tensors="pt")
    assert torch.allclose(model.eval()(**batch).logits, loaded.eval()(**batch).logits)


def test_from_config_pretrained_switch_loads_weights_and_checks_the_tokenizer(ctx, tokenizer, tmp_path):
    model = run_node("model.from_config", ctx, {"tokenizer": tokenizer}, **TINY_GPT)["model"]
    model.save_pretrained(tmp_path / "saved")
    # the size settings are ignored: the weights (and shape) come from the folder
    loaded = run_node(
        "model.from_config", ctx, {"tokenizer": tokenizer}, pretrained=str(tmp_path / "saved"), n_layer=6, dropout=0.3
    )["model"]
    assert loaded.config.n_layer == 2 and loaded.config.resid_pdrop == 0.3
    batch = tokenizer(["where is my order"], return_tensors="pt")
    assert torch.allclose(model.eval()(**batch).logits, loaded.eval()(**batch).logits)
    bigger = copy.deepcopy(tokenizer)
    bigger.add_tokens(["<order-id>", "<tracking-id>"])
    with pytest.raises(NodeError, match=r"connected tokenizer has .* tokens but pretrained model .* knows only"):
        run_node("model.from_config", ctx, {"tokenizer": bigger}, pretrained=str(tmp_path / "saved"))
    with pytest.raises(
        NodeError, match=r"parameter 'pretrained': 'gpt2' is not a local folder and the Hugging Face Hub is offline"
    ):
        run_node("model.from_config", ctx, {"tokenizer": tokenizer}, pretrained="gpt2")


def test_lora_wraps_a_copy_and_survives_the_cache_codec(ctx, tokenizer, tmp_path):
    base = run_node("model.from_config", ctx, {"tokenizer": tokenizer}, **TINY_GPT)["model"]
    lora = run_node("model.lora", ctx, {"model": base}, r=4, alpha=8)["model"]
    trainable, total = lora.get_nb_trainable_parameters()
    assert 0 < trainable < total / 5
    assert not any("lora_" in name for name, _ in base.named_parameters())  # the input was left alone
    with torch.no_grad():  # give the adapter non-zero weights so the round trip is meaningful
        for name, parameter in lora.named_parameters():
            if "lora_B" in name:
                parameter.normal_()
    codec = codec_for(T.MODEL)
    (tmp_path / "cached").mkdir()
    meta = codec.save(lora, tmp_path / "cached")
    assert not list((tmp_path / "cached").rglob("*.bin"))  # safetensors only
    restored = codec.load(tmp_path / "cached", meta)
    assert restored.get_nb_trainable_parameters() == (trainable, total)  # still trainable after a reload
    batch = tokenizer(["can I get a refund"], return_tensors="pt")
    assert torch.allclose(lora.eval()(**batch).logits, restored.eval()(**batch).logits, atol=1e-5)


def test_lora_bad_target_modules_is_a_node_error(ctx, tokenizer):
    base = run_node("model.from_config", ctx, {"tokenizer": tokenizer}, **TINY_GPT)["model"]
    with pytest.raises(NodeError, match="target_modules"):
        run_node("model.lora", ctx, {"model": base}, target_modules=["no_such_module"])


def test_optim_nodes_emit_validated_json_specs(ctx):
    spec = run_node("optim.optimizer", ctx, {}, name="sgd", lr=0.1, momentum=0.9)["optimizer"]
    assert spec["name"] == "sgd" and spec["lr"] == 0.1 and spec["momentum"] == 0.9
    json.dumps(spec)  # plain JSON travels on the port
    schedule = run_node("optim.lr_schedule", ctx, {}, name="cosine", warmup_ratio=0.1)["schedule"]
    assert schedule["name"] == "cosine" and schedule["warmup_ratio"] == 0.1
    regularization = run_node("optim.regularization", ctx, {}, dropout=0.3, early_stopping_patience=2)["regularization"]
    assert regularization["dropout"] == 0.3 and regularization["max_grad_norm"] == 1.0
    optimizer_params = discover().get("optim.optimizer").params
    with pytest.raises(ValidationError):
        optimizer_params.model_validate({"name": "lion"})
    with pytest.raises(ValidationError, match="nesterov"):
        optimizer_params.model_validate({"name": "sgd", "nesterov": True})


def test_save_model_writes_safetensors_tokenizer_and_a_card_with_metrics(ctx, tokenizer, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = run_node("model.from_config", ctx, {"tokenizer": tokenizer}, **TINY_GPT)["model"]
    folder = tmp_path / "export"
    out = run_node(
        "io.save_model",
        ctx,
        {"model": model, "tokenizer": tokenizer, "metrics": {"eval_loss": 1.25, "steps": 7}},
        path=str(folder),
    )
    assert Path(out["path"]) == folder.resolve()
    assert (folder / "model.safetensors").is_file() and not list(folder.glob("*.bin"))
    card = (folder / "README.md").read_text()
    assert "| eval_loss | 1.25 |" in card and "| steps | 7 |" in card and "GPT2LMHeadModel" in card
    reloaded = AutoModelForCausalLM.from_pretrained(folder, use_safetensors=True)
    assert len(AutoTokenizer.from_pretrained(folder)) == len(tokenizer)
    assert torch.equal(reloaded.state_dict()["lm_head.weight"], model.state_dict()["lm_head.weight"])
    with pytest.raises(NodeError, match="'path' is empty"):
        run_node("io.save_model", ctx, {"model": model})


def test_save_model_merges_lora_into_a_plain_model(ctx, tokenizer, tmp_path):
    from transformers import AutoModelForCausalLM

    base = run_node("model.from_config", ctx, {"tokenizer": tokenizer}, **TINY_GPT)["model"]
    lora = run_node("model.lora", ctx, {"model": base}, r=4)["model"]
    with torch.no_grad():
        for name, parameter in lora.named_parameters():
            if "lora_B" in name:
                parameter.normal_()
    before = copy.deepcopy(lora.state_dict())
    run_node("io.save_model", ctx, {"model": lora}, path=str(tmp_path / "merged"))
    assert all(torch.equal(before[name], value) for name, value in lora.state_dict().items())  # input unchanged
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged", use_safetensors=True)
    batch = tokenizer(["do you ship abroad"], return_tensors="pt")
    assert torch.allclose(lora.eval()(**batch).logits, merged.eval()(**batch).logits, atol=1e-4)


def test_every_model_node_is_registered_with_help():
    discover()
    for type_id in (
        "model.load_pretrained",
        "model.from_config",
        "model.lora",
        "optim.optimizer",
        "optim.lr_schedule",
        "optim.regularization",
        "train.trainer",
        "infer.generate",
        "infer.classify",
        "io.save_model",
    ):
        node_type = REGISTRY.get(type_id)
        assert node_type is not None and node_type.summary_line, type_id
