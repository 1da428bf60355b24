"""The page: the canvas across the page's width with the Preview and the run log right under it; the
sidebar (collapsible) holds the pipeline's file menu and the inspector of the selected node.

Every edit is autosaved as a draft (ui.drafts) and messages are short-lived toasts, one at a time.
"""

from __future__ import annotations

import streamlit as st

from nodeloom.engine.events import ACTIVE, RunStatus
from nodeloom.engine.node import Registry
from nodeloom.engine.pipeline import Pipeline
from nodeloom.engine.store import RunDetail, StoreError
from nodeloom.engine.validation import PipelineInvalid
from nodeloom.ui import drafts, library, runs
from nodeloom.ui.canvas import draw_canvas, lay_out, read_canvas
from nodeloom.ui.inspector import draw_inspector
from nodeloom.ui.pipelines import draw_file_menu, open_pipeline
from nodeloom.ui.presentation import draw_presentation, presentation_style
from nodeloom.ui.previews import draw_log, draw_previews, metric_tiles
from nodeloom.ui.runs_page import draw_runs_page, report_button
from nodeloom.ui.state import Editor
from nodeloom.ui.state import registry as node_registry
from nodeloom.ui.text import plain

# The canvas gets the page's width: Streamlit's wide layout still leaves wide margins around the content.
PAGE_STYLE = "<style>[data-testid='stMainBlockContainer'] {padding: 2.75rem 1.25rem 3rem;}</style>"
TOAST_ICONS = {  # in order of gravity
    "error": ":material/error:",
    "warning": ":material/warning:",
    "success": ":material/check_circle:",
    "info": ":material/info:",
}


def reopen(editor: Editor, draft: drafts.Draft) -> None:
    """A new session (a reload, a restart) takes up the latest draft: as it was when it holds unsaved
    edits, else the pipeline's latest saved version (it may have been saved elsewhere since)."""
    differs = draft.pipeline.to_json() != draft.saved_json
    if draft.saved_as and not differs:
        try:
            latest = library.store().get_version(draft.saved_as)
            editor.open(library.open_saved(draft.saved_as), draft.saved_as, latest.version, view=draft.view)
            return
        except (StoreError, PipelineInvalid):
            pass  # deleted or unreadable since: the draft is what there is
    drafts.open_draft(editor, draft)
    if differs:
        name = draft.saved_as or draft.pipeline.name
        editor.notify("info", f"Restored your unsaved draft of '{name}'. Save makes it a version.")


def session_editor() -> Editor:
    """The session's editor: the latest draft, else the last saved pipeline, else the first example."""
    if "editor" not in st.session_state:
        editor = Editor(Pipeline())
        draft = drafts.latest_draft()
        if draft is not None:
            reopen(editor, draft)
        else:
            pipeline, name, version = library.last_opened() or (library.first_pipeline(), None, None)
            editor.open(pipeline, name, version)
        st.session_state["editor"] = editor
        st.session_state["draft_keeper"] = drafts.DraftKeeper()
    return st.session_state["editor"]


def keep_draft(editor: Editor) -> None:
    st.session_state["draft_keeper"].keep(editor)


def draw_toast(editor: Editor) -> None:
    """One toast per step, saying all that the step said (an import and its problems together) with
    the icon of the gravest message: messages never pile up one box each, and none is lost."""
    if editor.notices:
        gravest = min(editor.notices, key=lambda notice: list(TOAST_ICONS).index(notice.level)).level
        duration = "long" if gravest == "error" else "short"  # an error takes longer to read and act on
        text = "\n".join(notice.text for notice in editor.notices)
        st.toast(plain(text), icon=TOAST_ICONS[gravest], duration=duration)
        editor.notices.clear()


@st.dialog("Discard unsaved changes?", on_dismiss=lambda: keep_editing(st.session_state["editor"]))
def confirm_open(editor: Editor) -> None:
    pending = editor.pending_open
    if pending is None:
        return
    current = editor.saved_as or editor.pipeline.name
    st.write(
        plain(
            f"'{current}' has changes that are not saved as a version. Opening "
            f"'{pending.saved_as or pending.pipeline.name}' discards them."
        )
    )
    discard, keep = st.columns(2)
    if discard.button("Discard and open", type="primary", width="stretch", key="discard-and-open"):
        editor.pending_open = None
        open_pipeline(editor, pending.pipeline, pending.saved_as, pending.version, confirmed=True)
        for notice in pending.notices:
            editor.notify(notice.level, notice.text)
        st.rerun()
    if keep.button("Keep editing", width="stretch", key="keep-editing"):
        keep_editing(editor)
        st.rerun()


def keep_editing(editor: Editor) -> None:
    editor.pending_open = None


def draw_draft_note(editor: Editor) -> None:
    if editor.unsaved:
        base = f"version {editor.base_version}" if editor.saved_as else "any saved version"
        st.caption(f":material/edit_note: Draft autosaved; it differs from {base}. Save makes a version.")


