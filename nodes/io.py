"""Input/output nodes: saving models and datasets.

Saving never destroys files NodeLoom did not write: every folder io.save_model writes gets a MARKER file that
lists what it wrote, and a folder holding anything else is refused unless `overwrite` is on; io.save_dataset
refuses a file that exists unless `overwrite` is on. A run that will execute them refuses both before it starts
(the `path` parameters declare `overwrite_flag`; `engine.planner.plan_run`); the nodes refuse again when they
run (`engine.files.overwrite_refusal`).
What is saved is written under a new sibling name first and put in place when complete, so a failed or
interrupted save leaves the old folder or file as it was, never half.
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from nodeloom.engine import Input, NodeError, NodeParams, Output, RunContext, node
from nodeloom.engine.files import MARKER, RefusedPath, overwrite_refusal, writable
from nodeloom.engine.node import param_rules
from nodeloom.engine.paths import nodeloom_home
from nodeloom.engine.types import DATASET, METRICS, MODEL, TEXT, TOKENIZER
from nodeloom.nodes.memory import within_memory


class SaveModelParams(NodeParams):
    path: str = Field(
        "",
        description="Folder to write the model, tokenizer and README.md model card into",
        json_schema_extra=param_rules(writes="folder", overwrite_flag="overwrite"),
    )
    merge_lora: bool = Field(
        True, description="LoRA models: merge the adapter into the weights (off: save the adapter alone)"
    )
    overwrite: bool = Field(
        False,
        description="Replace a folder that holds files NodeLoom did not write (they are deleted); "
        "off: such a folder is refused. A folder an earlier save wrote is always replaced",
    )


def _written_folder(params: SaveModelParams) -> list[str]:
    # Fingerprinting the target folder into the cache key means a deleted or edited folder is
    # written again instead of the node being served from the cache.
    return [params.path] if params.path else []


def output_path(where: str, path: str, kind: Literal["file", "folder"]) -> Path:
    """The resolved path to save to, checked again as validation checked it (engine.files.writable): the file
    system may have changed since, and a node run outside a pipeline was never validated."""
    try:
        return writable(path, kind, nodeloom_home())
    except RefusedPath as exc:
        raise NodeError(f"{where}: parameter 'path': '{path}' {exc}; pick another {kind}") from None


def write_then_swap(folder: Path, write: Callable[[Path], None], *, single_file: bool = False) -> None:
    """`write` into a new sibling folder, mark it as NodeLoom's, then put it where `folder` was. With
    `single_file`, `write` writes one file instead, which replaces the file at `folder` in one rename."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.with_name(f".{folder.name}.saving-{uuid.uuid4().hex[:8]}")
    if single_file:
        try:
            write(staging)
            os.replace(staging, folder)  # readers see the old file or the new one, never half of it
        finally:
            staging.unlink(missing_ok=True)  # gone already when the save succeeded
        return
    staging.mkdir()
    try:
        write(staging)
        written = sorted(entry.name for entry in staging.iterdir())
        (staging / MARKER).write_text(json.dumps({"files": written}), encoding="utf-8")
        if not folder.exists():
            os.rename(staging, folder)
            return
        retired = folder.with_name(f".{folder.name}.replaced-{uuid.uuid4().hex[:8]}")
        os.rename(folder, retired)
        try:
            os.rename(staging, folder)
        except OSError:
            os.rename(retired, folder)  # put the old folder back rather than leave none
            raise
        shutil.rmtree(retired)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already when the save succeeded


