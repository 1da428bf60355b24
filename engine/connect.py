"""Which output may feed which input: the one rule, used by validation, the canvas and the browser.

An output may feed an input when the input's type accepts the output's type (a subtype fits where
its parent is expected) and the input is still free: one input takes one link, an output feeds any
number. An edge that omits its ports takes the first output, in declaration order, that fits a free
input, and the first such input; naming a port narrows the choice to it. A link is refused when it
would close a cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import networkx as nx

from nodeloom.engine.limits import describe_node
from nodeloom.engine.node import Input, NodeType, Output, Registry
from nodeloom.engine.pipeline import Pipeline
from nodeloom.engine.planner import build_graph

PortPair = tuple[str, str]  # (output name, input name)


@dataclass(frozen=True)
class Mismatch:
    """Why an edge cannot be resolved to a pair of ports."""

    code: str  # "port" (no such port, input taken), "type" (a named input refuses) or "no_free_input"
    message: str
    node: str  # the node at fault


@dataclass(frozen=True)
class LinkOptions:
    """What a link drawn from one node to another may mean."""

    choices: list[PortPair]  # every allowed pair, in resolution order (the first is the default)
    refusal: str = ""  # why there is no choice at all


def fits(output: Output, into: Input) -> bool:
    return into.type.accepts(output.type)


def port_pairs(
    source: NodeType,
    target: NodeType,
    taken: Mapping[str, str],
    source_port: str | None = None,
    target_port: str | None = None,
) -> list[PortPair]:
    """Every (output, input) pair allowed between two node types, outputs first in declaration order.

    `taken` maps the target's already-connected inputs to what holds them; named ports narrow the pairs."""
    return [
        (output.name, into.name)
        for output in source.outputs
        if source_port is None or output.name == source_port
        for into in target.inputs
        if (target_port is None or into.name == target_port) and into.name not in taken and fits(output, into)
    ]


def resolve_link(
    source_id: str,
    source: NodeType,
    target_id: str,
    target: NodeType,
    taken: Mapping[str, str],
    source_port: str | None = None,
    target_port: str | None = None,
) -> PortPair | Mismatch:
    """The ports an edge means (filling in omitted ones), or why it cannot mean any."""
    pairs = port_pairs(source, target, taken, source_port, target_port)
    if pairs:
        return pairs[0]
    return mismatch(source_id, source, target_id, target, taken, source_port, target_port)


def mismatch(
    source_id: str,
    source: NodeType,
    target_id: str,
    target: NodeType,
    taken: Mapping[str, str],
    source_port: str | None,
    target_port: str | None,
) -> Mismatch:
    """Why no (output, input) pair fits, for a caller that found none."""
    outputs = [port for port in source.outputs if source_port is None or port.name == source_port]
    if not outputs and source_port is not None:
        names = ", ".join(port.name for port in source.outputs) or "none"
        where = describe_node(source_id, source.type_id)
        return Mismatch("port", f"{where} has no output '{source_port}' (outputs: {names})", source_id)
    if target_port is not None:
        into = target.input(target_port)
        if into is None:
            names = ", ".join(port.name for port in target.inputs) or "none"
            where = describe_node(target_id, target.type_id)
            return Mismatch("port", f"{where} has no input '{target_port}' (inputs: {names})", target_id)
        if into.name in taken:
            message = f"input '{into.name}' of node '{target_id}' is already connected by {taken[into.name]}"
            return Mismatch("port", message, target_id)
        offered = ", ".join(f"'{port.name}' ({port.type})" for port in outputs) or "none"
        return Mismatch(
            "type",
            f"incompatible types — input '{into.name}' of node '{target_id}' expects {into.type}, "
            f"but node '{source_id}' offers {offered}",
            target_id,
        )
    offered = ", ".join(str(port.type) for port in outputs) or "nothing"
    free = ", ".join(f"'{port.name}' ({port.type})" for port in target.inputs if port.name not in taken) or "none left"
    message = f"no free input of node '{target_id}' accepts {offered} from node '{source_id}'; free inputs: {free}"
    held = [f"'{name}' (by {holder})" for name, holder in taken.items() if target.input(name) is not None]
    if held:
        message += f"; already connected: {', '.join(held)}"
    return Mismatch("no_free_input", message, target_id)


# --- a link proposed on the canvas ---------------------------------------------------------------


def taken_inputs(pipeline: Pipeline, target: str) -> dict[str, str]:
    """The target's connected inputs, each with the output that feeds it."""
    return {
        edge.target_port: f"{edge.source}.{edge.source_port}"
        for edge in pipeline.incoming(target)
        if edge.target_port is not None
    }


def closes_cycle(pipeline: Pipeline, source: str, target: str) -> bool:
    """Whether a new link source → target would make the graph cyclic (a self-link included)."""
    graph = build_graph(pipeline)
    return source == target or (target in graph and source in graph and nx.has_path(graph, target, source))


def link_options(pipeline: Pipeline, registry: Registry, source: str, target: str) -> LinkOptions:
    """The port pairs a new link between two nodes of `pipeline` may mean, or why none."""
    refused = f"Cannot connect '{source}' → '{target}'"
    if source == target:
        return LinkOptions([], f"'{source}' cannot be connected to itself.")
    if closes_cycle(pipeline, source, target):
        return LinkOptions([], f"{refused}: it would make a cycle.")
    source_type, target_type = registry.get(pipeline.node(source).type), registry.get(pipeline.node(target).type)
    if source_type is None or target_type is None:
        return LinkOptions([], f"{refused}: unknown node type.")
    taken = taken_inputs(pipeline, target)
    choices = port_pairs(source_type, target_type, taken)
    if choices:
        return LinkOptions(choices)
    why = mismatch(source, source_type, target, target_type, taken, None, None)
    return LinkOptions([], f"{refused}: {why.message}.")


# --- the rule as data, for the browser -----------------------------------------------------------


def compatibility_table(registry: Registry) -> dict[str, list[str]]:
    """Output type name -> the input type names that accept it, over every port of `registry` (plain JSON)."""
    inputs = {port.type.name: port for node_type in registry for port in node_type.inputs}
    table: dict[str, list[str]] = {}
    for node_type in registry:
        for output in node_type.outputs:
            table.setdefault(output.type.name, [name for name, into in inputs.items() if fits(output, into)])
    return table
