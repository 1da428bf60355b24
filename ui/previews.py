"""Previews of a node's outputs from a run: tables, statistics, curves, model summaries, a chat box.

Outputs are read back from the engine's output cache by the key the run recorded. Heavy libraries
(datasets, torch, transformers) are imported only here, only when a preview is asked for, so the
page's own reruns stay fast.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from nodeloom.engine import types as T
from nodeloom.engine.events import RunStatus
from nodeloom.engine.node import NodeType, Registry
from nodeloom.engine.store import RunDetail, Series
from nodeloom.ui import library
from nodeloom.ui.text import chart_text, inline_code, plain

PREVIEW_ROWS = 50
HOVER_WIDTH = 120  # characters of a row in a chart's hover label
LEGEND_WIDTH = 40  # characters of a label in a chart's legend, which takes room from the chart itself
MARGIN = dict(l=10, r=10, t=36, b=10)


@st.cache_resource(max_entries=6, show_spinner="Reading outputs…")
def cached_outputs(cache_key: str) -> dict[str, Any] | None:
    from nodeloom.engine.cache import default_cache

    return default_cache().get(cache_key)


def tile_text(value: float) -> str:
    """Short enough for a tile: 1,000 and up (and whole numbers) with separators, others to 3 significant digits."""
    if abs(value) < 1e12 and (abs(value) >= 1000 or float(value).is_integer()):
        return f"{value:,.0f}"
    return f"{value:.3g}"


def metric_tiles(found: dict[str, float], limit: int = 8, per_row: int = 4) -> None:
    """A node's numbers as large tiles, `per_row` to a row."""
    items = list(found.items())[:limit]
    for start in range(0, len(items), per_row):
        columns = st.columns(per_row)
        for column, (name, value) in zip(columns, items[start : start + per_row], strict=False):
            column.metric(plain(name), tile_text(value))


LOSS_CURVES = ("loss", "eval_loss")  # on one chart: training and validation loss drawn apart is what overfitting is


def curve_figures(series: dict[str, Series], height: int = 240) -> dict[str, Any]:
    """A node's per-step curves as plotly figures: "loss" holds the training and the eval loss together, then one
    figure per other curve (learning rate, grad norm…). A curve of one point is no curve, except an eval loss
    beside a training loss (evaluations are few)."""
    import plotly.graph_objects as go

    def figure_of(title: str, traces: list[Any]) -> Any:
        figure = go.Figure(traces)
        figure.update_layout(title=chart_text(title), height=height, margin=MARGIN, xaxis_title="step")
        figure.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0))
        return figure

    figures: dict[str, Any] = {}
    losses = {name: series[name] for name in LOSS_CURVES if name in series and series[name].steps}
    if any(len(points.steps) >= 2 for points in losses.values()):
        traces = [
            go.Scatter(
                x=points.steps,
                y=points.values,
                name=chart_text(name.replace("_", " ")),
                mode="lines+markers" if name == "eval_loss" else "lines",
            )
            for name, points in losses.items()
        ]
        figures["loss"] = figure_of("loss", traces)
    for name, points in series.items():
        if name not in LOSS_CURVES and len(points.steps) >= 2:
            curve = go.Scatter(x=points.steps, y=points.values, mode="lines")
            figures[name] = figure_of(name.replace("_", " "), [curve])
    return figures


def loss_chart(run_id: str, node_id: str) -> None:
    """Per-step curves the node reported (loss with eval loss, learning rate…), one chart each."""
    series = library.store().metric_series(run_id, node_id).get(node_id, {})
    for name, figure in curve_figures(series).items():
        st.plotly_chart(figure, width="stretch", key=f"curve:{run_id}:{node_id}:{name}")


