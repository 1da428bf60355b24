"""Presentation mode for demos: no editing chrome, a large canvas where the running node glows and
its incoming links move, a results panel that fills as nodes finish, and the chat box at the end."""

from __future__ import annotations

import streamlit as st

from nodeloom.engine.events import RunStatus
from nodeloom.engine.node import Registry
from nodeloom.ui import runs
from nodeloom.ui.canvas import CACHED, STATUS_BADGES, draw_canvas
from nodeloom.ui.chat import draw_chat
from nodeloom.ui.previews import metric_tiles
from nodeloom.ui.state import Editor
from nodeloom.ui.text import inline_code, plain

HIDE_CHROME = """
<style>
section[data-testid="stSidebar"], header[data-testid="stHeader"], [data-testid="stToolbar"] {display: none;}
.block-container {padding-top: 1rem; max-width: 100%;}
</style>
"""


def presentation_style() -> None:
    st.markdown(HIDE_CHROME, unsafe_allow_html=True)


def draw_results(run) -> None:
    """One line per finished node, with its numbers, in execution order."""
    if run is None:
        st.caption("Press Run to start.")
        return
    duration = f" · {run.seconds:.1f}s" if run.seconds else ""
    st.markdown(f"**{run.status.capitalize()}** · run {inline_code(run.id)}{duration}")
    for node_id, node_run in run.nodes.items():
        status = CACHED if node_run.cached else node_run.status
        if status == RunStatus.QUEUED:
            continue
        line = f"{STATUS_BADGES.get(status, status)} **{plain(node_id)}**"
        if status == RunStatus.RUNNING and node_run.progress is not None:
            line += f" {node_run.progress:.0%} {plain(node_run.message or '')}"
        st.markdown(line)
        if node_run.error:
            st.error(plain(node_run.error))
        metric_tiles(run.metrics.get(node_id, {}), limit=6, per_row=2)  # a narrow panel: room for names and values


def draw_presentation(editor: Editor, registry: Registry, device: str) -> None:
    run = runs.shown_run(editor)
    statuses = runs.node_statuses(run)
    st.session_state["statuses_drawn"] = statuses
    active = runs.is_active(run)
    title, run_button, stop_button, leave = st.columns([5, 1, 1, 1.4])
    title.markdown(f"## {plain(editor.pipeline.name)}")
    if editor.pipeline.description:
        title.caption(plain(editor.pipeline.description))
    if run_button.button(
        ":material/play_arrow: Run", type="primary", disabled=active or bool(editor.problems()), width="stretch"
    ):
        runs.start_run(editor, [], device)
        st.rerun()
    if stop_button.button(":material/stop: Stop", disabled=not active, width="stretch"):
        runs.stop_run(run)
        st.rerun()
    leave.button("Exit presentation", width="stretch", on_click=lambda: st.session_state.update(presentation=False))
    canvas_column, results_column = st.columns([2.6, 1])
    with canvas_column:
        draw_canvas(editor, registry, statuses, presentation=True, height=760)
    with results_column:
        runs.live_panel(editor, run, lambda current, shown, starting: draw_results(current), presentation=True)
        st.divider()
        draw_chat(registry, run, editor.pipeline)
