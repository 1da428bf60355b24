"""metric.perplexity: how well a causal language model predicts tokenized text."""

from __future__ import annotations

import heapq
import math
from typing import Any

from pydantic import Field

from nodeloom.engine import Input, NodeError, NodeParams, Output, RunContext, node
from nodeloom.engine.types import METRICS, MODEL, TOKENIZED_DATASET
from nodeloom.nodes.data import column_values
from nodeloom.nodes.metrics.common import WORST_EXAMPLE_COUNT, check_rows

# transformers' causal LMs (GPT2LMHeadModel, LlamaForCausalLM, ...) and peft's wrapper of them
CAUSAL_LM_CLASS_ENDINGS = ("ForCausalLM", "LMHeadModel")


class PerplexityParams(NodeParams):
    batch_size: int = Field(8, ge=1, le=65_536, description="Rows per forward pass")


def token_columns(dataset: Any) -> dict[str, list]:
    """input_ids, labels and (when there) attention_mask as lists, after checking the TOKENIZED_DATASET contract."""
    where = "metric.perplexity: input 'dataset'"
    check_rows(dataset, ["input_ids", "labels"], where)
    names = [column for column in ("input_ids", "attention_mask", "labels") if column in dataset.column_names]
    values = {column: column_values(dataset, column) for column in names}
    for row, input_ids in enumerate(values["input_ids"]):
        for column in names[1:]:
            if len(values[column][row]) != len(input_ids):
                raise NodeError(
                    f"{where}: column '{column}', row {row} has {len(values[column][row])} values but 'input_ids' has "
                    f"{len(input_ids)}; tokenize with text.tokenize so the columns line up"
                )
    return values


@node(
    "metric.perplexity",
    title="Perplexity",
    category="metric",
    inputs=[
        Input("model", MODEL, description="A causal language model"),
        Input(
            "dataset",
            TOKENIZED_DATASET,
            description="Token rows: input_ids, attention_mask and labels (-100: not scored)",
        ),
    ],
    outputs=[Output("metrics", METRICS, "perplexity, mean_loss (per token), tokens; perplexity per row")],
    params=PerplexityParams,
    wants_accelerator=True,
    key_params=("batch_size",),
    memory_params=("batch_size",),
)
def perplexity(ctx: RunContext, inputs: dict, params: PerplexityParams) -> dict:
    """Perplexity of a causal language model: exp of the mean next-token cross-entropy over all scored tokens.

    Every token counts once (a long row weighs more than a short one); labels of -100 are not
    scored, and each row's first token has nothing before it to be predicted from.
    """
    import torch
    import torch.nn.functional as F

    from nodeloom.nodes.train import pad_examples

    model = inputs["model"]
    columns = token_columns(inputs["dataset"])
    row_count = len(columns["input_ids"])
    if not type(model).__name__.endswith(CAUSAL_LM_CLASS_ENDINGS):
        raise NodeError(
            f"metric.perplexity: input 'model' is a {type(model).__name__}, not a causal language model; "
            "load it with task 'causal_lm'"
        )
    pad_token_id = model.config.pad_token_id if model.config.pad_token_id is not None else 0
    model.to(ctx.device).eval()

    row_losses: list[float] = []
    row_tokens: list[int] = []
    for start in range(0, row_count, params.batch_size):
        ctx.check_cancelled()
        rows = range(start, min(start + params.batch_size, row_count))
        batch = pad_examples([{name: values[row] for name, values in columns.items()} for row in rows], pad_token_id)
        labels = batch.pop("labels").to(ctx.device)
        with torch.no_grad():
            logits = model(**{name: tensor.to(ctx.device) for name, tensor in batch.items()}).logits
        # token t predicts token t+1: shift the labels left (padding with -100) rather than slicing
        # the logits, which would copy them
        targets = F.pad(labels[:, 1:], (0, 1), value=-100)
        losses = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=-100, reduction="none")
        row_losses += losses.view(targets.shape).sum(dim=1).tolist()
        row_tokens += (targets != -100).sum(dim=1).tolist()
        ctx.progress(len(row_losses) / row_count, f"{len(row_losses)}/{row_count} rows")

    tokens = sum(row_tokens)
    if tokens == 0:
        raise NodeError(
            "metric.perplexity: input 'dataset' has no token to score "
            "(every row is shorter than 2 tokens or labelled -100)"
        )
    mean_loss = math.fsum(row_losses) / tokens
    per_row = [math.exp(loss / count) if count else None for loss, count in zip(row_losses, row_tokens, strict=False)]
    worst = heapq.nlargest(
        WORST_EXAMPLE_COUNT,
        (row for row, value in enumerate(per_row) if value is not None),
        key=lambda row: (per_row[row], -row),
    )
    return {
        "metrics": {
            "perplexity": math.exp(mean_loss),
            "mean_loss": mean_loss,
            "tokens": tokens,
            "example_scores": per_row,
            "worst_examples": [
                {
                    "row": row,
                    "perplexity": per_row[row],
                    "mean_loss": row_losses[row] / row_tokens[row],
                    "tokens": row_tokens[row],
                }
                for row in worst
            ],
        }
    }