def dataset_preview(dataset: Any, label: str, columns: list[str] | None = None, height: int = 260) -> None:
    """The head of a dataset, the model's output beside the expected one first; `columns`: only those."""
    names = ", ".join(dataset.column_names)  # a dataset's column names are its author's: shown as text
    st.caption(f"{plain(label)}: {dataset.num_rows:,} rows × {len(dataset.column_names)} columns ({plain(names)})")
    head = dataset.select(range(min(PREVIEW_ROWS, dataset.num_rows))).to_pandas()
    if columns is not None:
        head = head[[name for name in columns if name in head.columns]]
    # generated or predicted rows: the model's output beside the expected one, before the rest
    first = [name for name in ("prediction", "reference") if name in head.columns]
    head = head[first + [name for name in head.columns if name not in first]]
    st.dataframe(head, width="stretch", height=height)


def embeddings_figure(dataset: Any, height: int = 380, named_words: int = 0) -> Any:
    """A PCA scatter of the vectors (None for fewer than three), coloured by label when there is one; on a scatter
    of word vectors the `named_words` most frequent words are written beside their points."""
    import numpy as np
    import plotly.express as px
    import plotly.graph_objects as go
    from sklearn.decomposition import PCA

    vector_column = next((name for name in dataset.column_names if "embedding" in name), None)
    if vector_column is None or dataset.num_rows < 3:
        return None
    sample = dataset.select(range(min(2000, dataset.num_rows)))
    points = PCA(n_components=2).fit_transform(np.asarray(sample[vector_column], dtype="float32"))
    text_column = next((name for name in sample.column_names if name in ("text", "sentence", "question", "word")), None)
    colour_column = "label" if "label" in sample.column_names else None
    figure = px.scatter(
        x=points[:, 0],
        y=points[:, 1],
        color=[chart_text(value, LEGEND_WIDTH) for value in sample[colour_column]] if colour_column else None,
        hover_name=[chart_text(text, HOVER_WIDTH) for text in sample[text_column]] if text_column else None,
        labels={"x": "PC 1", "y": "PC 2", "color": colour_column or ""},
        title="Embeddings (PCA)",
        height=height,
    )
    if named_words and text_column == "word":
        counts = np.asarray(sample["count"]) if "count" in sample.column_names else np.zeros(sample.num_rows)
        frequent = np.argsort(-counts, kind="stable")[:named_words]
        words = sample[text_column]
        figure.add_trace(
            go.Scatter(
                x=points[frequent, 0],
                y=points[frequent, 1],
                mode="text",
                text=[chart_text(words[index], LEGEND_WIDTH) for index in frequent],
                textposition="top center",
                showlegend=False,
                hoverinfo="skip",
            )
        )
    return figure


def embeddings_scatter(dataset: Any, height: int = 380) -> None:
    figure = embeddings_figure(dataset, height)
    if figure is not None:
        st.plotly_chart(figure, width="stretch")


def model_summary(model: Any) -> None:
    parameters = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    first = next(model.parameters(), None)
    config = getattr(model, "config", None)
    layers = next((getattr(config, name) for name in ("n_layer", "num_hidden_layers") if hasattr(config, name)), "?")
    st.dataframe(
        [
            {"property": "class", "value": type(model).__name__},
            {"property": "parameters", "value": f"{parameters:,}"},
            {"property": "trainable", "value": f"{trainable:,}"},
            {"property": "layers", "value": str(layers)},
            {"property": "dtype", "value": str(first.dtype) if first is not None else "?"},
            {"property": "device", "value": str(first.device) if first is not None else "?"},
        ],
        hide_index=True,
        width="stretch",
    )


def tokenizer_summary(tokenizer: Any) -> None:
    # A trained tokenizer's special tokens come from the pipeline's parameters: code spans show them as text.
    st.markdown(
        f"Vocabulary: **{len(tokenizer):,}** tokens · type {inline_code(type(tokenizer).__name__)} · "
        f"eos {inline_code(tokenizer.eos_token)} · pad {inline_code(tokenizer.pad_token)}"
    )


