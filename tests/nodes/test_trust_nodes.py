"""The nodes' side of issue [trust]: saving never destroys the user's files, checkpoints are whole or absent, a
memory guard before building, loading and training, running out of memory as a node failure, upper bounds on
sizes, and data loading that reads only the rows it keeps and caches under NODELOOM_HOME."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from pydantic import ValidationError

from nodeloom.engine import NodeError, discover
from nodeloom.engine.events import NodeFailed
from nodeloom.engine.paths import datasets_cache_folder
from nodeloom.nodes import data, memory
from nodeloom.nodes.checkpoints import INCOMPLETE
from nodeloom.nodes.io import MARKER
from tests.support.tiny_models import (
    FIXTURES,
    TINY_BERT_CLASSIFIER,
    TINY_GPT,
    causal_dataset,
    context,
    qa_dataset,
    run_graph,
    run_node,
)


@pytest.fixture
def tiny_model(ctx, tokenizer):
    return run_node("model.from_config", ctx, {"tokenizer": tokenizer}, **TINY_GPT)["model"]


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def siblings_left(folder: Path) -> list[str]:
    """Staging or retired folders a save left beside `folder`."""
    return [path.name for path in folder.parent.iterdir() if path.name.startswith(f".{folder.name}.")]


# ---------------------------------------------------------------------------------------------
# saving never destroys the user's files


def test_a_folder_with_the_users_files_is_refused_and_left_untouched(ctx, tiny_model, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.md").write_text("my notes")
    (folder / "config.json").write_text('{"mine": true}')
    before = folder_bytes(folder)
    with pytest.raises(NodeError) as refused:
        run_node("io.save_model", ctx, {"model": tiny_model}, path=str(folder))
    message = str(refused.value)
    assert message.startswith("io.save_model: parameter 'path'") and str(folder) in message
    assert "config.json, notes.md" in message and "overwrite" in message and "empty" in message
    assert folder_bytes(folder) == before
    assert siblings_left(folder) == []


def test_overwrite_replaces_a_folder_with_the_users_files(ctx, tiny_model, tokenizer, tmp_path):
    from transformers import AutoModelForCausalLM

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.md").write_text("my notes")
    run_node("io.save_model", ctx, {"model": tiny_model, "tokenizer": tokenizer}, path=str(folder), overwrite=True)
    assert not (folder / "notes.md").exists()
    written = json.loads((folder / MARKER).read_text())["files"]
    assert set(written) == {path.name for path in folder.iterdir()} - {MARKER}
    assert {"model.safetensors", "config.json", "README.md", "tokenizer.json"} <= set(written)
    reloaded = AutoModelForCausalLM.from_pretrained(folder, use_safetensors=True)
    assert torch.equal(reloaded.state_dict()["lm_head.weight"], tiny_model.state_dict()["lm_head.weight"])
    assert siblings_left(folder) == []


def test_a_folder_an_earlier_save_wrote_is_saved_again_until_the_user_adds_a_file(ctx, tiny_model, tmp_path):
    folder = tmp_path / "export"
    run_node("io.save_model", ctx, {"model": tiny_model}, path=str(folder))
    run_node("io.save_model", ctx, {"model": tiny_model}, path=str(folder))  # ours: no overwrite needed
    (folder / "my-eval.txt").write_text("results")
    with pytest.raises(NodeError, match="my-eval.txt"):
        run_node("io.save_model", ctx, {"model": tiny_model}, path=str(folder))
    assert (folder / "my-eval.txt").read_text() == "results"


def test_a_save_that_fails_halfway_leaves_the_earlier_folder_as_it_was(ctx, tiny_model, tmp_path, monkeypatch):
    folder = tmp_path / "export"
    run_node("io.save_model", ctx, {"model": tiny_model}, path=str(folder))
    before = folder_bytes(folder)

    def disk_full(directory, **kwargs):
        (Path(directory) / "model.safetensors").write_bytes(b"half a model")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(type(tiny_model), "save_pretrained", lambda self, directory, **kwargs: disk_full(directory))
    with pytest.raises(NodeError, match="cannot write folder .*No space left on device"):
        run_node("io.save_model", ctx, {"model": tiny_model}, path=str(folder))
    assert folder_bytes(folder) == before
    assert siblings_left(folder) == []


def test_a_save_into_nodeloom_s_own_files_is_refused_when_the_node_runs(ctx, tiny_model, nodeloom_home):
    # validation refuses these first (tests/engine/test_engine_trust.py); the node checks again with the same rule
    (nodeloom_home / "nodeloom.db").write_text("the store")
    with pytest.raises(NodeError, match=r"^io\.save_model: parameter 'path': '.*' would replace NODELOOM_HOME"):
        run_node("io.save_model", ctx, {"model": tiny_model}, path=str(nodeloom_home), overwrite=True)
    runs = nodeloom_home / "runs" / "rows.csv"
    with pytest.raises(NodeError, match=r"^io\.save_dataset: parameter 'path': '.*' is inside NodeLoom's own"):
        run_node("io.save_dataset", ctx, {"dataset": qa_dataset()}, path=str(runs))
    assert [path.name for path in nodeloom_home.iterdir()] == ["nodeloom.db"]
    assert (nodeloom_home / "nodeloom.db").read_text() == "the store"


# ---------------------------------------------------------------------------------------------
# checkpoints are whole or absent


def train_with_checkpoints(ctx, model, tokenizer, **params):
    return run_node(
        "train.trainer",
        ctx,
        {"model": model, "train": causal_dataset(tokenizer)},
        **({"max_steps": 4, "batch_size": 2, "save_steps": 2, "save_total_limit": 1} | params),
    )


def test_checkpoints_are_renamed_into_place_whole_and_rotated(ctx, tiny_model, tokenizer):
    train_with_checkpoints(ctx, tiny_model, tokenizer)
    checkpoints = ctx.workdir / "checkpoints"
    assert sorted(path.name for path in checkpoints.iterdir()) == ["checkpoint-4"]  # no staging folder left
    state = json.loads((checkpoints / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    assert {"model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth"} <= {
        path.name for path in (checkpoints / "checkpoint-4").iterdir()
    }


def test_the_best_checkpoint_is_recorded_where_it_ends_up(ctx, tiny_model, tokenizer):
    data = causal_dataset(tokenizer)
    run_node(
        "train.trainer",
        ctx,
        {"model": tiny_model, "train": data, "validation": data, "regularization": {"early_stopping_patience": 9}},
        max_steps=4,
        batch_size=2,
        eval_steps=2,
    )
    checkpoints = ctx.workdir / "checkpoints"
    for step in (2, 4):
        state = json.loads((checkpoints / f"checkpoint-{step}" / "trainer_state.json").read_text())
        assert state["best_model_checkpoint"].startswith(str(checkpoints / "checkpoint-"))
        assert Path(state["best_model_checkpoint"]).is_dir() and INCOMPLETE not in state["best_model_checkpoint"]


def test_a_save_cut_short_leaves_no_checkpoint_to_resume_from(ctx, tiny_model, tokenizer, monkeypatch):
    from transformers import Trainer

    def killed_while_saving(self, output_dir):
        raise KeyboardInterrupt  # Ctrl-C after the weights and the optimizer, before the random states

    monkeypatch.setattr(Trainer, "_save_rng_state", killed_while_saving)
    with pytest.raises(KeyboardInterrupt):
        train_with_checkpoints(ctx, tiny_model, tokenizer)
    checkpoints = ctx.workdir / "checkpoints"
    assert [path.name for path in checkpoints.iterdir()] == [INCOMPLETE]
    staged = checkpoints / INCOMPLETE / "checkpoint-2"
    assert (staged / "model.safetensors").is_file() and not (staged / "trainer_state.json").exists()
    monkeypatch.undo()
    again = context(ctx.workdir.parent / "again")
    with pytest.raises(NodeError, match=f"is a checkpoint whose save did not finish; pick a .* of {checkpoints}$"):
        train_with_checkpoints(again, tiny_model, tokenizer, resume_from=str(staged))
    # where plain transformers left the same (it writes checkpoint-N in place), trainer_state.json is missing
    in_place = shutil.copytree(staged, ctx.workdir.parent / "plain" / "checkpoint-2")
    with pytest.raises(NodeError, match=r"is not a checkpoint folder \(no trainer_state.json\)"):
        train_with_checkpoints(again, tiny_model, tokenizer, resume_from=str(in_place))
    assert not again.workdir.exists()  # refused before training started


def test_a_checkpoint_written_elsewhere_with_its_state_cut_short_is_refused(ctx, tiny_model, tokenizer, tmp_path):
    train_with_checkpoints(ctx, tiny_model, tokenizer)
    copy = tmp_path / "elsewhere" / "checkpoint-4"
    shutil.copytree(ctx.workdir / "checkpoints" / "checkpoint-4", copy)
    state = (copy / "trainer_state.json").read_text()
    (copy / "trainer_state.json").write_text(state[: len(state) // 2])  # plain transformers killed mid-write
    with pytest.raises(NodeError) as refused:
        train_with_checkpoints(context(tmp_path / "again"), tiny_model, tokenizer, resume_from=str(copy))
    assert str(refused.value) == (
        f"train.trainer: parameter 'resume_from': '{copy}' is an incomplete checkpoint: its trainer_state.json is "
        "cut short or damaged (the save did not finish); pick an earlier checkpoint-N folder"
    )


# ---------------------------------------------------------------------------------------------
# the memory guard


@pytest.mark.parametrize(
    "shape",
    [
        {"architecture": "gpt2", **TINY_GPT},
        {**TINY_BERT_CLASSIFIER, "num_labels": 3},
        {
            "architecture": "gpt2",
            "task": "classification",
            "num_labels": 2,
            "n_layer": 3,
            "n_head": 4,
            "n_embd": 64,
            "n_positions": 128,
        },
    ],
)
def test_the_parameter_count_from_the_config_is_that_of_the_built_model(ctx, tokenizer, shape):
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    from nodeloom.nodes.models import FromConfigParams, build_config, label_config

    params = FromConfigParams(**shape)
    labels = label_config(params.num_labels, None) if params.task == "classification" else {}
    config = build_config(params, tokenizer, labels)
    model_class = AutoModelForCausalLM if params.task == "causal_lm" else AutoModelForSequenceClassification
    built = run_node("model.from_config", ctx, {"tokenizer": tokenizer}, **shape)["model"]
    assert memory.parameter_count(model_class, config) == sum(parameter.numel() for parameter in built.parameters())


def test_a_model_too_big_for_the_free_memory_is_refused_with_both_figures(ctx, monkeypatch):
    from transformers import GPT2Config, GPT2LMHeadModel

    shape = {"n_layer": 2, "n_head": 4, "n_embd": 256, "n_positions": 128, "vocab_size": 8000}
    expected = sum(parameter.numel() for parameter in GPT2LMHeadModel(GPT2Config(**shape)).parameters())
    monkeypatch.setattr(memory, "free_memory", lambda device: 10 * 2**20)
    with pytest.raises(NodeError) as refused:
        run_node("model.from_config", ctx, {}, **shape)
    assert str(refused.value) == (
        f"model.from_config: a gpt2 model of {memory.format_count(expected)} parameters needs about "
        f"{memory.format_bytes(4 * expected)} of memory but 10.0 MiB is free on cpu; lower n_layer, n_embd or "
        "vocab_size (a smaller tokenizer), or run on a machine with more memory"
    )


def test_gpt3_sized_model_is_refused_in_seconds_without_allocating():
    from transformers import AutoModelForCausalLM, GPT2Config

    config = GPT2Config(n_layer=96, n_head=96, n_embd=12288, n_positions=2048, vocab_size=50257)
    count = memory.parameter_count(AutoModelForCausalLM, config)
    assert 174e9 < count < 176e9  # GPT-3 175B
    assert memory.format_bytes(4 * count) == "650.5 GiB"


def test_training_need_counts_gradients_and_optimizer_state_for_trainable_weights_only(ctx, tiny_model):
    params = sum(parameter.numel() for parameter in tiny_model.parameters())
    full = memory.training_need(
        tiny_model, "adamw", batch_size=4, sequence_length=16, activation_bytes=4, fused_attention=False
    )
    assert (full.weights, full.gradients, full.optimizer) == (4 * params, 4 * params, 8 * params)
    assert memory.training_need(tiny_model, "sgd_momentum", 4, 16, 4, False).optimizer == 4 * params
    assert memory.training_need(tiny_model, "sgd", 4, 16, 4, False).optimizer == 0
    halved = memory.training_need(tiny_model, "adamw", 4, 16, 2, False)
    longer = memory.training_need(tiny_model, "adamw", 4, 32, 4, False)
    fused = memory.training_need(tiny_model, "adamw", 4, 32, 4, True)
    assert halved.activations < full.activations < fused.activations < longer.activations
    lora = run_node("model.lora", ctx, {"model": tiny_model}, r=4)["model"]
    trainable = sum(parameter.numel() for parameter in lora.parameters() if parameter.requires_grad)
    adapted = memory.training_need(lora, "adamw", 4, 16, 4, False)
    assert 0 < trainable < params / 2 and (adapted.gradients, adapted.optimizer) == (4 * trainable, 8 * trainable)


MEASURE_ONE_STEP = """
import json, sys
import torch
from transformers import AutoModelForCausalLM, GPT2Config
from nodeloom.nodes.memory import training_need

