"""Presentation mode, designed for a projector: the pipeline's story as sections (ui/slides.py) moved with the
arrow keys, Page Up/Down (what a presenter's clicker sends) or the Previous/Next buttons, in large type, with the
sidebar, the toolbar and every editing control hidden.

"Run and present" starts a run and follows it through the sections; moving by hand stops the following. What
each section shows is ui/presentation_sections.py; the canvas is the editor's own, read-only.

Streamlit's own toolbar is "minimal" for the whole app (`nodeloom app` and .streamlit/config.toml set
`client.toolbarMode`; `nodeloom app --client.toolbarMode developer` brings the developer options back for
editing), and in presentation mode the header that holds it is hidden as well.
"""

from __future__ import annotations

import streamlit as st

from nodeloom.engine import types as T
from nodeloom.engine.events import RunStatus
from nodeloom.engine.node import Registry
from nodeloom.engine.store import RunDetail
from nodeloom.ui import runs, slides
from nodeloom.ui.canvas import draw_canvas
from nodeloom.ui.presentation_sections import draw_results, draw_samples, draw_training, draw_try_it
from nodeloom.ui.state import Editor
from nodeloom.ui.text import inline_code, plain

SECTION = "presentation-section"  # the section shown
PICKER = "presentation-picker"  # the section buttons' own state (None when the shown one is clicked again)
FOLLOW = "presentation-follow"  # "Run and present" is following its run
CANVAS_HEIGHT = 690  # the canvas under the title and the section bar, at 1600x1000
CURVES_SECONDS = 3.0  # how often live training curves are redrawn

# Large type for the back row, and no chrome: sidebar, header (toolbar, running indicator), decoration.
PRESENTATION_STYLE = """
<style>
section[data-testid="stSidebar"], header[data-testid="stHeader"], [data-testid="stToolbar"],
[data-testid="stSidebarCollapsedControl"], [data-testid="stDecoration"], [data-testid="stStatusWidget"]
{display: none !important;}
[data-testid="stMainBlockContainer"] {padding: 1rem 2rem 2rem !important; max-width: 100% !important;}
[data-testid="stMainBlockContainer"] [data-testid="stMarkdownContainer"] p,
[data-testid="stMainBlockContainer"] [data-testid="stMarkdownContainer"] li {font-size: 1.3rem;}
[data-testid="stMainBlockContainer"] h1 {font-size: 2.6rem; padding: 0;}
[data-testid="stMetricLabel"] p {font-size: 1.7rem !important;}
[data-testid="stMetricValue"] p {font-size: 4.5rem !important; font-weight: 600; line-height: 1.2;}
[data-testid="stMetricDelta"] p {font-size: 1.7rem !important;}
[data-testid="stMetricDelta"] svg {width: 1.7rem; height: 1.7rem;}
[data-testid="stCaptionContainer"] p {font-size: 1.05rem !important;}
.st-key-presentation-picker button p {font-size: 1.2rem;}
</style>
"""

# Left/Right (and a clicker's Page Up/Down) press the Previous/Next buttons, so a key does just what a click does.
# The script listens on the page, and on the canvas's frame too (same origin: a click on the canvas takes the
# keyboard there). Keys typed into a text box are the text's. It is a constant, like the style above.
SLIDE_KEYS_SCRIPT = """
<script>
(() => {
  const page = window;
  if (page.nodeloomSlideKeys) return;
  page.nodeloomSlideKeys = true;
  const steps = {ArrowRight: "next", PageDown: "next", ArrowLeft: "previous", PageUp: "previous"};
  const typing = (element) =>
    element && (element.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(element.tagName));
  function onKey(event) {
    const step = steps[event.key];
    if (!step || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey || typing(event.target)) return;
    const button = page.document.querySelector(`.st-key-presentation-${step} button`);
    if (!button || button.disabled) return;
    event.preventDefault();
    button.click();
  }
  function listen(doc) {
    if (!doc || doc.nodeloomSlideKeys) return;
    doc.nodeloomSlideKeys = true;
    doc.addEventListener("keydown", onKey);
  }
  listen(page.document);
  page.setInterval(() => {
    for (const frame of page.document.querySelectorAll("iframe")) {
      try { listen(frame.contentDocument); } catch (error) { /* a frame of another origin keeps its keys */ }
    }
  }, 1000);
})();
</script>
"""


def presentation_style() -> None:
    st.markdown(PRESENTATION_STYLE, unsafe_allow_html=True)  # a constant: nothing from a pipeline or a run


def sections_of(editor: Editor, registry: Registry) -> list[str]:
    types = [spec.type for spec in editor.pipeline.nodes]
    records_metrics = {
        type_id
        for type_id in types
        if (node_type := registry.get(type_id)) and any(port.type == T.METRICS for port in node_type.outputs)
    }
    return slides.sections_for(types, records_metrics)


def show(section: str) -> None:
    st.session_state[SECTION] = st.session_state[PICKER] = section


def go(sections: list[str], offset: int) -> None:
    """Previous/Next (and the keys): the presenter takes over from a followed run."""
    st.session_state[FOLLOW] = False
    show(slides.moved(sections, st.session_state.get(SECTION, sections[0]), offset))


