"""The autosaved draft: the pipeline as it is on the canvas, written on every change, apart from the
saved versions (which only Save makes).

One file per pipeline, NODELOOM_HOME/drafts/<name>.json, written atomically (a temporary file
renamed over the old one), so a reload, a restart or a crash finds the last edit. A draft holds the
pipeline, what it was saved as (name, version and the saved form, so the app can say whether the
draft differs) and where the canvas view was. Opening another pipeline removes the draft of the one
left behind (the page asks first when that discards changes).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodeloom.engine.paths import nodeloom_home
from nodeloom.engine.pipeline import Pipeline
from nodeloom.engine.validation import PipelineInvalid
from nodeloom.ui.state import Editor, pipeline_from_json

DRAFT_FORMAT = 1
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Draft:
    pipeline: Pipeline
    saved_as: str | None
    base_version: int | None
    saved_json: str
    view: dict[str, float] | None


def drafts_folder() -> Path:
    return nodeloom_home() / "drafts"


def draft_path(name: str) -> Path:
    """A file name for any pipeline name: readable where the name allows, unique by a short hash."""
    readable = SAFE_NAME.sub("_", name).strip("._")[:60] or "pipeline"
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return drafts_folder() / f"{readable}-{digest}.json"


def draft_name(editor: Editor) -> str:
    return editor.saved_as or editor.pipeline.name or "untitled"


def write_draft(editor: Editor) -> Path:
    """Write the editor's draft atomically; returns its path."""
    path = draft_path(draft_name(editor))
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "format": DRAFT_FORMAT,
        "name": draft_name(editor),
        "saved_as": editor.saved_as,
        "base_version": editor.base_version,
        "saved": editor.saved_json,
        "view": editor.view,
        "pipeline": editor.pipeline.to_dict(),
    }
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".draft-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(document, out, ensure_ascii=False)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return path


def read_draft(path: Path) -> Draft | None:
    """The draft in `path`, or None when it is unreadable (a damaged draft is skipped, never fatal)."""
    try:
        document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        view = document.get("view")
        return Draft(
            pipeline=pipeline_from_json(document["pipeline"]),
            saved_as=document.get("saved_as"),
            base_version=document.get("base_version"),
            saved_json=str(document.get("saved", "")),
            view=view if isinstance(view, dict) and {"x", "y", "zoom"} <= set(view) else None,
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError, PipelineInvalid):
        return None


def latest_draft() -> Draft | None:
    """The most recently written draft that can still be read."""
    folder = drafts_folder()
    if not folder.is_dir():
        return None
    paths = sorted(folder.glob("*.json"), key=lambda path: path.stat().st_mtime_ns, reverse=True)
    return next((draft for draft in map(read_draft, paths) if draft is not None), None)


def remove_draft(name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        draft_path(name).unlink()


def open_draft(editor: Editor, draft: Draft) -> None:
    editor.open(draft.pipeline, draft.saved_as, draft.base_version, saved_json=draft.saved_json, view=draft.view)


class DraftKeeper:
    """Writes the editor's draft when the pipeline, its name or the view changed since the last
    write, and moves it when the pipeline's name changes (Save as)."""

    def __init__(self) -> None:
        self.written: tuple[Any, ...] | None = None
        self.name: str | None = None

    def keep(self, editor: Editor) -> None:
        state = (
            id(editor.pipeline),
            editor.revision,
            editor.saved_as,
            editor.base_version,
            editor.saved_json,
            editor.pipeline.name,
            editor.view,
        )
        if state == self.written:
            return
        name = draft_name(editor)
        if self.name is not None and self.name != name:
            remove_draft(self.name)
        write_draft(editor)
        self.written, self.name = state, name

    def leave(self, editor: Editor) -> None:
        """The editor is about to open another pipeline: its draft goes (the page asked first)."""
        remove_draft(draft_name(editor))
        self.written = self.name = None