torch.set_num_threads(1)
model = AutoModelForCausalLM.from_config(GPT2Config(n_layer=4, n_head=4, n_embd=256, n_positions=256, vocab_size=2000))
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
ids = torch.randint(0, 2000, (8, 256))

def step():
    model(input_ids=ids, labels=ids).loss.backward()
    optimizer.step()

def resident():
    return int(open("/proc/self/statm").read().split()[1]) * 4096

def peak():
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM"))

step()  # gradients and optimizer state now exist; what the next step adds on top is activations
resting = resident()
open("/proc/self/clear_refs", "w").write("5")  # restart the peak count
step()
estimate = training_need(model, "adamw", 8, 256, 4, fused_attention=False).activations
print(json.dumps({"measured": peak() - resting, "estimate": estimate}))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's peak-memory counter")
def test_the_activation_estimate_is_near_the_measured_peak_of_a_training_step():
    # large blocks straight from the kernel, so that resident memory follows what torch holds
    environment = os.environ | {"MALLOC_MMAP_THRESHOLD_": "131072"}
    result = subprocess.run(
        [sys.executable, "-c", MEASURE_ONE_STEP], capture_output=True, text=True, timeout=300, env=environment
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert 0.5 < figures["estimate"] / figures["measured"] < 1.5, figures


def test_training_that_cannot_fit_is_refused_before_it_starts(tmp_path, tiny_model, tokenizer, monkeypatch):
    monkeypatch.setattr(memory, "free_memory", lambda device: 2**20)
    with pytest.raises(NodeError) as refused:
        run_node(
            "train.trainer",
            context(tmp_path),
            {"model": tiny_model, "train": causal_dataset(tokenizer)},
            batch_size=4,
            max_steps=2,
            save_steps=0,
        )
    message = str(refused.value)
    assert message.startswith("train.trainer: training with batch_size 4 of up to 16 tokens needs about")
    for words in (
        "weights",
        "gradients",
        "optimizer state",
        "activations",
        "1.0 MiB is free on cpu",
        "lower batch_size",
        "gradient_accumulation_steps",
    ):
        assert words in message
    assert not (tmp_path / "work").exists()


# torch.OutOfMemoryError arrived in torch 2.5; older releases have only the CUDA one
OUT_OF_MEMORY = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


@pytest.mark.parametrize(
    ("error", "ran_out"),
    [
        (OUT_OF_MEMORY("CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 79.1 GiB total capacity)"), "CUDA"),
        (
            RuntimeError(
                "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
                "you tried to allocate 1099511627776 bytes. Error code 12 (Cannot allocate memory)"
            ),
            "CPU",
        ),
        (MemoryError(), "CPU"),
    ],
    ids=["cuda", "cpu-allocator", "python"],
)
def test_running_out_of_memory_in_training_fails_the_node_with_a_message_and_the_run_goes_on(
    ctx, tokenizer, monkeypatch, error, ran_out
):
    from nodeloom.nodes import train

    FIXTURES["oom_model"] = run_node("model.from_config", ctx, {"tokenizer": tokenizer}, **TINY_GPT)["model"]
    FIXTURES["oom_blocks"] = causal_dataset(tokenizer)

    def allocator_gives_up(*args, **kwargs):
        raise error

    nodes = [
        {"id": "model", "type": "fixture.model", "params": {"name": "oom_model"}},
        {"id": "blocks", "type": "fixture.tokens", "params": {"name": "oom_blocks"}},
        {"id": "train", "type": "train.trainer", "params": {"max_steps": 2, "batch_size": 2, "save_steps": 0}},
    ]
    edges = [{"source": "model", "target": "train"}, {"source": "blocks", "target": "train", "target_port": "train"}]
    monkeypatch.setattr(train, "pad_examples", allocator_gives_up)
    failed = run_graph(nodes, edges)
    assert failed.nodes["train"].status == "failed"
    message = failed.nodes["train"].error
    assert message.startswith(f"train.trainer: ran out of {ran_out} memory while training")
    # the free figure of the memory that ran out: the machine's, or CUDA's where there is CUDA to ask
    assert "free now); " in message or (ran_out == "CUDA" and not torch.cuda.is_available())
    assert "lower batch_size" in message and "allocate" not in message and "\n" not in message
    monkeypatch.undo()
    assert run_graph(nodes, edges).nodes["train"].status == "succeeded"  # the same process trains afterwards


def test_running_out_of_memory_in_generation_is_one_line_naming_the_node_the_memory_and_the_sizes(
    ctx, tokenizer, monkeypatch
):
    import transformers

    FIXTURES["oom_model"] = run_node("model.from_config", ctx, {"tokenizer": tokenizer}, **TINY_GPT)["model"]
    FIXTURES["oom_tokenizer"] = tokenizer
    FIXTURES["oom_questions"] = qa_dataset()

    def allocator_gives_up(*args, **kwargs):
        raise OUT_OF_MEMORY("CUDA out of memory. Tried to allocate 48.00 GiB (GPU 0; 79.1 GiB total capacity)")

    monkeypatch.setattr(transformers.GPT2LMHeadModel, "generate", allocator_gives_up)
    nodes = [
        {"id": "model", "type": "fixture.model", "params": {"name": "oom_model"}},
        {"id": "tokenizer", "type": "fixture.tokenizer", "params": {"name": "oom_tokenizer"}},
        {"id": "questions", "type": "fixture.dataset", "params": {"name": "oom_questions"}},
        {"id": "answers", "type": "infer.generate", "params": {"batch_size": 512, "max_new_tokens": 16}},
    ]
    edges = [
        {"source": name, "target": "answers", "target_port": port}
        for name, port in (("model", "model"), ("tokenizer", "tokenizer"), ("questions", "dataset"))
    ]
    events: list = []
    failed = run_graph(nodes, edges, listeners=[events.append])
    message = failed.nodes["answers"].error
    assert message.startswith("infer.generate: ran out of CUDA memory")
    # greedy search: num_beams does not apply, so it is not named
    assert message.endswith("; lower batch_size (now 512) or max_new_tokens (now 16), or use a device with more memory")
    assert "\n" not in message and "Tried to allocate" not in message
    [failure] = [event for event in events if isinstance(event, NodeFailed)]
    assert failure.traceback == ""  # nothing for the log to print beneath it


def test_only_out_of_memory_errors_are_translated():
    def broken():
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        memory.within_memory("x.node", "working", "cpu", "do less", broken)
    assert memory.within_memory("x.node", "working", "cpu", "do less", lambda: 42) == 42


# ---------------------------------------------------------------------------------------------
# upper bounds on sizes


@pytest.mark.parametrize(
    ("node_type", "param", "largest"),
    [
        ("model.from_config", "vocab_size", 1_000_000),
        ("model.from_config", "n_positions", 131_072),
        ("model.from_config", "n_layer", 96),
        ("model.from_config", "n_embd", 16_384),
        ("model.from_config", "num_labels", 10_000),
        ("model.lora", "r", 1024),
        ("train.trainer", "max_steps", 10_000_000),
        ("train.trainer", "batch_size", 65_536),
        ("train.trainer", "eval_batch_size", 65_536),
        ("train.trainer", "eval_steps", 10_000_000),
        ("train.trainer", "save_steps", 10_000_000),
        ("train.trainer", "logging_steps", 10_000_000),
        ("train.trainer", "save_total_limit", 10_000),
        ("train.trainer", "seed", 2**32 - 1),
        ("text.train_tokenizer", "vocab_size", 200_000),
        ("text.train_tokenizer", "min_frequency", 1_000_000_000),
        ("text.train_tokenizer", "model_max_length", 1_000_000),
    ],
)
def test_sizes_are_bounded_and_the_bound_itself_is_allowed(node_type, param, largest):
    params_class = discover().get(node_type).params
    extra = {"n_head": 1} if param == "n_embd" else {}  # n_embd must be a multiple of n_head
    params_class.model_validate({param: largest, **extra})
    with pytest.raises(ValidationError, match=param):
        params_class.model_validate({param: largest + 1, **extra})


# ---------------------------------------------------------------------------------------------
# data loading reads what it keeps, and caches under NODELOOM_HOME


def load(**params):
    return data.load_dataset(context(Path("/nonexistent")), {}, data.LoadDatasetParams(**params))["dataset"]


ROWS = [{"text": f"row {index}, with a comma", "label": index % 2, "score": index / 4} for index in range(20)]


def write_formats(folder: Path) -> dict[str, Path]:
    files = {
        "csv": folder / "rows.csv",
        "tsv": folder / "rows.tsv",
        "jsonl": folder / "rows.jsonl",
        "txt": folder / "rows.txt",
        "parquet": folder / "rows.parquet",
    }
    files["csv"].write_text("text,label,score\n" + "".join(f'"{r["text"]}",{r["label"]},{r["score"]}\n' for r in ROWS))
    files["tsv"].write_text("text\tlabel\n" + "".join(f"{r['text']}\t{r['label']}\n" for r in ROWS))
    files["jsonl"].write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    files["txt"].write_text("".join(f"{r['text']}\r\n" if i % 3 else f"{r['text']}\n\n" for i, r in enumerate(ROWS)))
    pq.write_table(pa.Table.from_pylist(ROWS), files["parquet"], row_group_size=7)
    return files


@pytest.mark.parametrize(
    ("kind", "header"),
    [
        ("csv", True),
        ("csv", False),
        ("tsv", True),
        ("tsv", False),
        ("jsonl", True),
        ("txt", True),
        ("parquet", True),
    ],
)
def test_the_first_rows_are_the_rows_and_types_of_a_full_load(tmp_path, kind, header):
    path = write_formats(tmp_path)[kind]
    full = load(path=str(path), header=header)
    head = load(path=str(path), header=header, max_rows=5)
    assert head.to_list() == full.select(range(5)).to_list()
    assert head.features == full.features and head.column_names == full.column_names
    assert head.cache_files == [] and full.cache_files  # the head never went through datasets' Arrow cache


BROKEN_AFTER_ROW_10 = {
    "csv": ("text,label\n", "row {index},1\n", "a,row,with,too,many,fields\n", "Expected 2 fields in line 12"),
    "jsonl": ("", '{{"text": "row {index}"}}\n', '{"text": "cut short\n', "not valid JSON (line 11"),
    "txt": ("", "row {index}\n", "bad byte \xff here\n", "not UTF-8 text (line 11"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN_AFTER_ROW_10))
def test_max_rows_loads_a_file_whose_damage_comes_after_the_rows_it_keeps(tmp_path, kind):
    first, row, broken, full_load_error = BROKEN_AFTER_ROW_10[kind]
    path = tmp_path / f"data.{kind}"
    body = first + "".join(row.format(index=index) for index in range(10)) + "{broken}" + row.format(index=99) * 5
    path.write_bytes(body.encode().replace(b"{broken}", broken.encode("latin-1")))
    head = load(path=str(path), max_rows=5)
    assert head["text"] == [f"row {index}" for index in range(5)]
    with pytest.raises(NodeError, match=full_load_error.replace("(", r"\(")):
        load(path=str(path))  # the whole file is still checked when all of it is asked for
    with pytest.raises(NodeError, match=full_load_error.replace("(", r"\(")):
        load(path=str(path), max_rows=5, shuffle=True)  # a random sample needs every row


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux's per-process read counter")
@pytest.mark.parametrize("kind", ["csv", "jsonl", "txt", "parquet"])
def test_max_rows_reads_a_small_part_of_a_big_file(tmp_path, kind):
    def write(path: Path, rows: int) -> None:
        if kind == "parquet":  # random text, so that compression leaves the file big
            table = pa.table({"text": [secrets.token_hex(100) for _ in range(rows)]})
            pq.write_table(table, path, row_group_size=1000)
            return
        line = {
            "csv": "row {index} {pad},1\n",
            "jsonl": '{{"text": "row {index} {pad}"}}\n',
            "txt": "row {index} {pad}\n",
        }
        header = "text,label\n" if kind == "csv" else ""
        path.write_text(header + "".join(line[kind].format(index=index, pad="x" * 100) for index in range(rows)))

    path, warm_up = tmp_path / f"big.{kind}", tmp_path / f"small.{kind}"
    write(path, 200_000)
    write(warm_up, 10)
    load(path=str(warm_up), max_rows=5)  # modules a first load imports are read before we count

    def bytes_read() -> int:
        return next(int(line.split()[1]) for line in open("/proc/self/io") if line.startswith("rchar"))

    before = bytes_read()
    rows = load(path=str(path), max_rows=5)
    read = bytes_read() - before
    assert rows.num_rows == 5
    assert read < path.stat().st_size / 10, f"read {read} bytes of a {path.stat().st_size}-byte file for 5 rows"


def test_datasets_caches_live_under_nodeloom_home_unless_the_user_chose_a_place(tmp_path, monkeypatch):
    path = write_formats(tmp_path)["csv"]
    monkeypatch.delenv("HF_DATASETS_CACHE", raising=False)
    loaded = load(path=str(path))
    cache = datasets_cache_folder()
    assert loaded.cache_files and all(Path(entry["filename"]).is_relative_to(cache) for entry in loaded.cache_files)
    chosen = tmp_path / "my-hf-cache"
    monkeypatch.setenv("HF_DATASETS_CACHE", str(chosen))
    assert data.datasets_cache() == str(chosen)
