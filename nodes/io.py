"""Input/output nodes: saving models."""

from __future__ import annotations

import copy
import datetime
from pathlib import Path
from typing import Any

from pydantic import Field

from nodeloom.engine import Input, NodeError, NodeParams, Output, RunContext, node
from nodeloom.engine.types import METRICS, MODEL, TEXT, TOKENIZER


class SaveModelParams(NodeParams):
    path: str = Field("", description="Folder to write the model, tokenizer and README.md model card into")
    merge_lora: bool = Field(True, description="LoRA models: merge the adapter into the weights (off: save the adapter alone)")
    overwrite: bool = Field(True, description="Replace what an earlier save left in the folder")


def _written_folder(params: SaveModelParams) -> list[str]:
    # Fingerprinting the target folder into the cache key means a deleted or edited folder is
    # written again instead of the node being served from the cache.
    return [params.path] if params.path else []


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
        f"with NodeLoom: run `{ctx.run_id}`, node `{ctx.node_id}`, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.",
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
    folder = Path(params.path).expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise NodeError(f"io.save_model: parameter 'path': '{params.path}' is a file, not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not params.overwrite:
        raise NodeError(f"io.save_model: folder '{params.path}' is not empty; turn on 'overwrite' or pick another folder")
    model = inputs["model"]
    is_lora = hasattr(model, "peft_config")
    if is_lora and params.merge_lora:
        model = copy.deepcopy(model).merge_and_unload()  # merging changes the model: merge a copy
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder), safe_serialization=True)
    if inputs.get("tokenizer") is not None:
        inputs["tokenizer"].save_pretrained(str(folder))
    card = model_card(model, folder, inputs.get("metrics"), ctx, adapter_only=is_lora and not params.merge_lora)
    (folder / "README.md").write_text(card, encoding="utf-8")
    ctx.log(f"saved {type(model).__name__} to {folder}")
    return {"path": str(folder)}
