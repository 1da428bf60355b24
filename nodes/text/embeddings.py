"""text.embed: sentence or word vectors, with a 2-D projection for the scatter preview."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any, Literal

from pydantic import Field

from nodeloom.engine import Input, NodeError, NodeParams, Output, RunContext, node
from nodeloom.engine.types import DATASET, EMBEDDINGS, MODEL, TOKENIZER
from nodeloom.nodes.data import column_values
from nodeloom.nodes.text.common import MAP_BATCH, text_column_values
from nodeloom.nodes.text.tokenizers import ensure_eos_and_pad, from_pretrained


class EmbedParams(NodeParams):
    mode: Literal["sentence", "word"] = Field(
        "sentence",
        description="sentence: one mean-pooled vector per row; word: the static input vector of each frequent token",
    )
    model: str = Field(
        "bundled:minilm",
        min_length=1,
        description="Model to embed with when no model is connected: bundled:minilm, a local folder or a Hub name",
    )
    text_column: str = Field("text", min_length=1, description="Column with the text")
    batch_size: int = Field(32, ge=1, le=4096, description="sentence: texts per forward pass")
    max_length: int = Field(256, ge=2, le=65_536, description="sentence: truncate texts to this many tokens")
    normalize: bool = Field(True, description="Scale vectors to length 1 (cosine similarity becomes a dot product)")
    max_words: int = Field(500, ge=2, le=100_000, description="word: keep the most frequent tokens, up to this many")


def _embedding_model(ctx: RunContext, inputs: dict, params: EmbedParams) -> tuple[Any, Any]:
    """The connected MODEL and TOKENIZER, or the model named by the `model` parameter."""
    from transformers import AutoModel, AutoTokenizer

    if ("model" in inputs) != ("tokenizer" in inputs):
        raise NodeError(
            "text.embed: connect both a model and its tokenizer, or neither (then parameter 'model' is used)"
        )
    if "model" in inputs:
        return inputs["model"], inputs["tokenizer"]
    where = "text.embed: parameter 'model'"
    tokenizer = from_pretrained(AutoTokenizer, params.model, where)
    model = from_pretrained(AutoModel, params.model, where, use_safetensors=True, trust_remote_code=False)
    return model, ensure_eos_and_pad(tokenizer, ctx, "text.embed")


def _sentence_vectors(ctx: RunContext, model: Any, tokenizer: Any, texts: list[str], params: EmbedParams) -> Any:
    import numpy as np
    import torch

    vectors = []
    for start in range(0, len(texts), params.batch_size):
        ctx.check_cancelled()
        batch = tokenizer(
            texts[start : start + params.batch_size],
            padding=True,
            truncation=True,
            max_length=params.max_length,
            return_tensors="pt",
        )
        mask = batch["attention_mask"].to(ctx.device)
        output = model(input_ids=batch["input_ids"].to(ctx.device), attention_mask=mask, output_hidden_states=True)
        hidden = output.hidden_states[-1]
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)  # mean over real tokens only
        if params.normalize:
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        vectors.append(pooled.float().cpu().numpy())
        done = min(len(texts), start + params.batch_size)
        ctx.progress(done / len(texts), f"embedded {done}/{len(texts)} texts")
    return np.concatenate(vectors)


def _word_vectors(
    model: Any, tokenizer: Any, texts: list[str], params: EmbedParams
) -> tuple[list[str], list[int], Any]:
    import torch

    counts: Counter[int] = Counter()
    for start in range(0, len(texts), MAP_BATCH):
        for ids in tokenizer(texts[start : start + MAP_BATCH], add_special_tokens=False)["input_ids"]:
            counts.update(ids)
    special = set(tokenizer.all_special_ids)
    words, frequencies, ids = [], [], []
    for token_id, count in counts.most_common():
        word = tokenizer.decode([token_id]).strip()
        if token_id not in special and any(ch.isalpha() for ch in word):
            words.append(word)
            frequencies.append(count)
            ids.append(token_id)
            if len(ids) == params.max_words:
                break
    if not ids:
        raise NodeError(f"text.embed: column '{params.text_column}' holds no words to embed")
    vectors = model.get_input_embeddings().weight[torch.tensor(ids, device=model.get_input_embeddings().weight.device)]
    if params.normalize:
        vectors = torch.nn.functional.normalize(vectors, dim=-1)
    return words, frequencies, vectors.detach().float().cpu().numpy()


def projection_2d(vectors: Any) -> Any:
    """A 2-D PCA projection for the scatter preview (zeros when there are too few rows to fit one)."""
    import numpy as np
    from sklearn.decomposition import PCA

    if len(vectors) < 2 or vectors.shape[1] < 2:
        return np.zeros((len(vectors), 2), dtype=np.float32)
    return PCA(n_components=2, random_state=0).fit_transform(vectors).astype(np.float32)


def _embed_summary(outputs: dict) -> dict:
    dataset = outputs["embeddings"]
    label = (
        "word"
        if "word" in dataset.column_names
        else next((c for c in dataset.column_names if c not in ("embedding", "x", "y")), None)
    )
    sample = dataset.select(range(min(300, dataset.num_rows)))
    points = [
        {"x": round(x, 4), "y": round(y, 4)} | ({"label": _short_label(text)} if label else {})
        for x, y, text in zip(
            column_values(sample, "x"),
            column_values(sample, "y"),
            column_values(sample, label) if label else itertools.repeat(None),
            strict=False,
        )
    ]
    return {
        "rows": dataset.num_rows,
        "columns": list(dataset.column_names),
        "dimensions": len(dataset[0]["embedding"]) if dataset.num_rows else 0,
        "points": points,
    }


def _short_label(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:60] + "…"


@node(
    "text.embed",
    title="Embed text",
    category="text",
    inputs=[
        Input("dataset", DATASET),
        Input(
            "model",
            MODEL,
            required=False,
            description="A model to embed with (connect its tokenizer too); default: parameter 'model'",
        ),
        Input("tokenizer", TOKENIZER, required=False, description="The connected model's tokenizer"),
    ],
    outputs=[Output("embeddings", EMBEDDINGS, "Rows with an `embedding` vector and `x`, `y` for a scatter plot")],
    params=EmbedParams,
    wants_accelerator=True,
    key_params=("mode", "model"),
    summarize=_embed_summary,
    memory_params=("batch_size", "max_length"),
)
def embed(ctx: RunContext, inputs: dict, params: EmbedParams) -> dict:
    """Vectors for text: mean-pooled sentence embeddings, or static word vectors, plus a 2-D PCA projection.

    sentence: one row per input row, the input columns kept, with `embedding` (the mean of the
    model's last hidden states over real tokens), `x` and `y`. word: one row per frequent token
    (`word`, `count`, `embedding`, `x`, `y`), the vectors being the model's input embeddings.
    The bundled MiniLM (bundled:minilm) works offline.
    """
    import datasets
    import torch

    dataset = inputs["dataset"]
    texts = text_column_values(dataset, params.text_column, "text.embed: parameter 'text_column'")
    if not texts:
        raise NodeError("text.embed: the dataset has no rows")
    model, tokenizer = _embedding_model(ctx, inputs, params)
    first_parameter = next(model.parameters())
    original_device, was_training = first_parameter.device, model.training
    model.to(ctx.device).eval()
    try:
        with torch.inference_mode():
            if params.mode == "sentence":
                vectors = _sentence_vectors(ctx, model, tokenizer, texts, params)
                table = dataset.remove_columns([c for c in ("embedding", "x", "y") if c in dataset.column_names])
            else:
                words, counts, vectors = _word_vectors(model, tokenizer, texts, params)
                table = datasets.Dataset.from_dict({"word": words, "count": counts})
    finally:  # a connected model may also sit in the output cache: leave it as it was
        model.to(original_device).train(was_training)
    projected = projection_2d(vectors)
    table = (
        table.add_column("embedding", list(vectors))
        .add_column("x", projected[:, 0].tolist())
        .add_column("y", projected[:, 1].tolist())
    )
    ctx.log(f"{table.num_rows} {params.mode} vectors of {vectors.shape[1]} dimensions")
    return {"embeddings": table}
