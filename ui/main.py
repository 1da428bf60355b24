"""The page: sidebar (pipeline, palette, device), toolbar, canvas, inspector, run panel, previews."""

from __future__ import annotations

import time

import streamlit as st

from nodeloom.engine.events import ACTIVE, RunStatus
from nodeloom.engine.node import Registry
from nodeloom.engine.store import RunDetail
from nodeloom.ui import library, runs
from nodeloom.ui.canvas import draw_canvas, read_canvas
from nodeloom.ui.layout import auto_layout
from nodeloom.ui.inspector import draw_inspector
from nodeloom.ui.palette import draw_palette
from nodeloom.ui.pipelines import draw_file_menu
from nodeloom.ui.presentation import draw_presentation, presentation_style
from nodeloom.ui.previews import draw_log, draw_previews, metric_tiles
from nodeloom.ui.runs_page import draw_runs_page
from nodeloom.ui.state import Editor, registry as node_registry

NOTICE_SECONDS = 12.0


def session_editor() -> Editor:
    """The session's editor, opened on the last saved pipeline or the first example."""
    if "editor" not in st.session_state:
        pipeline, name, version = library.last_opened() or (library.first_pipeline(), None, None)
        editor = Editor(pipeline)
        editor.open(pipeline, name, version)
        st.session_state["editor"] = editor
    return st.session_state["editor"]


def draw_notices(editor: Editor) -> None:
    """Messages stay a few seconds, so the reruns the canvas triggers do not wipe them at once."""
    now = time.time()
    editor.notices = [notice for notice in editor.notices if now - notice.created < NOTICE_SECONDS]
    for notice in editor.notices:
        getattr(st, notice.level)(notice.text)


def draw_pending(editor: Editor) -> None:
    pending = editor.pending
    if pending is None:
        return
    with st.container(border=True):
        st.markdown(f"**Connect {pending.source} → {pending.target}:** which ports? (more than one fits)")
        chosen = st.multiselect(
            "Ports", pending.choices, default=pending.choices[:1],
            format_func=lambda pair: f"{pending.source}.{pair[0]} → {pending.target}.{pair[1]}", key="pending-ports",
        )
        col_connect, col_cancel = st.columns(2)
        # One input takes one link: keep the first pick for each input.
        picked = list({target_port: (source_port, target_port) for source_port, target_port in reversed(chosen)}.values())
        if col_connect.button("Connect", type="primary", disabled=not chosen, width="stretch"):
            editor.connect(pending.source, pending.target, picked)
            editor.pending = None
            st.rerun()
        if col_cancel.button("Cancel", width="stretch"):
            editor.pending = None
            st.session_state["canvas_drawn"] = None  # take the unconfirmed link off the canvas
            st.rerun()


def draw_toolbar(editor: Editor, run_active: bool, device: str) -> None:
    columns = st.columns([1, 1, 1.3, 1, 0.4, 1.2, 1.6, 1])
    if columns[0].button(":material/undo: Undo", disabled=not editor.undo_stack, width="stretch"):
        editor.undo()
        st.rerun()
    if columns[1].button(":material/redo: Redo", disabled=not editor.redo_stack, width="stretch"):
        editor.redo()
        st.rerun()
    if columns[2].button(":material/account_tree: Auto-layout", width="stretch"):
        editor.change(auto_layout)
        editor.canvas_generation += 1  # a fresh view, fitted to the new layout
        st.rerun()
    if columns[3].button(":material/fit_screen: Fit", width="stretch", help="Fit the whole pipeline in view"):
        editor.canvas_generation += 1
        st.rerun()
    problems = editor.problems()
    if columns[5].button(":material/play_arrow: Run all", type="primary", disabled=run_active or bool(problems),
                         width="stretch", help="Fix the problems listed below first" if problems else None):
        runs.start_run(editor, [], device)
        st.rerun()
    target = editor.selected
    if columns[6].button(f":material/skip_next: Run to {target or 'selected'}", disabled=run_active or not target or bool(problems),
                         width="stretch"):
        runs.start_run(editor, [target], device)
        st.rerun()
    if columns[7].button(":material/stop: Stop", disabled=not run_active, width="stretch"):
        run = runs.shown_run(editor)
        if run is not None:
            runs.stop_run(run)
            editor.notify("info", "Stopping after the current step…")
        st.rerun()


