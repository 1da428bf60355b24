"""What each section of presentation mode shows (ui/slides.py says which sections a pipeline has):
training curves, headline numbers, samples and the try-it box. The canvas of the pipeline section and the
page around the sections are ui/presentation.py's.

Everything here reuses the editor's own views: the curves of `previews.curve_figures`, the dataset head of
`previews.dataset_preview`, the embeddings scatter, the chat box; the numbers come from ui/headlines.py.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from nodeloom.engine.events import RunStatus
from nodeloom.engine.store import RunDetail
from nodeloom.ui import headlines, library, slides
from nodeloom.ui.chat import draw_chat
from nodeloom.ui.classifier_box import draw_classifier_box
from nodeloom.ui.previews import cached_outputs, curve_figures, dataset_preview, embeddings_figure
from nodeloom.ui.state import Editor
from nodeloom.ui.text import chart_text, inline_code, plain

CHART_HEIGHT = 620  # px: what is left of 1000 under the title, the section bar and the status line
CHART_FONT = 20  # px, for a projector's back row
METRICS_PER_ROW = 4
NAMED_WORDS = 40  # words written on a word-vector scatter: enough to read clusters, few enough to read
PREVIOUS_RUNS_READ = 50


def for_projector(figure: Any) -> Any:
    """Chart text in sizes the back row reads. Each part is sized on its own: Streamlit's chart theme sets them
    one by one, over a figure's overall font size."""
    figure.update_layout(title_font_size=CHART_FONT + 6, legend_font_size=CHART_FONT)
    figure.update_xaxes(tickfont_size=CHART_FONT - 2, title_font_size=CHART_FONT)
    figure.update_yaxes(tickfont_size=CHART_FONT - 2, title_font_size=CHART_FONT)
    figure.update_traces(textfont_size=CHART_FONT - 2, selector=dict(mode="text"))
    return figure


def node_types(run: RunDetail, editor: Editor) -> dict[str, str | None]:
    """node id -> type, of what the run ran (in run order), else of the pipeline on the canvas."""
    found = {node_id: node_run.type for node_id, node_run in run.nodes.items()}
    return found or {spec.id: spec.type for spec in editor.pipeline.nodes}


def draw_training(run: RunDetail | None) -> None:
    """Each trainer's loss and eval loss on one chart, live, with its learning rate beside it."""
    trainers = [
        node_id
        for node_id, node_run in (run.nodes.items() if run else [])
        if (node_run.type or "").startswith(slides.TRAINING_PREFIX) and node_run.status != RunStatus.QUEUED
    ]
    if run is None or not trainers:
        st.caption("The curves appear here as soon as training starts.")
        return
    for node_id in trainers:
        node_run = run.nodes[node_id]
        if len(trainers) > 1:  # one trainer's progress is on the status line already
            st.markdown(f"**{plain(node_id)}** · {node_run.status}")
        series = library.store().metric_series(run.id, node_id).get(node_id, {})
        figures = curve_figures(series, height=CHART_HEIGHT)
        if not figures:
            st.caption("Waiting for the first logged steps…")
            continue
        for figure in figures.values():
            for_projector(figure)
        loss_column, rate_column = st.columns([2, 1])
        loss = figures.pop("loss", None)
        rate = figures.pop("learning_rate", None)
        for column, figure, name in ((loss_column, loss, "loss"), (rate_column, rate, "learning_rate")):
            if figure is not None:
                column.plotly_chart(figure, width="stretch", key=f"present:{run.id}:{node_id}:{name}")


def draw_results(editor: Editor, run: RunDetail | None) -> None:
    """The headline metrics as big numbers with their change from the previous run; the rest folded away."""
    if run is None:
        st.caption("The results appear here when the pipeline has run.")
        return
    types = node_types(run, editor)
    headline = headlines.headline_setting(editor.pipeline.settings)
    chosen, problems = headlines.chosen_metrics(headline, types, run.metrics)
    for problem in problems:
        st.warning(plain(problem))
    finished = library.store().list_runs(run.pipeline, status=RunStatus.SUCCEEDED, limit=PREVIOUS_RUNS_READ)
    previous = headlines.previous_run(finished, run.id)
    cards = headlines.headlines(chosen, types, run.metrics, previous)
    if not cards:
        st.caption("This run recorded no metrics to lead with.")
    for start in range(0, len(cards), METRICS_PER_ROW):
        row = cards[start : start + METRICS_PER_ROW]
        for column, card in zip(st.columns(METRICS_PER_ROW), row, strict=False):
            column.metric(
                plain(card.label),
                card.value,
                card.delta,
                delta_color=card.delta_color,  # type: ignore[arg-type]
                delta_arrow="off" if card.delta_color == "off" else "auto",
                help=plain(card.note),
                border=True,
            )
    if previous is not None:
        when = previous.created[:16].replace("T", " ")
        st.caption(f"Change from the previous run of this pipeline: {inline_code(previous.id)}, {when}.")
    elif cards:
        st.caption("The first finished run of this pipeline: the next run shows its change from this one.")
    rest = headlines.other_metrics(chosen, types, run.metrics)
    if rest:
        with st.expander(f"All other metrics ({len(rest)})"):
            st.dataframe(rest, hide_index=True, width="stretch")


def finished_outputs(run: RunDetail, type_ids: tuple[str, ...]) -> list[tuple[str, str, dict[str, Any]]]:
    """(node id, type, outputs) of the run's succeeded nodes of these types whose outputs are still cached."""
    found = []
    for node_id, node_run in run.nodes.items():
        if node_run.type in type_ids and node_run.status == RunStatus.SUCCEEDED and node_run.cache_key:
            outputs = cached_outputs(node_run.cache_key)
            if outputs is not None:
                found.append((node_id, node_run.type or "", outputs))
    return found


def draw_samples(run: RunDetail | None) -> None:
    """Generated answers beside the references, predictions with their probabilities, embeddings as a scatter."""
    if run is None or run.status != RunStatus.SUCCEEDED:
        st.caption("Samples appear here when a run has finished.")
        return
    found = finished_outputs(run, slides.SAMPLE_TYPES)
    if not found:
        st.caption("These outputs are no longer in the cache (cleaned up); run again to see them.")
        return
    scatters = [(node_id, outputs) for node_id, type_id, outputs in found if type_id == "text.embed"]
    for node_id, type_id, outputs in found:
        if type_id != "text.embed":
            dataset = outputs["dataset"]
            dataset_preview(dataset, node_id, columns=slides.sample_columns(dataset.column_names), height=560)
    for column, (node_id, outputs) in zip(st.columns(max(1, len(scatters))), scatters, strict=False):
        figure = embeddings_figure(outputs["embeddings"], height=CHART_HEIGHT + 60, named_words=NAMED_WORDS)
        if figure is not None:
            figure.update_layout(title=chart_text(f"{node_id}: embeddings (PCA)"))  # before sizing: a title is new
            for_projector(figure)
            column.plotly_chart(figure, width="stretch", key=f"present:{run.id}:{node_id}:scatter")


def draw_try_it(editor: Editor, registry: Any, run: RunDetail | None) -> None:
    """The chat box for a model that generates; a text box for a classifier."""
    types = {node_run.type for node_run in run.nodes.values()} if run else {spec.type for spec in editor.pipeline.nodes}
    if "infer.generate" in types:
        draw_chat(registry, run, editor.pipeline)
    if "infer.classify" in types:
        draw_classifier_box(registry, run, editor.pipeline)
