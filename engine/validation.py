"""Reading and checking pipelines. Every problem is reported at once, each naming its node or edge.

`load_pipeline` is the one door into the engine: whatever it is handed (text, bytes, a dict,
arbitrary JSON), it returns a checked `Pipeline` with every edge's ports resolved, or raises
`PipelineInvalid` listing all problems. It raises nothing else. With `strict=False` (an editor
opening a pipeline that does not validate yet) it raises nothing at all and returns the pipeline as
far as it reads, with its problems.
"""

from __future__ import annotations

import difflib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

import networkx as nx
from pydantic import ValidationError

from nodeloom.engine.connect import Mismatch, describe_node, resolve_link
from nodeloom.engine.files import RefusedPath, folder_files, readable, writable
from nodeloom.engine.limits import NODE_ID_RULE, is_node_id, nested_too_deeply, shown, too_deep, too_large
from nodeloom.engine.node import NodeType, Registry, discover
from nodeloom.engine.params import plain_error, written_paths
from nodeloom.engine.paths import nodeloom_home
from nodeloom.engine.pipeline import (
    KNOWN_KEYS,
    SCHEMA_VERSION,
    Edge,
    NodeSpec,
    Pipeline,
    PipelineSettings,
    headline_parts,
)
from nodeloom.engine.types import METRICS


@dataclass(frozen=True)
class Problem:
    code: str  # stable machine-readable kind, e.g. "unknown_type", "cycle"
    message: str  # what is wrong and what would fix it
    node: str | None = None  # the node at fault, when there is one
    edge: int | None = None  # index of the edge at fault in the file's edge list

    def __str__(self) -> str:
        return self.message


class PipelineInvalid(Exception):
    """The pipeline cannot run; `problems` lists everything that is wrong."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(f"- {problem}" for problem in problems))


def param_problems(node_type: NodeType, params: Any, node_id: str) -> list[Problem]:
    """Check a node's parameters against its model; one problem per failing parameter."""
    where = describe_node(node_id, node_type.type_id)
    if not isinstance(params, dict):
        return [Problem("params", f"{where}: 'params' must be an object, got {type(params).__name__}", node_id)]
    try:
        node_type.params.model_validate(params)
    except ValidationError as exc:
        known = ", ".join(node_type.params.model_fields) or "none"
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]) or "params"
            if error["type"] == "extra_forbidden":
                close = difflib.get_close_matches(name, list(node_type.params.model_fields), n=1)
                hint = f" — did you mean '{close[0]}'?" if close else ""
                message = f"{where}: unknown parameter '{name}'{hint} Known parameters: {known}"
            elif error["type"] == "missing":
                field_info = node_type.params.model_fields.get(name)
                about = f" ({field_info.description})" if field_info and field_info.description else ""
                message = f"{where}: parameter '{name}' is required{about}"
            elif not error["loc"]:  # a rule across parameters, in its own words
                message = f"{where}: {plain_error(error)}"
            else:
                message = f"{where}: parameter '{name}' {plain_error(error)} (got {error.get('input')!r})"
            problems.append(Problem("params", message, node_id))
        return problems
    return []


def _read_file(path: Path) -> tuple[bytes | None, list[Problem]]:
    """The bytes of a pipeline file, after checking from `stat` alone (a FIFO would block a read, a device
    never end it) that it is a regular file within MAX_PIPELINE_BYTES."""
    try:
        info = path.stat()
    except OSError as exc:
        return None, [Problem("file", f"cannot read pipeline file {path}: {exc.strerror or exc}")]
    if not stat.S_ISREG(info.st_mode):
        return None, [Problem("file", f"pipeline file {path} is not a regular file; give a .json file")]
    refused = too_large(info.st_size)
    if refused:
        return None, [Problem("size", f"{refused}: {path} cannot be a pipeline; check that it is the file you meant")]
    try:
        return path.read_bytes(), []
    except OSError as exc:
        return None, [Problem("file", f"cannot read pipeline file {path}: {exc.strerror or exc}")]