def metric_rows(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, value) for every top-level number of a METRICS value."""
    rows = []
    for name, value in metrics.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append((name, f"{value:.4g}" if isinstance(value, float) else str(value)))
    return rows


def model_card(model: Any, folder: Path, metrics: dict[str, Any] | None, ctx: RunContext, adapter_only: bool) -> str:
    """A README.md in the Hugging Face model-card layout: what the model is, its metrics, how to load it."""
    config = model.config
    is_classifier = type(model).__name__.endswith("ForSequenceClassification")
    auto_class = "AutoModelForSequenceClassification" if is_classifier else "AutoModelForCausalLM"
    lines = [
        "---",
        "library_name: " + ("peft" if adapter_only else "transformers"),
        "tags: [nodeloom]",
        "---",
        f"# {folder.name}",
        "",
        f"A `{type(model).__name__}` ({config.model_type}, {model.num_parameters():,} parameters) trained and saved "
        f"with NodeLoom: run `{ctx.run_id}`, node `{ctx.node_id}`, "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.",
        "",
        "## Metrics",
        "",
    ]
    rows = metric_rows(metrics or {})
    if rows:
        lines += ["| metric | value |", "| --- | --- |"] + [f"| {name} | {value} |" for name, value in rows]
    else:
        lines.append("No metrics were connected to the save node.")
    loader = (
        f'from peft import AutoPeftModel\nmodel = AutoPeftModel.from_pretrained("{folder}")'
        if adapter_only
        else f'from transformers import {auto_class}\nmodel = {auto_class}.from_pretrained("{folder}")'
    )
    lines += ["", "## Use", "", "```python", loader, "```", ""]
    return "\n".join(lines)


@node(
    "io.save_model",
    title="Save model",
    category="io",
    inputs=[
        Input("model", MODEL),
        Input("tokenizer", TOKENIZER, required=False, description="Saved beside the model"),
        Input("metrics", METRICS, required=False, description="Written into the model card"),
    ],
    outputs=[Output("path", TEXT, "The folder written")],
    params=SaveModelParams,
    key_params=("path",),
    external_files=_written_folder,
)
def save_model(ctx: RunContext, inputs: dict, params: SaveModelParams) -> dict:
    """Save a model (safetensors) and its tokenizer with save_pretrained, plus a model card with the metrics."""
    if not params.path:
        raise NodeError("io.save_model: parameter 'path' is empty; give the folder to save the model into")
    folder = output_path("io.save_model", params.path, "folder")
    refusal = None if params.overwrite else overwrite_refusal(folder, "folder", "overwrite")
    if refusal:  # the run's plan said so too, but the folder may have filled up since
        raise NodeError(f"io.save_model: parameter 'path': folder '{params.path}' {refusal}")
    model = inputs["model"]
    is_lora = hasattr(model, "peft_config")
    if is_lora and params.merge_lora:
        # merging changes the model: merge a copy
        model = within_memory(
            "io.save_model",
            "merging the LoRA adapter",
            "cpu",
            "save with merge_lora off",
            lambda: copy.deepcopy(model).merge_and_unload(),
        )
    card = model_card(model, folder, inputs.get("metrics"), ctx, adapter_only=is_lora and not params.merge_lora)

    def write(staging: Path) -> None:
        model.save_pretrained(str(staging), safe_serialization=True)
        if inputs.get("tokenizer") is not None:
            inputs["tokenizer"].save_pretrained(str(staging))
        (staging / "README.md").write_text(card, encoding="utf-8")

    try:
        write_then_swap(folder, write)
    except OSError as exc:
        raise NodeError(
            f"io.save_model: parameter 'path': cannot write folder '{params.path}': "
            f"{exc.strerror or exc}; pick a folder you can write to"
        ) from exc
    ctx.log(f"saved {type(model).__name__} to {folder}")
    return {"path": str(folder)}


# ---------------------------------------------------------------------------------------------
# datasets

DATASET_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}


class SaveDatasetParams(NodeParams):
    path: str = Field(
        "",
        description="File to write: .csv, .jsonl (one JSON object per row) or .parquet",
        json_schema_extra=param_rules(writes="file", overwrite_flag="overwrite"),
    )
    format: Literal["auto", "csv", "jsonl", "parquet"] = Field(
        "auto", description="auto: from the file's extension; else this format whatever the extension"
    )
    overwrite: bool = Field(False, description="Replace a file that exists (off: such a file is refused)")


def _written_file(params: SaveDatasetParams) -> list[str]:
    # Fingerprinted into the cache key, so a deleted or edited file is written again rather than the node
    # being served from the cache.
    return [params.path] if params.path else []


def dataset_format(params: SaveDatasetParams) -> str:
    if params.format != "auto":
        return params.format
    suffix = Path(params.path).suffix.lower()
    if suffix not in DATASET_FORMATS:
        raise NodeError(
            f"io.save_dataset: parameter 'path': cannot tell the format from '{suffix or 'no extension'}'; "
            f"end the file name in {', '.join(DATASET_FORMATS)} or set 'format'"
        )
    return DATASET_FORMATS[suffix]


def write_dataset(dataset: Any, path: Path, file_format: str) -> None:
    if file_format == "csv":
        dataset.to_csv(str(path), index=False)
    elif file_format == "jsonl":
        dataset.to_json(str(path), lines=True, force_ascii=False)
    else:
        dataset.to_parquet(str(path))


@node(
    "io.save_dataset",
    title="Save dataset",
    category="io",
    inputs=[Input("dataset", DATASET)],
    outputs=[Output("path", TEXT, "The file written")],
    params=SaveDatasetParams,
    key_params=("path",),
    external_files=_written_file,
)
def save_dataset(ctx: RunContext, inputs: dict, params: SaveDatasetParams) -> dict:
    """Write a dataset to a CSV, JSON Lines or Parquet file, whole or not at all."""
    if not params.path:
        raise NodeError("io.save_dataset: parameter 'path' is empty; give the file to write, e.g. data/clean.csv")
    file_format = dataset_format(params)
    target = output_path("io.save_dataset", params.path, "file")
    refusal = None if params.overwrite else overwrite_refusal(target, "file", "overwrite")
    if refusal:  # the run's plan said so too, but the file may have appeared since
        raise NodeError(f"io.save_dataset: parameter 'path': file '{params.path}' {refusal}")
    dataset = inputs["dataset"]
    try:
        write_then_swap(target, lambda staging: write_dataset(dataset, staging, file_format), single_file=True)
    except OSError as exc:
        raise NodeError(
            f"io.save_dataset: parameter 'path': cannot write '{params.path}': {exc.strerror or exc}; "
            "pick a file you can write to"
        ) from exc
    ctx.log(f"saved {dataset.num_rows} rows ({', '.join(dataset.column_names)}) as {file_format} to {target}")
    return {"path": str(target)}
