"""The editor's model: the pipeline being edited, its selection, view, history and notices.

Everything lives in one `Editor` object that the page keeps in `st.session_state` (ui.main), so a
rerun always sees the same state. The model knows the engine, not Streamlit, and not where
pipelines are stored. Every change to the pipeline goes through `Editor.change`, which records undo
history and bumps the revision the canvas and the autosaved draft follow. Links are checked here
with the engine's port rule (engine.connect) whatever the canvas already checked: the browser's
copy of the rule is a convenience, the engine's is the truth.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nodeloom.engine.connect import closes_cycle, describe_node, mismatch, port_pairs
from nodeloom.engine.node import NodeType, Registry, discover
from nodeloom.engine.pipeline import Edge, NodeSpec, Pipeline
from nodeloom.engine.validation import PipelineInvalid, Problem, load_pipeline
from nodeloom.ui.layout import auto_layout, stacked

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
    """`base`, or `base_2`, `base_3`… (a copy of `base_2` is `base_3`, not `base_2_2`)."""
    taken = {spec.id for spec in pipeline.nodes}
    if base not in taken:
        return base
    stem, _, number_text = base.rpartition("_")
    if stem and number_text.isdigit():
        base = stem
    number = 2
    while f"{base}_{number}" in taken:
        number += 1
    return f"{base}_{number}"


PortLink = tuple[str, str, str, str]  # (source, source_port, target, target_port)


def link_refusal(pipeline: Pipeline, registry: Registry, link: PortLink) -> str | None:
    """Why the engine refuses a link from one output to one input, in a sentence; None when it fits.
    A link already on the input does not count: the new one replaces it."""
    source, source_port, target, target_port = link
    refused = f"Cannot connect {source}.{source_port} → {target}.{target_port}"
    if not (pipeline.has_node(source) and pipeline.has_node(target)):
        return f"{refused}: the node is gone."
    if source == target:
        return f"{refused}: a node cannot feed itself."
    if closes_cycle(pipeline, source, target):
        return f"{refused}: {target} already feeds {source}, so the link would make a loop."
    source_type, target_type = registry.get(pipeline.node(source).type), registry.get(pipeline.node(target).type)
    if source_type is None or target_type is None:
        unknown = source if source_type is None else target
        return f"{refused}: {describe_node(unknown, pipeline.node(unknown).type)} has an unknown type."
    if port_pairs(source_type, target_type, {}, source_port, target_port):
        return None
    why = mismatch(source, source_type, target, target_type, {}, source_port, target_port)
    return f"{refused}: {why.message}."


def fitting_pair(
    registry: Registry, source: NodeSpec, target: NodeSpec, source_port: str | None, target_port: str | None
) -> tuple[str, str] | None:
    """The (output, input) pair the engine picks between two nodes when one end is named."""
    source_type, target_type = registry.get(source.type), registry.get(target.type)
    if source_type is None or target_type is None:
        return None
    pairs = port_pairs(source_type, target_type, {}, source_port, target_port)
    return pairs[0] if pairs else None


@dataclass
class Notice:
    level: str  # "error", "warning", "success" or "info"
    text: str
    created: float = field(default_factory=time.time)


@dataclass
class PendingOpen:
    """A pipeline that would replace one with unsaved changes: it waits until the user says so, with
    the messages about it (an import's problems, say), which are shown only if it opens."""

    pipeline: Pipeline
    saved_as: str | None
    version: int | None
    notices: list[Notice] = field(default_factory=list)


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
    pending_open: PendingOpen | None = None
    notices: list[Notice] = field(default_factory=list)
    revision: int = 0  # bumps on every change: the canvas takes the new state, the draft is written
    view: dict[str, float] | None = None  # the canvas viewport {x, y, zoom}; None: fit the pipeline
    canvas_generation: int = 0  # bumps when the canvas should start afresh (a new pipeline, a new layout)
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

    def open(
        self,
        pipeline: Pipeline,
        saved_as: str | None = None,
        version: int | None = None,
        *,
        saved_json: str | None = None,
        view: dict[str, float] | None = None,
    ) -> None:
        """Replace the pipeline (open, new, import, a draft): history starts afresh. `saved_json` is
        the saved form when `pipeline` holds edits on top of it (a draft); `view` where the canvas was."""
        if stacked(pipeline):
            auto_layout(pipeline)
        self.pipeline = pipeline
        self.saved_as = saved_as
        self.base_version = version
        self.saved_json = pipeline.to_json() if saved_json is None else saved_json
        self.undo_stack.clear()
        self.redo_stack.clear()
        self.selected = None
        self.selected_link = None
        self.pending_open = None
        self.view = view
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
        """A message for the user; while an open waits for confirmation, it belongs to that open."""
        (self.pending_open.notices if self.pending_open else self.notices).append(Notice(level, text))

    def ask_to_open(self, pipeline: Pipeline, saved_as: str | None, version: int | None) -> None:
        self.pending_open = PendingOpen(pipeline, saved_as, version)
        # A fresh canvas generation also gives the import uploader (keyed by it) a fresh, empty widget:
        # otherwise the file it still holds would import, and ask, again on every rerun.
        self.canvas_generation += 1

    def select(self, node_id: str | None) -> None:
        if node_id != self.selected:
            self.selected = node_id
            self.form_generation += 1

    # --- edits -------------------------------------------------------------------------------

    def add_node(
        self,
        node_type: NodeType,
        position: dict[str, float],
        link: Callable[[NodeSpec], PortLink | None] | None = None,
    ) -> str:
        """Add a node at `position` with a fresh id named after its type; `link(new_spec)` may name one
        link to make with it in the same step (so one undo takes both back)."""
        node_id = unique_node_id(self.pipeline, node_type.type_id.split(".", 1)[1])
        spec = NodeSpec(node_id, node_type.type_id, {}, {"x": float(position["x"]), "y": float(position["y"])})
        wanted = link(spec) if link else None

        def edit(pipeline: Pipeline) -> None:
            pipeline.nodes.append(spec)
            if wanted:
                replace_link(pipeline, wanted)

        self.change(edit)
        self.select(node_id)
        return node_id

    def connect_ports(self, registry: Registry, link: PortLink) -> str | None:
        """Link one output to one input, replacing a link already on that input; returns why the
        engine refuses it instead, if it does."""
        refusal = link_refusal(self.pipeline, registry, link)
        if refusal is None:
            self.change(lambda pipeline: replace_link(pipeline, link))
        return refusal

    def delete(self, node_ids: list[str], links: list[PortLink]) -> None:
        """Remove nodes (with their links) and links, as one undoable step."""
        gone = set(node_ids)

        def edit(pipeline: Pipeline) -> None:
            pipeline.nodes = [spec for spec in pipeline.nodes if spec.id not in gone]
            pipeline.edges = [
                edge
                for edge in pipeline.edges
                if edge.source not in gone and edge.target not in gone and port_link(edge) not in links
            ]

        self.change(edit)
        if self.selected in gone:
            self.select(None)

    def delete_node(self, node_id: str) -> None:
        self.delete([node_id], [])

    def move(self, positions: dict[str, dict[str, float]]) -> None:
        def edit(pipeline: Pipeline) -> None:
            for spec in pipeline.nodes:
                if spec.id in positions:
                    spec.position = {"x": float(positions[spec.id]["x"]), "y": float(positions[spec.id]["y"])}

        self.change(edit)

    def paste(self, node_ids: list[str], offset: dict[str, float]) -> list[str]:
        """Copies of nodes, parameters included, under fresh ids and shifted by `offset`; links among
        the copied nodes are copied too. Returns the new ids."""
        originals = [spec for spec in self.pipeline.nodes if spec.id in set(node_ids)]
        renamed: dict[str, str] = {}
        copies = []
        for spec in originals:
            taken = Pipeline(nodes=self.pipeline.nodes + copies)
            renamed[spec.id] = unique_node_id(taken, spec.id)
            position = {"x": spec.position["x"] + float(offset["x"]), "y": spec.position["y"] + float(offset["y"])}
            copies.append(NodeSpec(renamed[spec.id], spec.type, copy.deepcopy(spec.params), position))
        links = [
            Edge(renamed[edge.source], renamed[edge.target], edge.source_port, edge.target_port)
            for edge in self.pipeline.edges
            if edge.source in renamed and edge.target in renamed
        ]

        def edit(pipeline: Pipeline) -> None:
            pipeline.nodes.extend(copies)
            pipeline.edges.extend(links)

        self.change(edit)
        if copies:
            self.select(copies[0].id)
        return [spec.id for spec in copies]

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
        """Parameters hold only what differs from the default, like a hand-written file. The value a
        parameter already holds changes nothing, and neither does a value for a node that is gone: a
        form can send its last value again after the inspector switched to another node (Streamlit
        calls a field's on_change then), and that must neither drop a default the file spells out nor
        fail on a node just deleted."""
        if not self.pipeline.has_node(node_id):
            return

        def edit(pipeline: Pipeline) -> None:
            params = pipeline.node(node_id).params
            if name in params and params[name] == value:
                return
            if value == default:
                params.pop(name, None)
            else:
                params[name] = value

        self.change(edit)

    def connect(self, source: str, target: str, ports: list[tuple[str, str]]) -> None:
        """Links between two nodes whose ports the engine has already chosen (the inspector's link panel)."""
        self.change(lambda p: p.edges.extend(Edge(source, target, out, into) for out, into in ports))

    def disconnect(self, source: str, target: str, target_port: str | None = None) -> None:
        def edit(pipeline: Pipeline) -> None:
            pipeline.edges = [
                edge
                for edge in pipeline.edges
                if not (edge.source == source and edge.target == target and target_port in (None, edge.target_port))
            ]

        self.change(edit)


def port_link(edge: Edge) -> PortLink:
    return (edge.source, edge.source_port or "", edge.target, edge.target_port or "")


def replace_link(pipeline: Pipeline, link: PortLink) -> None:
    """Add a link; one input takes one link, so whatever fed that input goes."""
    if link in map(port_link, pipeline.edges):
        return  # already there: no change, nothing to undo
    source, source_port, target, target_port = link
    pipeline.edges = [edge for edge in pipeline.edges if (edge.target, edge.target_port) != (target, target_port)]
    pipeline.edges.append(Edge(source, target, source_port, target_port))


def registry() -> Registry:
    return discover()
