"""`nodeloom run --processes N`: the run relaunched under PyTorch's launcher, data prepared once by rank 0, the trainer
on every rank (DDP, gloo on CPU), and exactly one run recorded, by rank 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from nodeloom.engine import distributed
from nodeloom.engine.distributed import DONE, DistributedSetupError, Leader, Ranks, group_timeout, launched_ranks
from nodeloom.engine.events import NodeCached, NodeCancelled, NodeFailed, NodeFinished, NodeStarted, RunFinished
from nodeloom.engine.store import Store
from nodeloom.output import UsageError
from nodeloom.processes import failed_exit_code, launcher_arguments, process_count, without_processes
from tests.support.cli import one_json_object
from tests.support.tiny_models import QA_PAIRS, QA_TEMPLATE

STEPS, BATCH, BLOCK = 3, 2, 16


def ddp_pipeline(text_file: Path) -> dict:
    """A text file -> a BPE tokenizer trained here -> packed blocks -> a 2-layer GPT-2 (hidden 32) -> trainer (a
    checkpoint at step 2) -> perplexity, which comes after training and so runs on rank 0 alone."""
    nodes = [
        ("load", "data.load_dataset", {"path": str(text_file)}),
        ("tokenizer", "text.train_tokenizer", {"kind": "bpe", "vocab_size": 300, "text_columns": ["text"]}),
        ("tokenize", "text.tokenize", {"task": "causal_lm", "text_column": "text", "block_size": BLOCK}),
        ("gpt2", "model.from_config", {"architecture": "gpt2", "n_layer": 2, "n_head": 2, "n_embd": 32}),
        ("train", "train.trainer", {"max_steps": STEPS, "batch_size": BATCH, "save_steps": 2}),
        ("perplexity", "metric.perplexity", {}),
    ]
    edges = [
        {"source": "load", "target": "tokenizer"},
        {"source": "load", "target": "tokenize", "target_port": "dataset"},
        {"source": "tokenizer", "target": "tokenize", "target_port": "tokenizer"},
        {"source": "tokenizer", "target": "gpt2", "target_port": "tokenizer"},
        {"source": "gpt2", "target": "train", "target_port": "model"},
        {"source": "tokenize", "target": "train", "target_port": "train"},
        {"source": "train", "target": "perplexity", "source_port": "model", "target_port": "model"},
        {"source": "tokenize", "target": "perplexity", "target_port": "dataset"},
    ]
    return {
        "schema_version": 1,
        "name": "ddp",
        "settings": {"seed": 0, "device": "cpu"},
        "nodes": [{"id": node_id, "type": kind, "params": params} for node_id, kind, params in nodes],
        "edges": edges,
    }


@pytest.mark.slow  # two launched processes importing torch and transformers: about 40 s on 2 cores
def test_two_processes_train_one_gpt2_with_ddp_and_record_exactly_one_run(tmp_path, nodeloom_home):
    text_file = tmp_path / "passages.txt"
    text_file.write_text("\n".join(QA_TEMPLATE.format(question=q, answer=a) for q, a in QA_PAIRS * 3) + "\n")
    pipeline_file = tmp_path / "ddp.json"
    pipeline_file.write_text(json.dumps(ddp_pipeline(text_file)))
    completed = subprocess.run(
        [sys.executable, "-m", "nodeloom", "run", str(pipeline_file), "--processes", "2", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | {"OMP_NUM_THREADS": "1"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = one_json_object(completed.stdout)  # rank 0's object alone: the other rank printed nothing there
    assert result["status"] == "succeeded"
    assert all(node["status"] == "succeeded" for node in result["nodes"].values())
    train = result["metrics"]["train"]
    assert train["steps"] == STEPS and train["train_loss"] > 0
    # packed blocks carry no padding: both ranks' batches are counted, so two processes really trained
    assert train["train_tokens"] == STEPS * BATCH * BLOCK * 2

    with Store.open() as store:
        runs = store.list_runs()
        assert [run.id for run in runs] == [result["run_id"]]
        recorded = store.get_run(result["run_id"])
        loss_curve = store.metric_series(result["run_id"], "train")["train"]["loss"]
    assert recorded.status == "succeeded"
    assert all(node.status == "succeeded" for node in recorded.nodes.values())
    assert recorded.metrics["train"]["train_loss"] == pytest.approx(train["train_loss"])
    assert "perplexity" in recorded.metrics["perplexity"]
    assert list(loss_curve.steps) == [1, 2, 3]  # rank 0's progress alone: one point per step, not one per rank
    checkpoints = nodeloom_home / "runs" / result["run_id"] / "train" / "checkpoints"
    # each published whole once every rank wrote its part, none left in the staging folder
    assert sorted(path.name for path in checkpoints.iterdir()) == ["checkpoint-2", "checkpoint-3"]


def test_the_relaunch_is_torchrun_of_the_same_command_less_processes():
    from torch.distributed.run import parse_args

    argv = ["-q", "run", "pipe.json", "--processes", "2", "--json", "--set", "train.epochs=1"]
    arguments = launcher_arguments(argv, 2)
    assert arguments == [
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "nodeloom",
        "-q",
        "run",
        "pipe.json",
        "--json",
        "--set",
        "train.epochs=1",
    ]
    parsed = parse_args(arguments)  # what torch.distributed.run makes of them
    assert parsed.standalone and parsed.module and parsed.nproc_per_node == "2"
    assert [parsed.training_script, *parsed.training_script_args] == ["nodeloom", *without_processes(argv)]


def test_only_the_processes_option_is_left_out():
    assert without_processes(["run", "--processes=auto", "p.json"]) == ["run", "p.json"]
    # after `--` everything is positional: a file may be called --processes
    assert without_processes(["run", "--processes", "2", "--", "--processes"]) == ["run", "--", "--processes"]


@pytest.mark.parametrize("count", ["0", "-1", "two", "1.5", "1025"])
def test_a_bad_process_count_is_refused_in_one_line(count, nodeloom, tmp_path):
    pipeline_file = tmp_path / "ddp.json"
    pipeline_file.write_text(json.dumps(ddp_pipeline(tmp_path / "passages.txt")))
    completed = nodeloom("run", str(pipeline_file), "--processes", count)
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1
    assert f"invalid process count '{count}'" in completed.stderr and "auto" in completed.stderr


def test_auto_is_one_process_per_visible_gpu_and_one_on_cpu(monkeypatch):
    import torch

    assert process_count("auto", "cpu") == 1
    assert process_count("3", "cpu") == 3
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert process_count("auto", "cuda") == 4
    assert process_count("2", "cuda:0") == 2
    with pytest.raises(UsageError, match="only 4 CUDA device"):
        process_count("5", "cuda")


def test_ranks_come_from_the_launchers_environment():
    assert launched_ranks({}) is None
    assert launched_ranks({"WORLD_SIZE": "1", "RANK": "0"}) is None
    assert launched_ranks({"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}) == Ranks(1, 1, 2)
    with pytest.raises(DistributedSetupError, match="WORLD_SIZE"):
        launched_ranks({"WORLD_SIZE": "2"})
    with pytest.raises(DistributedSetupError, match="outside WORLD_SIZE"):
        launched_ranks({"WORLD_SIZE": "2", "RANK": "2"})
    assert group_timeout({}).total_seconds() == distributed.DEFAULT_TIMEOUT_SECONDS
    assert group_timeout({"NODELOOM_DISTRIBUTED_TIMEOUT": "60"}).total_seconds() == 60
    with pytest.raises(DistributedSetupError, match="NODELOOM_DISTRIBUTED_TIMEOUT"):
        group_timeout({"NODELOOM_DISTRIBUTED_TIMEOUT": "soon"})


def heard(remaining: list[str], events: list) -> list:
    """What rank 0's Leader tells the followers, hearing `events`."""
    said: list = []
    leader = Leader(remaining, send=said.append)
    for event in events:
        leader(event)
    return said


