"""Pipeline files: new, open (saved ones and the examples), save, save as, versions with diff and
restore, import and export. Saved pipelines and their versions live in the engine's store."""

from __future__ import annotations

import streamlit as st

from nodeloom.engine.pipeline import Pipeline
from nodeloom.engine.script import NotExportable, python_script
from nodeloom.engine.store import StaleVersion, StoreError
from nodeloom.engine.validation import PipelineInvalid, load_pipeline
from nodeloom.pipelines import example_files
from nodeloom.ui import library
from nodeloom.ui.state import Editor, pipeline_from_json
from nodeloom.ui.text import plain


def save(editor: Editor, name: str, message: str = "") -> None:
    name = name.strip()
    if not name:
        editor.notify("error", "Give the pipeline a name to save it.")
        return
    same = name == editor.saved_as
    editor.pipeline.name = name
    try:
        result = library.store().save_pipeline(
            name, editor.pipeline.to_dict(), message, base_version=editor.base_version if same else None
        )
    except StaleVersion as exc:
        editor.notify("error", str(exc))
        return
    except StoreError as exc:
        editor.notify("error", f"Could not save: {exc}")
        return
    editor.mark_saved(name, result.version.version)
    editor.notify(
        "success",
        f"Saved '{name}' as version {result.version.version}."
        if result.created
        else f"'{name}' is unchanged since version {result.version.version}.",
    )


def open_pipeline(
    editor: Editor, pipeline: Pipeline, name: str | None, version: int | None = None, *, confirmed: bool = False
) -> None:
    """Open `pipeline`; over unsaved changes only once the user confirms (ui.main asks)."""
    if editor.unsaved and not confirmed:
        editor.ask_to_open(pipeline, name, version)
        return
    editor.open(pipeline, name, version)
    st.session_state.pop("shown_run", None)


def draw_file_menu(editor: Editor) -> None:
    """The sidebar's pipeline section."""
    title = editor.saved_as or editor.pipeline.name
    marker = " ●" if editor.unsaved else ""
    st.markdown(f"**{plain(title)}**{marker}")
    saved = f"saved · version {editor.base_version}" if editor.saved_as else "not saved yet"
    st.caption(f"{saved} · unsaved changes" if editor.unsaved else saved)

    col_save, col_new = st.columns(2)
    if col_save.button("Save", key="save", width="stretch", type="primary" if editor.unsaved else "secondary"):
        save(editor, editor.saved_as or editor.pipeline.name)
        st.rerun()
    if col_new.button("New", key="new", width="stretch"):
        open_pipeline(editor, Pipeline(name="untitled"), None)
        st.rerun()

    with st.expander("Open"):
        saved = library.store().list_pipelines()
        names = [info.name for info in saved]
        examples = {path.stem: path for path in example_files()}
        options = [f"saved: {name}" for name in names] + [f"example: {stem}" for stem in examples]
        if options:
            choice = st.selectbox("Pipeline", options, key="open-choice")
            if st.button("Open", key="open", width="stretch"):
                kind, _, name = choice.partition(": ")
                try:
                    if kind == "saved":
                        version = library.latest_version(name)
                        open_pipeline(editor, library.open_saved(name), name, version)
                    else:
                        open_pipeline(editor, pipeline_from_json(examples[name]), None)
                except (PipelineInvalid, StoreError) as exc:
                    editor.notify("error", f"Cannot open {name}: {exc}")
                st.rerun()
        else:
            st.caption("Nothing saved yet.")

    with st.expander("Save as"):
        new_name = st.text_input("Name", value=editor.pipeline.name, key="save-as-name")
        message = st.text_input("Version note", key="save-as-message", placeholder="what changed")
        if st.button("Save as", key="save-as", width="stretch"):
            save(editor, new_name, message)
            st.rerun()

    if editor.saved_as:
        with st.expander("Versions"):
            draw_versions(editor)

    with st.expander("Import / export"):
        # Streamlit refuses a larger file itself, with a message; the engine refuses a pipeline over its own limit.
        limit = st.get_option("server.maxUploadSize")
        uploaded = st.file_uploader(
            f"Import pipeline JSON (up to {limit} MB)", type=["json"], key=f"import:{editor.canvas_generation}"
        )
        if uploaded is not None:
            loaded = load_pipeline(uploaded.getvalue(), strict=False)
            if loaded.pipeline is None:
                st.error(f"Cannot import {plain(uploaded.name)}: {plain(loaded.problems[0])}")
            else:
                open_pipeline(editor, loaded.pipeline, None)
                editor.notify("success", f"Imported {uploaded.name}; save it to keep it.")
                if loaded.problems:  # some (a malformed node, say) the editor cannot show: name them now
                    listed = "\n".join(f"- {problem}" for problem in loaded.problems[:5])
                    editor.notify("warning", f"{uploaded.name} has {len(loaded.problems)} problem(s) to fix:\n{listed}")
                st.rerun()
        st.download_button(
            "Export JSON",
            editor.pipeline.to_json(),
            file_name=f"{editor.pipeline.name or 'pipeline'}.json",
            mime="application/json",
            key="export",
            width="stretch",
        )
        script, file_name, why_not = python_export(editor)
        st.download_button(
            "Export Python script",
            script or "",
            file_name=file_name,
            mime="text/x-python",
            key="export-python",
            width="stretch",
            disabled=script is None,
            help=why_not
            or "A standalone script calling the node functions in order, every parameter written out "
            "(as `nodeloom export --python`)",
        )


def python_export(editor: Editor) -> tuple[str | None, str, str]:
    """(the pipeline as a standalone Python script or None, its file name, why it cannot be one yet)."""
    name = editor.saved_as or editor.pipeline.name or "pipeline"
    origin = (
        f"version {editor.base_version} of the saved pipeline '{name}'"
        if editor.saved_as and not editor.unsaved
        else "edited in the NodeLoom app, unsaved"
    )
    try:
        return python_script(load_pipeline(editor.pipeline.to_dict()), origin, f"{name}.py"), f"{name}.py", ""
    except PipelineInvalid as exc:
        return None, f"{name}.py", f"Fix the pipeline's {len(exc.problems)} problem(s) to export it as Python."
    except NotExportable as exc:
        return None, f"{name}.py", str(exc)


def draw_versions(editor: Editor) -> None:
    versions = library.store().versions(editor.saved_as)
    numbers = [version.version for version in versions]
    labels = {
        version.version: f"v{version.version} · {version.created[:16].replace('T', ' ')} · {version.message or ''}"
        for version in versions
    }
    chosen = st.selectbox("Version", numbers, format_func=labels.get, key="version-choice")
    changes = library.store().diff(editor.saved_as, chosen, numbers[0]).lines() if chosen != numbers[0] else []
    if chosen != numbers[0]:
        st.caption(f"Changes from v{chosen} to the latest v{numbers[0]}:")
        st.code("\n".join(changes) or "no changes", language=None)
    col_open, col_restore = st.columns(2)
    if col_open.button("Open", key="version-open", width="stretch"):
        open_pipeline(editor, library.open_saved(editor.saved_as, chosen), editor.saved_as, numbers[0])
        st.rerun()
    if col_restore.button("Restore", key="version-restore", width="stretch", disabled=chosen == numbers[0]):
        try:
            result = library.store().restore(editor.saved_as, chosen, base_version=editor.base_version)
        except StaleVersion as exc:
            editor.notify("error", str(exc))
        else:
            open_pipeline(editor, pipeline_from_json(result.version.data), editor.saved_as, result.version.version)
            editor.notify("success", f"Restored v{chosen} as v{result.version.version}.")
        st.rerun()