def draw_problems(editor: Editor) -> None:
    problems = editor.problems()
    if not problems:
        st.caption(":material/check_circle: The pipeline is valid.")
        return
    with st.expander(f":material/warning: {len(problems)} problem{'s' * (len(problems) != 1)} to fix before running"):
        for problem in problems:
            st.write(f"- {problem.message}")


def draw_run_status(current: RunDetail | None, shown: str | None, starting: bool) -> None:
    if current is None:
        failure = runs.launch_failure(shown) if shown else None
        if failure:
            st.error(f"The run could not start:\n\n```\n{failure}\n```")
        elif starting:
            st.info(":material/hourglass_top: Starting the run…")
        else:
            st.caption("No run yet: press Run all.")
        return
    finished = sum(1 for node in current.nodes.values() if node.status not in ACTIVE)
    label = f"Run `{current.id}` · **{current.status}** · {finished}/{len(current.nodes)} nodes"
    if current.device:
        label += f" · {current.device}"
    if current.seconds:
        label += f" · {current.seconds:.1f}s"
    st.markdown(label)
    for node_id, node_run in current.nodes.items():
        if node_run.status == RunStatus.RUNNING:
            st.progress(min(max(node_run.progress or 0.0, 0.0), 1.0), text=f"{node_id}: {node_run.message or 'running'}")
        elif node_run.status == RunStatus.FAILED:
            st.error(f"**{node_id}** failed: {node_run.error}")
    if current.error and not any(node.status == RunStatus.FAILED for node in current.nodes.values()):
        st.error(current.error)  # a run-level failure (e.g. a worker that died), not a node's
    for node_id, found in current.metrics.items():
        st.caption(f"{node_id} metrics")
        metric_tiles(found)
    draw_log(current.id)


def editor_page(editor: Editor, registry: Registry, device: str) -> None:
    run = runs.shown_run(editor)
    statuses = runs.node_statuses(run)
    st.session_state["statuses_drawn"] = statuses
    draw_toolbar(editor, runs.is_active(run), device)
    # Fixed containers: an element appearing above the canvas would remount it and lose the view.
    with st.container():
        draw_notices(editor)
    with st.container():
        draw_pending(editor)
    canvas_column, inspector_column = st.columns([2.3, 1])
    with canvas_column:
        draw_canvas(editor, registry, statuses)
        draw_problems(editor)
    with inspector_column:
        draw_inspector(editor, registry)
    run_tab, preview_tab = st.tabs([":material/monitoring: Run", ":material/visibility: Preview"])
    with run_tab:
        runs.live_panel(editor, run, draw_run_status)
    with preview_tab:
        draw_previews(registry, run, editor.selected)


def main() -> None:
    st.set_page_config(page_title="NodeLoom", page_icon=":material/hub:", layout="wide")
    registry = node_registry()
    editor = session_editor()
    presenting = st.session_state.get("presentation", False)
    read_canvas(editor, registry, presenting)  # before anything that shows the selection
    with st.sidebar:
        st.title("NodeLoom")
        page = st.radio("Page", ["Editor", "Runs"], horizontal=True, key="page", label_visibility="collapsed")
        st.toggle("Presentation mode", key="presentation")
        device = runs.device_choice()
        st.divider()
        draw_file_menu(editor)
        if page == "Editor" and not presenting:
            st.divider()
            draw_palette(editor, registry)
    if page == "Runs":
        draw_runs_page(editor, registry, device)
    elif presenting:
        presentation_style()
        draw_presentation(editor, registry, device)
    else:
        editor_page(editor, registry, device)
