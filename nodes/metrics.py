"""Metric nodes: scores computed by the reference libraries themselves."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from engine import Input, NodeError, NodeParams, Output, RunContext, node
from engine.types import DATASET, METRICS


def read_pairs(dataset, prediction_column: str, reference_column: str) -> tuple[list[str], list[list[str]]]:
    """Predictions and references from a dataset; a reference may be a string or a list of strings."""
    for column in (prediction_column, reference_column):
        if column not in dataset.column_names:
            raise NodeError(f"column '{column}' is not in the dataset; columns: {', '.join(dataset.column_names)}")
    predictions, references = dataset[prediction_column], dataset[reference_column]
    normalized: list[list[str]] = []
    for row, (prediction, reference) in enumerate(zip(predictions, references)):
        if not isinstance(prediction, str):
            raise NodeError(f"column '{prediction_column}', row {row}: expected text, got {type(prediction).__name__}")
        refs = [reference] if isinstance(reference, str) else reference
        if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
            raise NodeError(f"column '{reference_column}', row {row}: expected a string or a non-empty list of strings")
        normalized.append(refs)
    return predictions, normalized


class SacreBleuParams(NodeParams):
    prediction_column: str = Field("prediction", description="Column with the model's outputs")
    reference_column: str = Field("reference", description="Column with the reference text (or a list of references)")
    tokenize: Literal["13a", "intl", "zh", "ja-mecab", "ko-mecab", "char", "flores101", "flores200", "none"] = Field(
        "13a", description="sacrebleu tokenizer"
    )
    lowercase: bool = Field(False, description="Compare lower-cased text")
    smooth_method: Literal["exp", "floor", "add-k", "none"] = Field("exp", description="Smoothing for zero n-gram counts")


@node(
    "metric.sacrebleu",
    title="sacreBLEU",
    category="metric",
    inputs=[Input("dataset", DATASET, description="Rows with prediction and reference columns")],
    outputs=[Output("metrics", METRICS, "score (0-100), precisions, bp, sys_len, ref_len")],
    params=SacreBleuParams,
    key_params=("tokenize",),
)
def sacrebleu_score(ctx: RunContext, inputs: dict, params: SacreBleuParams) -> dict:
    """Corpus BLEU exactly as `sacrebleu.corpus_bleu` computes it (0–100)."""
    import sacrebleu

    predictions, references = read_pairs(inputs["dataset"], params.prediction_column, params.reference_column)
    if not predictions:
        raise NodeError("the dataset has no rows to score")
    width = max(len(refs) for refs in references)
    # sacrebleu wants one stream per reference position; shorter lists are padded with None
    streams = [[refs[i] if i < len(refs) else None for refs in references] for i in range(width)]
    bleu = sacrebleu.corpus_bleu(
        predictions, streams, tokenize=params.tokenize, lowercase=params.lowercase, smooth_method=params.smooth_method
    )
    return {
        "metrics": {
            "score": bleu.score,
            "precisions": list(bleu.precisions),
            "bp": bleu.bp,
            "sys_len": bleu.sys_len,
            "ref_len": bleu.ref_len,
        }
    }