def file_problems(node_type: NodeType, params: dict[str, Any], node_id: str) -> list[Problem]:
    """Check the files a node declares it reads (`external_files`) from `stat` alone: each must be a regular file
    or a folder it can read, or not exist yet (the node says so when it needs it). Devices, FIFOs, /proc and the
    like are refused here, before anything runs or opens them."""
    if node_type.external_files is None:
        return []
    where = describe_node(node_id, node_type.type_id)
    try:
        paths = list(node_type.external_files(node_type.params.model_validate(params)))
    except Exception as exc:  # a node's own helper failing on a hostile value: a problem, not a crash
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        return [Problem("path", f"{where}: cannot tell which files it reads ({reason}); check its paths", node_id)]
    problems = []
    written = {path for _, path, _ in written_paths(node_type.params, params)}  # output_problems checks those
    for path in paths:
        if path in written:
            continue
        try:
            kind, expanded_path = readable(path)
            if kind == "folder":
                folder_files(expanded_path)
        except RefusedPath as exc:
            name = _parameter_holding(params, path)
            field_info = node_type.params.model_fields.get(name or "")
            owner = f"parameter '{name}': path" if name else "path"
            expected = f"; expected: {field_info.description}" if field_info and field_info.description else ""
            problems.append(Problem("path", f"{where}: {owner} {shown(path, 120)} {exc}{expected}", node_id))
    return problems


def output_problems(node_type: NodeType, params: dict[str, Any], node_id: str) -> list[Problem]:
    """Check the paths a node writes (parameters declared with `param_rules(writes=...)`) from `stat` and
    `access` alone, so that a save that can only fail is refused before the run, not after the training before
    it. Nothing is created: a missing parent folder is fine when it can be created. What is already at the path
    is not checked here: only a run that executes the save would replace it (`planner.overwrite_refusals`)."""
    where = describe_node(node_id, node_type.type_id)
    problems = []
    for name, path, kind in written_paths(node_type.params, params):
        try:
            target = writable(path, kind, nodeloom_home())
            if kind == "folder" and os.path.isdir(target):
                folder_files(target)  # what it replaces is fingerprinted into its cache key
        except RefusedPath as exc:
            message = f"{where}: parameter '{name}': path {shown(path, 120)} {exc}; pick another {kind}"
            problems.append(Problem("path", message, node_id))
    return problems


def _parameter_holding(params: dict[str, Any], path: str) -> str | None:
    """The parameter whose value is `path` (or a list holding it); None for a file the node found itself."""
    holds = (name for name, value in params.items() if value == path or (isinstance(value, list) and path in value))
    return next(holds, None)