def draw_toolbar(editor: Editor, registry: Registry, run_active: bool, device: str) -> None:
    columns = st.columns([1, 1, 1.3, 1.2, 1.2, 1.6, 1])
    if columns[0].button(":material/undo: Undo", disabled=not editor.undo_stack, width="stretch", help="Ctrl+Z"):
        editor.undo()
        st.rerun()
    if columns[1].button(":material/redo: Redo", disabled=not editor.redo_stack, width="stretch", help="Ctrl+Shift+Z"):
        editor.redo()
        st.rerun()
    if columns[2].button(":material/account_tree: Auto-layout", width="stretch"):
        lay_out(editor, registry)
        st.rerun()
    problems = editor.problems()
    if columns[4].button(
        ":material/play_arrow: Run all",
        type="primary",
        disabled=run_active or bool(problems),
        width="stretch",
        help="Fix the problems listed below first" if problems else None,
    ):
        runs.start_run(editor, [], device)
        st.rerun()
    target = editor.selected
    if columns[5].button(
        f":material/skip_next: Run to {plain(target) if target else 'selected'}",
        width="stretch",
        disabled=run_active or not target or bool(problems),
    ):
        runs.start_run(editor, [target], device)
        st.rerun()
    if columns[6].button(":material/stop: Stop", disabled=not run_active, width="stretch"):
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
            st.markdown(f"- {plain(problem.message)}")


def draw_run_status(current: RunDetail | None, shown: str | None, starting: bool) -> None:
    if current is None:
        failure = runs.launch_failure(shown) if shown else None
        if failure:
            st.error("The run could not start:")
            st.code(failure, language=None)
        elif starting:
            st.info(":material/hourglass_top: Starting the run…")
        else:
            st.caption("No run yet: press Run all.")
        return
    finished = sum(1 for node in current.nodes.values() if node.status not in ACTIVE)
    label = f"Run `{current.id}` · **{current.status}** · {finished}/{len(current.nodes)} nodes"
    if current.device:
        label += f" · {plain(current.device)}"
    if current.seconds:
        label += f" · {current.seconds:.1f}s"
    st.markdown(label)
    for node_id, node_run in current.nodes.items():
        if node_run.status == RunStatus.RUNNING:
            st.progress(
                min(max(node_run.progress or 0.0, 0.0), 1.0), text=plain(f"{node_id}: {node_run.message or 'running'}")
            )
        elif node_run.status == RunStatus.FAILED:
            st.error(f"**{plain(node_id)}** failed: {plain(node_run.error)}")
    if current.error and not any(node.status == RunStatus.FAILED for node in current.nodes.values()):
        st.error(plain(current.error))  # a run-level failure (e.g. a worker that died), not a node's
    for node_id, found in current.metrics.items():
        st.caption(f"{plain(node_id)} metrics")
        metric_tiles(found)
    if not runs.is_active(current):
        report_button(current, key=f"report:editor:{current.id}")
    draw_log(current.id)


def editor_page(editor: Editor, registry: Registry, device: str) -> None:
    run = runs.shown_run(editor)
    statuses = runs.node_statuses(run)
    st.session_state["statuses_drawn"] = statuses
    draw_toolbar(editor, registry, runs.is_active(run), device)
    draw_canvas(editor, registry, statuses)
    draw_problems(editor)
    # Right under the canvas: what the selected node made, beside the run it came from.
    preview_column, run_column = st.columns([1.4, 1])
    with preview_column:
        st.markdown("##### :material/visibility: Preview")
        draw_previews(registry, run, editor.selected)
    with run_column:
        st.markdown("##### :material/monitoring: Run")
        runs.live_panel(editor, run, draw_run_status)


def main() -> None:
    st.set_page_config(page_title="NodeLoom", page_icon=":material/hub:", layout="wide")
    registry = node_registry()
    runs.warm_worker()  # the run server imports torch while the page opens, not at the first Run
    editor = session_editor()
    presenting = st.session_state.get("presentation", False)
    read_canvas(editor, registry, presenting)  # before anything that shows the selection
    keep_draft(editor)  # also catches edits made by widget callbacks and by the last run before its rerun
    draw_toast(editor)
    with st.sidebar:
        st.markdown(PAGE_STYLE, unsafe_allow_html=True)  # here: an element in the main area would move the canvas
        st.title("NodeLoom")
        page = st.radio("Page", ["Editor", "Runs"], horizontal=True, key="page", label_visibility="collapsed")
        draw_file_menu(editor)
        draw_draft_note(editor)
        if page == "Editor" and not presenting:
            st.divider()
            draw_inspector(editor, registry)
        st.divider()
        st.toggle("Presentation mode", key="presentation")
        device = runs.device_choice()
        runs.executor_choice()  # read by runs.start_run from the session
        runs.processes_choice()  # read by runs.start_run from the session
    if page == "Runs":
        draw_runs_page(editor, registry, device)
    elif presenting:
        presentation_style()
        draw_presentation(editor, registry, device)
    else:
        editor_page(editor, registry, device)
    if editor.pending_open is not None:
        confirm_open(editor)  # last: a dialog drawn above the canvas would shift it and reload it
    keep_draft(editor)
