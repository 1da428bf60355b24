"""The editor's model: the pipeline being edited, its selection, history and notices.

Everything lives in one `Editor` object that the page keeps in `st.session_state` (ui.main), so a
rerun (and the canvas component, which re-renders endlessly when its state is rebuilt) always sees
the same state. The model knows the engine, not Streamlit, and not where pipelines are stored.
Every change to the pipeline goes through `Editor.change`, which records undo history, marks the
pipeline unsaved and tells the canvas to take the new state.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nodeloom.engine.node import NodeType, discover
from nodeloom.engine.pipeline import Edge, NodeSpec, Pipeline
from nodeloom.engine.validation import PipelineInvalid, Problem, load_pipeline
from nodeloom.ui.layout import auto_layout, overlapping

HISTORY_LIMIT = 100


def pipeline_from_json(data: Any) -> Pipeline:
    """A pipeline the editor can hold, even when it does not validate yet: the engine's lenient
    reading (ports resolved where they can be; the inspector lists the problems). Only a source that
    holds no pipeline at all raises PipelineInvalid."""
    loaded = load_pipeline(data, strict=False)
    if loaded.pipeline is None:
        raise PipelineInvalid(loaded.problems)
    return loaded.pipeline


def unique_node_id(pipeline: Pipeline, base: str) -> str:
    taken = {spec.id for spec in pipeline.nodes}
    if base not in taken:
        return base
    number = 2
    while f"{base}_{number}" in taken:
        number += 1
    return f"{base}_{number}"


@dataclass
class Notice:
    level: str  # "error", "warning", "success" or "info"
    text: str
    created: float = field(default_factory=time.time)


@dataclass
class PendingConnection:
    """A new canvas edge whose ports the user must choose."""

    source: str
    target: str
    choices: list[tuple[str, str]]  # (source output, target input) pairs the engine accepts


@dataclass
class Editor:
    pipeline: Pipeline
    saved_as: str | None = None  # the stored pipeline's name, None until saved
    base_version: int | None = None  # the stored version the edits started from
    saved_json: str = ""
    undo_stack: list[str] = field(default_factory=list)
    redo_stack: list[str] = field(default_factory=list)
    selected: str | None = None  # node id
    selected_link: tuple[str, str] | None = None  # (source, target) of the selected canvas edge
    pending: PendingConnection | None = None
    notices: list[Notice] = field(default_factory=list)
    revision: int = 0  # bumps on every change: the canvas pushes a new state
    canvas_generation: int = 0  # bumps when the view should be rebuilt and fitted
    form_generation: int = 0  # bumps when widget values must be re-read from the pipeline
    _problems: tuple[int, list[Problem]] = (-1, [])

    @property
    def unsaved(self) -> bool:
        return self.pipeline.to_json() != self.saved_json

    def snapshot(self) -> str:
        return self.pipeline.to_json()

    def change(self, edit: Callable[[Pipeline], None]) -> None:
        """Apply an edit to the pipeline, keeping it undoable."""
        before = self.snapshot()
        edit(self.pipeline)
        if self.snapshot() == before:
            return
        self.undo_stack.append(before)
        del self.undo_stack[:-HISTORY_LIMIT]
        self.redo_stack.clear()
        self.revision += 1

    def undo(self) -> None:
        if self.undo_stack:
            self.redo_stack.append(self.snapshot())
            self._restore(self.undo_stack.pop())

    def redo(self) -> None:
        if self.redo_stack:
            self.undo_stack.append(self.snapshot())
            self._restore(self.redo_stack.pop())

    def _restore(self, text: str) -> None:
        self.pipeline = pipeline_from_json(json.loads(text))
        self.revision += 1
        self.form_generation += 1
        if self.selected and not self.pipeline.has_node(self.selected):
            self.selected = None

    def open(self, pipeline: Pipeline, saved_as: str | None = None, version: int | None = None) -> None:
        """Replace the pipeline (open, new, import): history starts afresh."""
        if overlapping(pipeline):
            auto_layout(pipeline)
        self.pipeline = pipeline
        self.saved_as = saved_as
        self.base_version = version
        self.saved_json = pipeline.to_json()
        self.undo_stack.clear()
        self.redo_stack.clear()
        self.selected = None
        self.selected_link = None
        self.pending = None
        self.revision += 1
        self.canvas_generation += 1
        self.form_generation += 1

    def mark_saved(self, name: str, version: int) -> None:
        self.saved_as = name
        self.base_version = version
        self.saved_json = self.snapshot()

    def problems(self) -> list[Problem]:
        """The engine's verdict on the current pipeline, computed once per revision."""
        if self._problems[0] != self.revision:
            self._problems = (self.revision, load_pipeline(self.pipeline.to_dict(), strict=False).problems)
        return self._problems[1]

    def problems_of(self, node_id: str) -> list[Problem]:
        return [problem for problem in self.problems() if problem.node == node_id]

    def notify(self, level: str, text: str) -> None:
        self.notices.append(Notice(level, text))

    def select(self, node_id: str | None) -> None:
        if node_id != self.selected:
            self.selected = node_id
            self.form_generation += 1

    # --- edits -------------------------------------------------------------------------------

    def add_node(self, node_type: NodeType, position: dict[str, float] | None = None) -> str:
        node_id = unique_node_id(self.pipeline, node_type.type_id.split(".", 1)[1])
        if position is None:
            # Right of everything already placed, so the new card never covers one the user arranged.
            right = max((spec.position["x"] for spec in self.pipeline.nodes), default=-260.0)
            top = min((spec.position["y"] for spec in self.pipeline.nodes), default=0.0)
            position = {"x": right + 260.0, "y": top}
        self.change(lambda p: p.nodes.append(NodeSpec(node_id, node_type.type_id, {}, position)))
        self.select(node_id)
        return node_id

    def delete_node(self, node_id: str) -> None:
        def edit(pipeline: Pipeline) -> None:
            pipeline.nodes = [spec for spec in pipeline.nodes if spec.id != node_id]
            pipeline.edges = [edge for edge in pipeline.edges if node_id not in (edge.source, edge.target)]

        self.change(edit)
        if self.selected == node_id:
            self.select(None)

    def rename_node(self, old: str, new: str) -> str | None:
        """Give a node a new id; returns an error message when the id is unusable."""
        new = new.strip()
        if not new or new == old:
            return None if new == old else "a node id cannot be empty"
        if self.pipeline.has_node(new):
            return f"node id '{new}' is already used; pick another"

        def edit(pipeline: Pipeline) -> None:
            pipeline.node(old).id = new
            for edge in pipeline.edges:
                edge.source = new if edge.source == old else edge.source
                edge.target = new if edge.target == old else edge.target

        self.change(edit)
        self.selected = new
        return None

    def set_param(self, node_id: str, name: str, value: Any, default: Any) -> None:
        """Parameters hold only what differs from the default, like a hand-written file."""

        def edit(pipeline: Pipeline) -> None:
            params = pipeline.node(node_id).params
            if value == default:
                params.pop(name, None)
            else:
                params[name] = value

        self.change(edit)

    def connect(self, source: str, target: str, ports: list[tuple[str, str]]) -> None:
        self.change(lambda p: p.edges.extend(Edge(source, target, out, into) for out, into in ports))

    def disconnect(self, source: str, target: str, target_port: str | None = None) -> None:
        def edit(pipeline: Pipeline) -> None:
            pipeline.edges = [
                edge
                for edge in pipeline.edges
                if not (edge.source == source and edge.target == target and target_port in (None, edge.target_port))
            ]

        self.change(edit)


def registry():
    return discover()


def now_ms() -> int:
    return int(time.time() * 1000)