def _parse_json(source: Any) -> tuple[Any, list[Problem]]:
    """Parsed JSON within the limits of `engine.limits` (size, nesting), or the problems that refuse it."""
    if isinstance(source, Path):
        source, problems = _read_file(source)
        if problems:
            return None, problems
    if isinstance(source, (str, bytes, bytearray)):
        refused = too_large(len(source.encode("utf-8", "surrogatepass")) if isinstance(source, str) else len(source))
        if refused:
            return None, [Problem("size", refused)]
    if isinstance(source, (bytes, bytearray)):
        try:
            source = bytes(source).decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, [Problem("json", f"the pipeline is not UTF-8 text (byte {exc.start})")]
    if isinstance(source, str):
        try:
            source = json.loads(source)
        except json.JSONDecodeError as exc:
            return None, [Problem("json", f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")]
        except RecursionError:
            return None, [Problem("nesting", nested_too_deeply())]
    deep = too_deep(source)
    if deep:
        return None, [Problem("nesting", deep)]
    return source, []


def _read_settings(raw: Any, problems: list[Problem]) -> PipelineSettings:
    if not isinstance(raw, dict):
        problems.append(Problem("settings", "'settings' must be an object"))
        return PipelineSettings()
    try:
        return PipelineSettings.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            problems.append(Problem("settings", f"setting '{where}': {plain_error(error)}"))
        return PipelineSettings.model_construct(**raw)  # kept as written, so an editor saves them back


def _read_nodes(raw_nodes: Any, registry: Registry, problems: list[Problem]) -> list[NodeSpec]:
    if not isinstance(raw_nodes, list):
        problems.append(Problem("nodes", "'nodes' must be a list of node objects"))
        return []
    specs: list[NodeSpec] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_nodes):
        if not isinstance(raw, dict):
            problems.append(Problem("nodes", f"nodes[{index}] must be an object with 'id' and 'type'"))
            continue
        node_id, type_id = raw.get("id"), raw.get("type")
        if not isinstance(node_id, str) or not node_id:
            problems.append(Problem("nodes", f"nodes[{index}]: 'id' must be a non-empty string"))
            continue
        if node_id in seen:
            problems.append(Problem("duplicate_id", f"node id '{node_id}' is used more than once", node_id))
            continue
        seen.add(node_id)
        if not is_node_id(node_id):  # kept below all the same, so its edges do not read as dangling
            problems.append(
                Problem(
                    "node_id",
                    f"nodes[{index}]: node id {shown(node_id)} is not allowed: use {NODE_ID_RULE} "
                    "(an id is a name, never a path: it names the node's working folder)",
                    node_id,
                )
            )
        if not isinstance(type_id, str):
            problems.append(Problem("unknown_type", f"node '{node_id}': 'type' must be a string", node_id))
            continue
        params = raw.get("params", {})
        position = raw.get("position") or {"x": 0.0, "y": 0.0}
        if not isinstance(position, dict) or not all(
            isinstance(position.get(axis), (int, float)) and not isinstance(position.get(axis), bool)
            for axis in ("x", "y")
        ):
            problems.append(
                Problem("position", f"node '{node_id}': 'position' must be {{\"x\": number, \"y\": number}}", node_id)
            )
            position = {"x": 0.0, "y": 0.0}
        node_type = registry.get(type_id)
        if node_type is None:
            close = difflib.get_close_matches(type_id, list(registry.types), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else "; see `nodeloom nodes`"
            problems.append(Problem("unknown_type", f"node '{node_id}': unknown node type '{type_id}'{hint}", node_id))
        else:
            found = param_problems(node_type, params, node_id)
            problems.extend(
                found or [*file_problems(node_type, params, node_id), *output_problems(node_type, params, node_id)]
            )
        specs.append(
            NodeSpec(
                node_id,
                type_id,
                dict(params) if isinstance(params, dict) else {},
                {"x": float(position["x"]), "y": float(position["y"])},
            )
        )
    return specs


def _read_edges(raw_edges: Any, nodes: dict[str, NodeSpec], problems: list[Problem]) -> list[Edge | None]:
    if not isinstance(raw_edges, list):
        problems.append(Problem("edges", "'edges' must be a list of edge objects"))
        return []
    edges: list[Edge | None] = []
    for index, raw in enumerate(raw_edges):
        edge = None
        if not isinstance(raw, dict):
            problems.append(
                Problem("edges", f"edges[{index}] must be an object with 'source' and 'target'", edge=index)
            )
        else:
            values = {key: raw.get(key) for key in ("source", "target", "source_port", "target_port")}
            if not all(isinstance(values[key], str) for key in ("source", "target")) or not all(
                values[key] is None or isinstance(values[key], str) for key in ("source_port", "target_port")
            ):
                problems.append(
                    Problem(
                        "edges",
                        f"edges[{index}]: 'source' and 'target' must be node ids (strings), ports strings or omitted",
                        edge=index,
                    )
                )
            else:
                edge = Edge(str(values["source"]), str(values["target"]), values["source_port"], values["target_port"])
                for end in ("source", "target"):
                    if getattr(edge, end) not in nodes:
                        problems.append(
                            Problem(
                                "missing_node",
                                f"edge {index} ({edge.label()}): {end} node '{getattr(edge, end)}' does not exist",
                                edge=index,
                            )
                        )
                        edge = None
                        break
        edges.append(edge)
    return edges


def resolve_ports(
    edges: list[Edge | None], nodes: dict[str, NodeSpec], registry: Registry, problems: list[Problem]
) -> None:
    """Fill in omitted ports and check types (the rule is `engine.connect`). Named target ports claim
    their input first, then edges without one take the first free input that fits, in file order."""
    taken: dict[str, dict[str, str]] = {}  # target node -> its connected inputs -> "edge N"
    ordered = sorted(
        (index for index, edge in enumerate(edges) if edge is not None),
        key=lambda index: edges[index].target_port is None,  # type: ignore[union-attr]
    )
    for index in ordered:
        edge = edges[index]
        assert edge is not None
        source_type = registry.get(nodes[edge.source].type)
        target_type = registry.get(nodes[edge.target].type)
        if source_type is None or target_type is None:
            continue  # the unknown type is already reported
        held = taken.setdefault(edge.target, {})
        resolved = resolve_link(
            edge.source, source_type, edge.target, target_type, held, edge.source_port, edge.target_port
        )
        if isinstance(resolved, Mismatch):
            message = f"edge {index} ({edge.label()}): {resolved.message}"
            problems.append(Problem(resolved.code, message, resolved.node, index))
            continue
        edge.source_port, edge.target_port = resolved
        held[edge.target_port] = f"edge {index}"


def _graph_problems(pipeline: Pipeline, registry: Registry) -> list[Problem]:
    problems: list[Problem] = []
    graph = nx.DiGraph()
    graph.add_nodes_from(spec.id for spec in pipeline.nodes)
    graph.add_edges_from((edge.source, edge.target) for edge in pipeline.edges)
    reported: set[frozenset[str]] = set()
    for cycle in nx.simple_cycles(graph):
        if frozenset(cycle) in reported:
            continue
        reported.add(frozenset(cycle))
        path = " → ".join([*cycle, cycle[0]])
        problems.append(Problem("cycle", f"cycle: {path}; remove one of these edges", cycle[0]))
        if len(reported) >= 10:
            break
    connected = {(edge.target, edge.target_port) for edge in pipeline.edges}
    for spec in pipeline.nodes:
        node_type = registry.get(spec.type)
        if node_type is None:
            continue
        for port in node_type.inputs:
            if port.required and (spec.id, port.name) not in connected:
                problems.append(
                    Problem(
                        "unconnected",
                        f"{describe_node(spec.id, spec.type)}: "
                        f"required input '{port.name}' ({port.type}) is not connected",
                        spec.id,
                    )
                )
    return problems


def _presentation_problems(pipeline: Pipeline, registry: Registry) -> list[Problem]:
    """Each headline metric must name a node of this pipeline that records metrics. Which numbers a node records
    is known once it has run: presentation mode names a metric the run lacks."""
    problems: list[Problem] = []
    node_ids = [spec.id for spec in pipeline.nodes]
    for entry in getattr(pipeline.settings.presentation, "headline", None) or []:  # as written when it failed
        if not isinstance(entry, str):
            continue  # reported by the settings check
        node_id, _ = headline_parts(entry, node_ids)
        where = f"setting 'presentation.headline': {entry!r}"
        if node_id not in node_ids:
            close = difflib.get_close_matches(node_id, node_ids, n=1)
            hint = f"did you mean '{close[0]}'?" if close else "write NODE.METRIC with a node of this pipeline"
            problems.append(Problem("settings", f"{where} names no node '{node_id}'; {hint}"))
            continue
        node_type = registry.get(pipeline.node(node_id).type)
        if node_type is not None and not any(port.type == METRICS for port in node_type.outputs):
            problems.append(
                Problem("settings", f"{where}: node '{node_id}' ({node_type.type_id}) records no metrics", node_id)
            )
    return problems


@dataclass
class Loaded:
    """A pipeline as read, with everything wrong with it: `load_pipeline(..., strict=False)`.

    Ports are resolved where they can be; an edge that cannot be resolved is kept as written, so an
    editor still shows it. Nodes and edges too malformed to represent are left out (and reported)."""

    pipeline: Pipeline | None  # None when the source holds no pipeline: not a JSON object with node and edge lists
    problems: list[Problem]


@overload
def load_pipeline(source: Any, registry: Registry | None = None, *, strict: Literal[True] = True) -> Pipeline: ...


@overload
def load_pipeline(source: Any, registry: Registry | None = None, *, strict: Literal[False]) -> Loaded: ...


def load_pipeline(source: Any, registry: Registry | None = None, *, strict: bool = True) -> Pipeline | Loaded:
    """Parse and check a pipeline (JSON text, bytes, a Path or already-parsed JSON).

    strict (for running): the checked pipeline, or `PipelineInvalid` listing every problem.
    Not strict (for editing): a `Loaded` holding the pipeline as far as it can be read and its
    problems; it raises nothing."""
    loaded = _read_pipeline(source, discover() if registry is None else registry)
    if not strict:
        return loaded
    if loaded.problems:
        raise PipelineInvalid(loaded.problems)
    assert loaded.pipeline is not None, "a source without a pipeline always has a problem"
    return loaded.pipeline


def _read_pipeline(source: Any, registry: Registry) -> Loaded:
    data, problems = _parse_json(source)
    if problems:
        return Loaded(None, problems)
    if not isinstance(data, dict):
        return Loaded(None, [Problem("json", f"a pipeline must be a JSON object, got {type(data).__name__}")])
    version = data.get("schema_version")
    if version is None:
        problems.append(Problem("schema_version", f"missing 'schema_version' (this NodeLoom writes {SCHEMA_VERSION})"))
    elif version != SCHEMA_VERSION or isinstance(version, bool):
        problems.append(
            Problem(
                "schema_version",
                f"unsupported schema_version {version!r}; this NodeLoom reads version {SCHEMA_VERSION}",
            )
        )
    name, description = data.get("name", "untitled"), data.get("description", "")
    for key, value in (("name", name), ("description", description)):
        if not isinstance(value, str):
            problems.append(Problem(key, f"'{key}' must be a string"))
    settings = _read_settings(data.get("settings", {}), problems)
    raw_nodes, raw_edges = data.get("nodes"), data.get("edges", [])
    if raw_nodes is None:
        problems.append(Problem("nodes", "'nodes' is missing: a pipeline lists its nodes ('nodes': [] for none yet)"))
    specs = _read_nodes(raw_nodes, registry, problems) if raw_nodes is not None else []
    by_id = {spec.id: spec for spec in specs}
    edges = _read_edges(raw_edges, by_id, problems)
    resolve_ports(edges, by_id, registry, problems)
    pipeline = Pipeline(
        name=name if isinstance(name, str) else "untitled",
        description=description if isinstance(description, str) else "",
        settings=settings,
        nodes=specs,
        edges=[edge for edge in edges if edge is not None],  # unresolved ones only where problems say why
        extra={key: value for key, value in data.items() if key not in KNOWN_KEYS},
    )
    problems.extend(_graph_problems(pipeline, registry))
    problems.extend(_presentation_problems(pipeline, registry))
    holds_pipeline = isinstance(raw_nodes, list) and isinstance(raw_edges, list)
    return Loaded(pipeline if holds_pipeline else None, problems)


def parse_set_value(text: str) -> Any:
    """`--set` values are JSON where they parse as JSON, else plain strings."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return text


def apply_overrides(data: Any, assignments: list[str], option: str = "--set") -> tuple[Any, list[Problem]]:
    """Apply `NODE.PARAM=VALUE` and `settings.KEY=VALUE` assignments to parsed pipeline JSON; the result is
    validated as usual. `settings.` means the pipeline's settings unless the pipeline has a node called 'settings'.
    Problems name the assignment as given with `option` (`--set`, or `--grid` for a sweep's values)."""
    problems: list[Problem] = []
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        return data, problems
    nodes = {raw.get("id"): raw for raw in data["nodes"] if isinstance(raw, dict) and isinstance(raw.get("id"), str)}
    for assignment in assignments:
        target, equals, value = assignment.partition("=")
        node_id, dot, param = target.partition(".")
        if not equals or not dot or not node_id or not param:
            problems.append(Problem("set", f"{option} {assignment!r}: expected NODE.PARAM=VALUE or settings.KEY=VALUE"))
            continue
        if node_id == "settings" and node_id not in nodes:
            problems.extend(_apply_setting(data, f"{option} {assignment!r}", param, value))
            continue
        if node_id not in nodes:
            close = difflib.get_close_matches(node_id, [str(key) for key in nodes], n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            problems.append(
                Problem("set", f"{option} {assignment!r}: no node '{node_id}' in this pipeline{hint}", node_id)
            )
            continue
        params = nodes[node_id].setdefault("params", {})
        if isinstance(params, dict):
            params[param] = parse_set_value(value)
    return data, problems


def _apply_setting(data: dict[str, Any], given: str, key: str, value: str) -> list[Problem]:
    """`given`: the assignment as the user wrote it, option included, for the message."""
    known = list(PipelineSettings.model_fields)
    if key not in known:
        return [Problem("set", f"{given}: no setting '{key}'; the settings are {', '.join(known)}")]
    settings = data.setdefault("settings", {})
    if isinstance(settings, dict):  # anything else is reported by load_pipeline
        settings[key] = parse_set_value(value)
    return []


def read_pipeline_json(source: Any) -> Any:
    """Parse without checking (for tools that patch the JSON before `load_pipeline`)."""
    data, problems = _parse_json(source)
    if problems:
        raise PipelineInvalid(problems)
    return data