def json_preview(port_type: T.PortType, value: Any) -> None:
    if port_type == T.METRICS and isinstance(value, dict):
        numbers = {
            name: number
            for name, number in value.items()
            if isinstance(number, (int, float)) and not isinstance(number, bool)
        }
        if numbers:
            st.dataframe(
                [{"metric": name, "value": number} for name, number in numbers.items()],
                hide_index=True,
                width="stretch",
            )
        for name, rows in value.items():
            if isinstance(rows, list) and rows and isinstance(rows[0], dict):
                st.caption(plain(name.replace("_", " ")))
                st.dataframe(rows, width="stretch")
        return
    if port_type == T.REPORT and isinstance(value, dict):
        histogram = next((value[name] for name in value if "histogram" in name and isinstance(value[name], dict)), None)
        if histogram and {"edges", "counts"} <= set(histogram):
            import plotly.graph_objects as go

            edges, counts = histogram["edges"], histogram["counts"]
            figure = go.Figure(go.Bar(x=[f"{edges[i]:g}–{edges[i + 1]:g}" for i in range(len(counts))], y=counts))
            figure.update_layout(title="Token lengths", height=260, margin=dict(l=10, r=10, t=36, b=10))
            st.plotly_chart(figure, width="stretch")
    st.json(value, expanded=1)


QUALITY_TILES = {  # data.quality's counts worth a tile, in this order
    "rows": "rows",
    "duplicate_rows": "duplicate rows",
    "near_duplicate_rows": "near-duplicate rows",
    "overlap_with_reference": "overlap with reference",
    "exact_overlap_rows": "exact overlap rows",
    "near_overlap_rows": "near overlap rows",
    "empty_rows": "empty rows",
    "short_rows": "short rows",
}


def quality_preview(report: dict[str, Any]) -> None:
    """data.quality's report: counts, leaked rows beside the reference rows they repeat, duplicates,
    length histograms and label balance. Every row text and label is the dataset's: shown in
    dataframe cells and escaped chart labels, as text."""
    tiles = {label: report[name] for name, label in QUALITY_TILES.items() if isinstance(report.get(name), (int, float))}
    if "overlap with reference" in tiles:
        tiles["overlap with reference"] *= 100  # a percentage reads better on a tile than a fraction
    columns = st.columns(4)
    for index, (label, value) in enumerate(tiles.items()):
        shown = f"{value:.1f}%" if label == "overlap with reference" else tile_text(value)
        columns[index % 4].metric(label, shown)
    tables = (  # report key, title, columns in order: the two texts side by side first
        (
            "leaks",
            "Leaked rows: each beside the reference row it repeats (exact first, then the most similar)",
            ("text", "reference_text", "similarity", "match", "row", "reference_row"),
        ),
        (
            "near_duplicates",
            "Near duplicates: each beside the earlier row it nearly repeats",
            ("text", "similar_text", "similarity", "row", "similar_row"),
        ),
        ("duplicates", "Duplicates: the texts with the most copies", ("text", "copies", "first_row")),
    )
    for name, title, order in tables:
        if name not in report:
            continue
        st.markdown(f"**{title}**")
        if report[name]:
            texts = {column: st.column_config.TextColumn(width="large") for column in order if "text" in column}
            st.dataframe(
                report[name],
                hide_index=True,
                width="stretch",
                column_order=order,
                column_config=texts,
                key=f"quality:{name}",
            )
        else:
            st.caption("None.")
    lengths = report.get("lengths", {})
    charts = [
        (unit, lengths[unit]["histogram"]) for unit in ("characters", "words") if "histogram" in lengths.get(unit, {})
    ]
    for column, (unit, histogram) in zip(st.columns(max(1, len(charts))), charts, strict=False):
        with column:
            histogram_chart(histogram, f"Length in {unit}")
    classes = report.get("labels", {}).get("classes", [])
    if classes:
        import plotly.graph_objects as go

        figure = go.Figure(
            go.Bar(
                x=[entry["share"] for entry in classes],
                y=[chart_text(entry["label"], LEGEND_WIDTH) for entry in classes],
                orientation="h",
                text=[f"{entry['rows']:,}" for entry in classes],
            )
        )
        figure.update_layout(title="Label balance (share of rows)", height=120 + 28 * len(classes), margin=MARGIN)
        figure.update_yaxes(autorange="reversed", type="category")
        st.plotly_chart(figure, width="stretch")
    with st.expander("Whole report (JSON)"):
        st.json(report, expanded=1)


