"""A text box that asks a classifier trained in a finished run for the class of whatever the reader types, with
the probability of every class.

Like the chat box (ui/chat.py, whose `open_model` finds the run's model and tokenizer and opens either box), it
loads the model from the run's cache into the app process on the CPU, only when asked, and tokenizes the text as the
pipeline's own `text.tokenize` node (task classification) did: truncated to its `max_length`.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from nodeloom.engine.node import Registry
from nodeloom.engine.pipeline import Pipeline
from nodeloom.engine.store import RunDetail
from nodeloom.nodes.text.tokenization import TokenizeParams
from nodeloom.ui.chat import ModelBox, open_model
from nodeloom.ui.text import plain

TOKENIZE_TYPE = "text.tokenize"
CLASSIFIER_BOX = ModelBox(
    closed="The text box opens when a run that trains a classifier has finished.",
    verb="classify",
    icon=":material/label:",
    toggle="Open the classifier (loads the model)",
    model_kind="sequence classifier",
)


@st.cache_resource(max_entries=1, show_spinner="Loading the classifier…")
def classifier_model(model_key: str, tokenizer_key: str) -> tuple[Any, Any] | None:
    from nodeloom.engine.cache import default_cache

    models, tokenizers = default_cache().get(model_key), default_cache().get(tokenizer_key)
    if not models or not tokenizers:
        return None
    model = models.get("model")
    if model is None or not type(model).__name__.endswith("ForSequenceClassification"):
        return None
    model.eval()
    return model, tokenizers.get("tokenizer")


def max_length(pipeline: Pipeline) -> int:
    """The `max_length` the pipeline's classification tokenizer node truncates to, else that parameter's default."""
    for spec in pipeline.nodes:
        if spec.type == TOKENIZE_TYPE:
            try:
                params = TokenizeParams.model_validate(spec.params)
            except ValueError:
                continue
            if params.task == "classification":
                return params.max_length
    return TokenizeParams().max_length


def class_name(model: Any, index: int) -> str:
    """The class's name from the model's config; transformers' placeholder "LABEL_1" reads as the label id, 1."""
    name = str((getattr(model.config, "id2label", None) or {}).get(index, index))
    return str(index) if name == f"LABEL_{index}" else name


def probabilities(model: Any, tokenizer: Any, text: str, length: int) -> list[tuple[str, float]]:
    """(class, probability) for every class, most likely first."""
    import torch

    encoded = tokenizer(text, truncation=True, max_length=length, return_tensors="pt").to(model.device)
    with torch.inference_mode():
        chances = torch.softmax(model(**encoded).logits.float(), dim=-1)[0].tolist()
    return sorted(((class_name(model, index), chance) for index, chance in enumerate(chances)), key=lambda p: -p[1])


def draw_classifier_box(registry: Registry, run: RunDetail | None, pipeline: Pipeline) -> None:
    loaded = open_model(registry, run, CLASSIFIER_BOX, classifier_model)
    if run is None or loaded is None:  # open_model has said why
        return
    text = st.text_area("Text to classify", key=f"classify-text:{run.id}", placeholder="Type a sentence…")
    if not text.strip():
        return
    for name, chance in probabilities(*loaded, text, max_length(pipeline)):
        st.progress(chance, text=f"{plain(name)}: {chance:.0%}")  # a label is the data's: shown as text