def picked() -> None:
    st.session_state[FOLLOW] = False
    if st.session_state.get(PICKER) is None:  # the shown section clicked again: it stays
        st.session_state[PICKER] = st.session_state.get(SECTION)
    else:
        st.session_state[SECTION] = st.session_state[PICKER]


def follow(run: RunDetail | None, sections: list[str]) -> None:
    """Keep a followed run's section on screen; stop following once the run has ended."""
    if not st.session_state.get(FOLLOW) or run is None:
        return
    nodes = [(node_run.type, node_run.status) for node_run in run.nodes.values()]
    show(slides.followed_section(sections, run.status, nodes))
    if not runs.is_active(run):
        st.session_state[FOLLOW] = False


def run_and_present(editor: Editor, device: str) -> None:
    runs.start_run(editor, [], device)
    st.session_state[FOLLOW] = True
    show(slides.PIPELINE)


def leave_presentation() -> None:
    """Back to the editor; the next presentation starts from its first section."""
    st.session_state.update({"presentation": False, FOLLOW: False})
    st.session_state.pop(SECTION, None)


def status_line(run: RunDetail | None, starting: bool) -> str:
    if run is None:
        return "Starting the run…" if starting else "Not run yet: press Run and present."
    line = f"**{run.status.capitalize()}** · run {inline_code(run.id)}"
    if run.seconds:
        line += f" · {run.seconds:.1f}s"
    for node_id, node_run in run.nodes.items():
        if node_run.status == RunStatus.RUNNING:
            progress = f" {node_run.progress:.0%}" if node_run.progress is not None else ""
            line += f" · running **{plain(node_id)}**{progress} {plain(node_run.message or '')}"
        elif node_run.status == RunStatus.FAILED:
            line += f" · **{plain(node_id)}** failed: {plain(node_run.error or '')}"
    return line


def going(run: RunDetail | None) -> bool:
    """The shown run is active, or starting (its worker is up and has not recorded it yet)."""
    shown = st.session_state.get("shown_run")
    starting = shown is not None and run is None and runs.worker_exit(shown) is None
    return runs.is_active(run) or starting


def draw_header(editor: Editor, run: RunDetail | None, device: str) -> None:
    active = going(run)
    title, start, stop, leave = st.columns([5, 1.3, 0.8, 1.3], vertical_alignment="center")
    title.title(plain(editor.pipeline.name), anchor=False)
    start.button(
        ":material/play_arrow: Run and present",
        type="primary",
        disabled=active or bool(editor.problems()),
        width="stretch",
        on_click=run_and_present,
        args=(editor, device),
        help="Fix the pipeline's problems in the editor first" if editor.problems() else None,
    )
    if stop.button(":material/stop: Stop", disabled=not active, width="stretch") and run is not None:
        runs.stop_run(run)
        st.rerun()
    leave.button("Exit presentation", width="stretch", on_click=leave_presentation)


def draw_section_bar(sections: list[str]) -> None:
    previous, picker, following = st.columns([1, 6, 1], vertical_alignment="center")
    current = st.session_state[SECTION]
    previous.button(
        ":material/arrow_back: Previous",
        key="presentation-previous",
        disabled=current == sections[0],
        on_click=go,
        args=(sections, -1),
        width="stretch",
        help="Left arrow",
    )
    picker.segmented_control(
        "Section",
        sections,
        key=PICKER,
        label_visibility="collapsed",
        on_change=picked,
        format_func=lambda section: f"{sections.index(section) + 1} · {section}",
    )
    following.button(
        "Next :material/arrow_forward:",
        key="presentation-next",
        disabled=current == sections[-1],
        on_click=go,
        args=(sections, 1),
        width="stretch",
        help="Right arrow",
    )


def draw_live_curves(editor: Editor, active: bool) -> None:
    """The training curves, redrawn every CURVES_SECONDS while a run goes: less often than the status line, since
    redrawing a chart costs the browser more than a line of text, and the machine is busy training."""

    @st.fragment(run_every=CURVES_SECONDS if active else None)
    def curves() -> None:
        draw_training(runs.shown_run(editor))

    curves()


def draw_presentation(editor: Editor, registry: Registry, device: str) -> None:
    run = runs.shown_run(editor)
    statuses = runs.node_statuses(run)
    st.session_state["statuses_drawn"] = statuses
    sections = sections_of(editor, registry)
    if st.session_state.get(SECTION) not in sections:
        show(sections[0])
    follow(run, sections)
    draw_header(editor, run, device)
    draw_section_bar(sections)
    section = st.session_state[SECTION]

    def draw_live(current: RunDetail | None, shown: str | None, starting: bool) -> None:
        st.markdown(status_line(current, starting))
        if section == slides.RESULTS:
            draw_results(editor, current)

    runs.live_panel(editor, run, draw_live, presentation=True)
    if section == slides.TRAINING:
        draw_live_curves(editor, going(run))
    elif section == slides.PIPELINE:
        if editor.pipeline.description:
            st.caption(plain(editor.pipeline.description))
        draw_canvas(editor, registry, statuses, presentation=True, height=CANVAS_HEIGHT)
    elif section == slides.SAMPLES:
        draw_samples(run)
    elif section == slides.TRY_IT:
        draw_try_it(editor, registry, run)
    st.html(SLIDE_KEYS_SCRIPT, unsafe_allow_javascript=True)
