"""A chat box that talks to a causal language model trained in a finished run.

The prompt format and decoding settings come from the pipeline's own `infer.generate` node when it
has one (so the chat asks the model the way it was trained), else from that node's defaults.

The model is loaded from the run's cache into the app process, so opening the chat imports torch
there (nothing else on the page does). It loads on the CPU, from_pretrained's default, so the chat
never takes accelerator memory from a run. Asking a worker process instead would keep torch out of
the app, at the price of a second way to talk to a model kept alive between questions; for a chat
about a finished run, a small model on the CPU answers quickly enough.

Every reply goes through the safety filter (nodes/text/safety.py) unless the reader turns it off:
an offensive reply is withheld, personal data is replaced by placeholders, and a line under the
reply says so. The checks are those of the pipeline's `text.safety_filter` node when it has one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from nodeloom.engine import types as T
from nodeloom.engine.events import RunStatus
from nodeloom.engine.node import Registry
from nodeloom.engine.pipeline import Pipeline
from nodeloom.engine.store import RunDetail
from nodeloom.nodes.infer import GenerateParams, generation_config, prompt_prefix
from nodeloom.nodes.text.safety import SafetySettings, guard_reply
from nodeloom.nodes.text.safety_filter import SafetyFilterParams, settings_of
from nodeloom.ui.text import inline_code, plain

CHAT_TYPE = "infer.generate"
SAFETY_TYPE = "text.safety_filter"


def chat_sources(registry: Registry, run: RunDetail) -> tuple[str, str, str, str] | None:
    """(model node, model cache key, tokenizer node, tokenizer cache key) from a finished run."""
    found: dict[Any, tuple[str, str]] = {}
    for node_id, node_run in run.nodes.items():
        node_type = registry.get(node_run.type or "")
        if node_type is None or node_run.status != RunStatus.SUCCEEDED or not node_run.cache_key:
            continue
        for port in node_type.outputs:
            if port.type in (T.MODEL, T.TOKENIZER):
                found[port.type] = (node_id, node_run.cache_key)  # the last one in run order: the trained model
    if T.MODEL not in found or T.TOKENIZER not in found:
        return None
    return (*found[T.MODEL], *found[T.TOKENIZER])


@dataclass(frozen=True)
class ModelBox:
    """The words of a box that talks to the model a finished run trained (the chat; ui/classifier_box.py's box)."""

    closed: str  # the caption while no finished run is shown
    verb: str  # what the box does with the model: "chat" gives "Chat with …", "… cannot chat", key "chat-open:…"
    icon: str  # a Material icon before its heading
    toggle: str  # the label of the toggle that loads the model
    model_kind: str  # what the model must be, for the warning when it is not


def open_model(
    registry: Registry, run: RunDetail | None, box: ModelBox, load: Callable[[str, str], tuple[Any, Any] | None]
) -> tuple[Any, Any] | None:
    """(model, tokenizer) of a finished run, loaded by `load(model key, tokenizer key)` once the reader opens the box
    under its heading; None, with a line that says why where there is something to say, until then."""
    if run is None or run.status != RunStatus.SUCCEEDED:
        st.caption(box.closed)
        return None
    sources = chat_sources(registry, run)
    if sources is None:
        st.caption(f"This run has no model and tokenizer to {box.verb} with.")
        return None
    model_node, model_key, _, tokenizer_key = sources
    st.markdown(f"{box.icon} **{box.verb.capitalize()} with {inline_code(model_node)}** (run {inline_code(run.id)})")
    if not st.toggle(box.toggle, key=f"{box.verb}-open:{run.id}"):
        return None
    loaded = load(model_key, tokenizer_key)
    if loaded is None:
        st.warning(f"'{plain(model_node)}' is not a {box.model_kind} kept in the cache, so it cannot {box.verb}.")
    return loaded


CHAT_BOX = ModelBox(
    closed="The chat opens when a run that trains a language model has finished.",
    verb="chat",
    icon=":material/chat:",
    toggle="Open chat (loads the model)",
    model_kind="causal language model",
)


@st.cache_resource(max_entries=1, show_spinner="Loading the model for chat…")
def chat_model(model_key: str, tokenizer_key: str) -> tuple[Any, Any] | None:
    from nodeloom.engine.cache import default_cache

    models, tokenizers = default_cache().get(model_key), default_cache().get(tokenizer_key)
    if not models or not tokenizers:
        return None
    model = models.get("model")
    # can_generate() is what transformers itself asks: true for GPT2LMHeadModel and other LM heads
    if model is None or not getattr(model, "can_generate", lambda: False)():
        return None
    model.eval()
    return model, tokenizers.get("tokenizer")


def generate_params(pipeline: Pipeline) -> GenerateParams:
    spec = next((spec for spec in pipeline.nodes if spec.type == CHAT_TYPE), None)
    try:
        return GenerateParams.model_validate(spec.params if spec else {})
    except ValueError:
        return GenerateParams()


def safety_settings(pipeline: Pipeline) -> SafetySettings:
    """The checks of the pipeline's own safety filter node, so the chat and the pipeline agree; else the defaults."""
    spec = next((spec for spec in pipeline.nodes if spec.type == SAFETY_TYPE), None)
    try:
        return settings_of(SafetyFilterParams.model_validate(spec.params)) if spec else SafetySettings()
    except ValueError:
        return SafetySettings()


def answer(model: Any, tokenizer: Any, params: GenerateParams, question: str) -> str:
    import torch

    if params.prompt_template:
        prefix = prompt_prefix(params.prompt_template, params.reference_column)
        prompt = prefix.format_map({params.prompt_column: question})
    else:
        prompt = question
    encoded = tokenizer(prompt, return_tensors="pt").to(model.device)
    with torch.no_grad():
        output = model.generate(**encoded, generation_config=generation_config(params, tokenizer))
    return tokenizer.decode(output[0, encoded["input_ids"].shape[1] :], skip_special_tokens=True).strip()


def draw_chat(registry: Registry, run: RunDetail | None, pipeline: Pipeline) -> None:
    loaded = open_model(registry, run, CHAT_BOX, chat_model)
    if run is None or loaded is None:  # open_model has said why
        return
    guarded = st.toggle(
        "Safety filter on replies",
        value=True,
        key=f"chat-guard:{run.id}",
        help="Withhold offensive replies and replace e-mails, phone numbers, card numbers and IP addresses "
        "with placeholders. It does not catch false claims or subtle harm.",
    )
    history = st.session_state.setdefault(f"chat:{run.id}", [])  # (role, text, the safety filter's notice)
    # Outside the main area chat_input sits where it is called: the conversation goes in a
    # container above it, so new messages land above the box like the earlier ones.
    # A model writes whatever its training data taught it (links, images, markup): shown as text.
    conversation = st.container()
    for role, text, notice in history:
        _show_message(conversation, role, text, notice)
    question = st.chat_input("Ask the model…", key=f"chat-input:{run.id}")
    if question:
        _show_message(conversation, "user", question, "")
        with conversation, st.spinner("Thinking…"):
            reply = answer(*loaded, generate_params(pipeline), question) or "(no answer)"
            notice = ""
            if guarded:
                checked = guard_reply(reply, safety_settings(pipeline))
                reply, notice = checked.text, checked.notice
        _show_message(conversation, "assistant", reply, notice)
        history += [("user", question, ""), ("assistant", reply, notice)]


def _show_message(container: Any, role: str, text: str, notice: str) -> None:
    message = container.chat_message(role)
    message.markdown(plain(text))
    if notice:
        message.caption(f":material/shield: {plain(notice)}")
