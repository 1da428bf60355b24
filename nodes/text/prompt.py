"""Prompts: the prompt templates text.tokenize and infer.generate fill, and text.split_prompt."""

from __future__ import annotations

import string

from pydantic import Field

from nodeloom.engine import Input, NodeError, NodeParams, Output, RunContext, node
from nodeloom.engine.types import DATASET
from nodeloom.nodes.data import dataset_summary
from nodeloom.nodes.text.common import text_column_values


def template_columns(template: str, where: str) -> list[str]:
    """The column names a prompt template uses, in order; bad templates stop with a clear message."""
    try:
        fields = [name for _text, name, _spec, _conversion in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise NodeError(f"{where}: {exc}; write columns as {{column}} and a literal brace as {{{{ or }}}}") from exc
    if not fields:
        raise NodeError(
            f"{where}: the template names no column; "
            "write columns as {column}, e.g. 'Question: {question}\\nAnswer: {answer}'"
        )
    if any(not name or any(ch in name for ch in ".[") for name in fields):  # positional, attribute or index fields
        raise NodeError(f"{where}: use plain column names in braces, e.g. {{question}}; found {fields}")
    return list(dict.fromkeys(fields))


class SplitPromptParams(NodeParams):
    text_column: str = Field("text", min_length=1, description="Column with the passages to split")
    prompt_words: int = Field(
        12, ge=1, le=10_000, description="Words at the start of each passage that become the prompt"
    )
    continuation_words: int | None = Field(
        None, ge=1, le=100_000, description="Longest continuation kept, in words (empty: the rest of the passage)"
    )


@node(
    "text.split_prompt",
    title="Split prompt / continuation",
    category="text",
    inputs=[Input("dataset", DATASET, description="Passages of text")],
    outputs=[Output("dataset", DATASET, "Columns prompt and continuation, one row per passage long enough to split")],
    params=SplitPromptParams,
    key_params=("prompt_words",),
    summarize=dataset_summary,
)
def split_prompt(ctx: RunContext, inputs: dict, params: SplitPromptParams) -> dict:
    """Cut each passage after its first `prompt_words` words: the start is the `prompt`, the rest the `continuation`.

    This is how generation is judged on held-out text: the model gets the prompt and what it
    writes is compared with the real continuation (connect infer.generate with prompt_column
    `prompt` and reference_column `continuation`, then metric.rouge). Passages with no words
    after the prompt are dropped; whitespace inside each part becomes single spaces.
    """
    from datasets import Dataset

    where = "text.split_prompt: parameter 'text_column'"
    prompts, continuations = [], []
    for text in text_column_values(inputs["dataset"], params.text_column, where):
        words = text.split()
        rest = words[params.prompt_words :][: params.continuation_words]
        if rest:
            prompts.append(" ".join(words[: params.prompt_words]))
            continuations.append(" ".join(rest))
    if not prompts:
        raise NodeError(
            f"text.split_prompt: no passage in column '{params.text_column}' "
            f"has more than prompt_words={params.prompt_words} words; lower 'prompt_words'"
        )
    dropped = inputs["dataset"].num_rows - len(prompts)
    ctx.log(
        f"{len(prompts)} prompts of {params.prompt_words} words"
        + (f"; {dropped} passages too short to split were dropped" if dropped else "")
    )
    return {"dataset": Dataset.from_dict({"prompt": prompts, "continuation": continuations})}