def test_the_leader_names_each_distributed_node_it_starts_then_says_done_once():
    events = [
        NodeCached("r", "tokenize"),
        NodeCached("r", "pretrain"),
        NodeStarted("r", "train"),
        NodeFinished("r", "train", 1.0, {}),
        NodeStarted("r", "perplexity"),
        NodeFinished("r", "perplexity", 1.0, {}),
        RunFinished("r", "succeeded", 2.0, {}),
    ]
    assert heard(["pretrain", "train"], events) == ["train", DONE]  # free right after the last one, not at the end


def test_the_leader_says_nothing_more_once_a_distributed_node_failed_or_was_stopped_midway():
    failed = [NodeStarted("r", "train"), NodeFailed("r", "train", "boom"), RunFinished("r", "failed", 1.0, {})]
    assert heard(["train"], failed) == ["train"]  # the followers are inside it: torchrun ends them
    stopped = [NodeStarted("r", "train"), NodeCancelled("r", "train"), RunFinished("r", "cancelled", 1.0, {})]
    assert heard(["train"], stopped) == ["train"]
    before = [NodeCancelled("r", "train"), RunFinished("r", "cancelled", 1.0, {})]
    assert heard(["train"], before) == [DONE]
    assert heard([], [RunFinished("r", "succeeded", 1.0, {})]) == []  # no distributed node: no follower waits


def test_a_failed_process_other_than_rank_0_is_told_in_one_line(capsys):
    leader_recorded_failure = {0: SimpleNamespace(exitcode=1, timestamp=2), 1: SimpleNamespace(exitcode=1, timestamp=1)}
    assert failed_exit_code(leader_recorded_failure, 2) == 1
    assert capsys.readouterr().err == ""  # rank 0 said why itself
    follower_first = {0: SimpleNamespace(exitcode=-15, timestamp=2), 1: SimpleNamespace(exitcode=1, timestamp=1)}
    assert failed_exit_code(follower_first, 2) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: process 1 of 2 ended with exit code 1; its message, if any, is above"
    ]


def test_a_launcher_environment_without_its_rendezvous_is_refused_in_one_line(nodeloom, tmp_path, monkeypatch):
    text_file = tmp_path / "passages.txt"
    text_file.write_text("a passage\n")
    pipeline_file = tmp_path / "ddp.json"
    pipeline_file.write_text(json.dumps(ddp_pipeline(text_file)))
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    completed = nodeloom("run", str(pipeline_file))
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1 and "unset WORLD_SIZE" in completed.stderr
