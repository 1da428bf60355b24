"""The Runs page: history with status, duration and metrics; compare runs (metrics side by side,
curves overlaid, parameter differences); rerun."""

from __future__ import annotations

import streamlit as st

from nodeloom.engine.node import Registry
from nodeloom.engine.store import RunDetail, diff_pipelines
from nodeloom.ui import library, runs
from nodeloom.ui.previews import draw_log
from nodeloom.ui.report import build_report, report_file_name
from nodeloom.ui.state import Editor
from nodeloom.ui.sweeps import draw_sweeps
from nodeloom.ui.text import chart_text, inline_code

HISTORY_LIMIT = 200


def metric_line(metrics: dict[str, dict[str, float]]) -> str:
    return ", ".join(f"{node}.{name}={value:.4g}" for node, found in metrics.items() for name, value in found.items())


def draw_history(history: list) -> None:
    st.dataframe(
        [
            {
                "run": run.id,
                "pipeline": f"{run.pipeline} {run.version_label}",
                "status": run.status,
                "started": (run.started or run.created)[:19].replace("T", " "),
                "seconds": round(run.seconds, 2) if run.seconds is not None else None,
                "device": run.device,
                "sweep": run.sweep_id,
                "metrics": metric_line(run.metrics),
            }
            for run in history
        ],
        hide_index=True,
        width="stretch",
        height=min(420, 38 + 35 * len(history)),
    )


def draw_comparison(chosen: list) -> None:
    import plotly.graph_objects as go

    names = sorted({(node, name) for run in chosen for node, found in run.metrics.items() for name in found})
    if names:
        st.markdown("**Metrics**")
        st.dataframe(
            [
                {"metric": f"{node}.{name}"} | {run.id: run.metrics.get(node, {}).get(name) for run in chosen}
                for node, name in names
            ],
            hide_index=True,
            width="stretch",
        )
    curves = {run.id: library.store().metric_series(run.id) for run in chosen}
    plotted = sorted({(node, name) for found in curves.values() for node, series in found.items() for name in series})
    for node, name in plotted:
        figure = go.Figure()
        for run_id, found in curves.items():
            series = found.get(node, {}).get(name)
            if series is not None and len(series.steps) > 1:
                figure.add_trace(go.Scatter(x=series.steps, y=series.values, mode="lines", name=chart_text(run_id)))
        if figure.data:
            figure.update_layout(
                title=chart_text(f"{node} · {name}"),
                height=280,
                margin=dict(l=10, r=10, t=36, b=10),
                xaxis_title="step",
            )
            st.plotly_chart(figure, width="stretch", key=f"compare:{node}:{name}")
    first = chosen[0]
    base = library.store().run_pipeline(first.id)
    st.markdown(f"**Parameter differences** (against {inline_code(first.id)})")
    for run in chosen[1:]:
        lines = diff_pipelines(base, library.store().run_pipeline(run.id)).lines()
        lines += [f"--set {override}" for override in run.overrides if override not in first.overrides]
        st.caption(inline_code(run.id))
        st.code(
            "\n".join(line for line in lines if not line.endswith(" moved")) or "same pipeline and parameters",
            language=None,
        )


def report_button(run: RunDetail, key: str) -> None:
    """Download the run as a self-contained HTML report, the one `nodeloom report` writes. The page is
    built when the button is clicked (in a thread of Streamlit's, so the store is passed in), not on every rerun."""
    from nodeloom.engine.node import discover

    store = library.store()
    st.download_button(
        ":material/download: Report (HTML)",
        data=lambda: build_report(store, run.id, discover()),
        file_name=report_file_name(run.id),
        mime="text/html",
        key=key,
        on_click="ignore",
        disabled=runs.is_active(run),
        width="stretch",
        help="One HTML file with the diagram, parameters, metrics, curves and samples; it opens offline",
    )


def show_on_canvas(run_id: str) -> None:
    st.session_state["shown_run"] = run_id
    st.session_state["page"] = "Editor"


def draw_runs_page(editor: Editor, registry: Registry, device: str) -> None:
    st.header("Runs")
    scope = st.radio("Show", ["this pipeline", "all pipelines"], horizontal=True, key="runs-scope")
    name = editor.saved_as or editor.pipeline.name
    history = library.store().list_runs(name if scope == "this pipeline" else None, limit=HISTORY_LIMIT)
    if not history:
        st.info("No runs yet. Run a pipeline from the editor, or with `nodeloom run`.")
        return
    draw_history(history)
    draw_sweeps(history)
    by_id = {run.id: run for run in history}
    chosen_ids = st.multiselect("Compare runs", list(by_id), default=list(by_id)[:2], key=f"compare:{scope}")
    if len(chosen_ids) >= 2:
        draw_comparison([by_id[run_id] for run_id in chosen_ids])
    st.divider()
    picked = st.selectbox("Run", list(by_id), key="run-detail")
    run = library.store().get_run(picked)
    if run is None:
        return
    col_rerun, col_show, col_stop, col_report = st.columns(4)
    col_rerun.button(
        ":material/replay: Rerun",
        width="stretch",
        disabled=runs.is_active(run),
        on_click=lambda: show_on_canvas(runs.rerun(run.id)),
    )
    col_show.button("Show on canvas", width="stretch", on_click=lambda: show_on_canvas(run.id))
    if col_stop.button("Stop", width="stretch", disabled=not runs.is_active(run)):
        runs.stop_run(run)
        st.rerun()
    with col_report:
        report_button(run, key=f"report:runs-page:{run.id}")
    st.dataframe(
        [
            {
                "node": node_id,
                "type": node.type,
                "status": "cached" if node.cached else node.status,
                "seconds": node.seconds,
                "error": node.error,
            }
            for node_id, node in run.nodes.items()
        ],
        hide_index=True,
        width="stretch",
    )
    draw_log(run.id)