def histogram_chart(histogram: dict[str, list], title: str) -> None:
    import plotly.graph_objects as go

    edges, counts = histogram["edges"], histogram["counts"]
    figure = go.Figure(go.Bar(x=[f"{edges[i]:g}–{edges[i + 1]:g}" for i in range(len(counts))], y=counts))
    figure.update_layout(title=title, height=260, margin=MARGIN)
    st.plotly_chart(figure, width="stretch")


def port_preview(node_type: NodeType, port_name: str, value: Any) -> None:
    port = node_type.output(port_name)
    if port is None:
        return
    if node_type.type_id == "data.quality" and port_name == "report" and isinstance(value, dict):
        quality_preview(value)
    elif port.type in T.JSON_TYPES:
        json_preview(port.type, value)
    elif port.type.name in ("dataset", "tokenized_dataset", "embeddings"):
        dataset_preview(value, port_name)
        if port.type == T.EMBEDDINGS:
            embeddings_scatter(value)
    elif port.type == T.MODEL:
        model_summary(value)
    elif port.type == T.TOKENIZER:
        tokenizer_summary(value)
    else:
        st.code(repr(value)[:500], language=None)


def draw_previews(registry: Registry, run: RunDetail | None, node_id: str | None) -> None:
    if run is None or node_id is None or node_id not in run.nodes:
        st.caption("Run the pipeline, then select a node to preview its outputs.")
        return
    node_run = run.nodes[node_id]
    node_type = registry.get(node_run.type or "")
    st.markdown(
        f"**{plain(node_id)}** — {node_run.status}{' (cached)' if node_run.cached else ''}"
        + (f" in {node_run.seconds:.2f}s" if node_run.seconds else "")
    )
    if node_run.status == RunStatus.FAILED:
        st.error(plain(node_run.error or "failed"))
        draw_log(run.id, node_id)
    if run.metrics.get(node_id):
        st.dataframe([{"metric": k, "value": v} for k, v in run.metrics[node_id].items()], hide_index=True)
    loss_chart(run.id, node_id)
    if node_type is None or node_run.status != RunStatus.SUCCEEDED or not node_run.cache_key:
        if node_run.summary:
            st.json(node_run.summary, expanded=1)
        return
    heavy = any(port.type in (T.MODEL, T.TOKENIZER) for port in node_type.outputs)
    if heavy and not st.toggle("Load model outputs (imports torch)", key=f"load:{run.id}:{node_id}"):
        if node_run.summary:
            st.json(node_run.summary, expanded=1)
        return
    outputs = cached_outputs(node_run.cache_key)
    if outputs is None:
        st.warning(
            "These outputs are no longer in the cache (cleaned up, or kept in memory only); run again to see them."
        )
        return
    tabs = st.tabs([port.name for port in node_type.outputs])
    for tab, port in zip(tabs, node_type.outputs, strict=True):
        with tab:
            port_preview(node_type, port.name, outputs.get(port.name))


def draw_log(run_id: str, node_id: str | None = None) -> None:
    entries = library.store().logs(run_id, node_id)
    with st.expander(f"Log ({len(entries)} lines)", expanded=False):
        text = "\n".join(
            f"{entry.created[11:19]} {entry.level:<7} {entry.node_id or '':<12} {entry.message}"
            + (f"\n{entry.traceback}" if entry.traceback else "")
            for entry in entries
        )
        st.code(text or "no log lines", language=None)
