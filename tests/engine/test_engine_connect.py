"""The one port rule: which output may feed which input, for validation, the canvas and the browser."""

from __future__ import annotations

import json

import pytest

from nodeloom.engine.connect import (
    Mismatch,
    closes_cycle,
    compatibility_table,
    fits,
    link_options,
    port_pairs,
    resolve_link,
)
from nodeloom.engine.node import discover
from nodeloom.engine.pipeline import Edge, NodeSpec, Pipeline
from nodeloom.engine.validation import resolve_ports
from tests.support.engine_nodes import REGISTRY

TYPED = REGISTRY.get("test.typed")
SOURCE = REGISTRY.get("test.source")
ADD = REGISTRY.get("test.add")


def graph(*nodes: tuple[str, str], edges: tuple[tuple[str, str, str, str], ...] = ()) -> Pipeline:
    return Pipeline(
        name="t",
        nodes=[NodeSpec(node_id, type_id) for node_id, type_id in nodes],
        edges=[Edge(*edge) for edge in edges],
    )


def test_pairs_list_outputs_first_and_let_a_subtype_fit_its_parent():
    # data (dataset) and tokens (tokenized_dataset) out; data, model and tokens in
    assert port_pairs(TYPED, TYPED, {}) == [("data", "data"), ("tokens", "data"), ("tokens", "tokens")]


def test_a_connected_input_and_named_ports_narrow_the_pairs():
    assert port_pairs(TYPED, TYPED, {"data": "edge 0"}) == [("tokens", "tokens")]
    assert port_pairs(TYPED, TYPED, {}, source_port="tokens") == [("tokens", "data"), ("tokens", "tokens")]
    assert port_pairs(TYPED, TYPED, {}, target_port="tokens") == [("tokens", "tokens")]


def test_resolving_names_what_is_wrong():
    assert resolve_link("s", SOURCE, "a", ADD, {}) == ("value", "a")
    assert resolve_link("s", SOURCE, "a", ADD, {"a": "edge 0"}) == ("value", "b")
    cases = {
        "no output": (dict(source_port="nope"), "port", "s"),
        "no input": (dict(target_port="nope"), "port", "a"),
        "taken": (dict(target_port="a"), "port", "a"),
    }
    for name, (ports, code, node) in cases.items():
        found = resolve_link("s", SOURCE, "a", ADD, {"a": "edge 3"}, **ports)
        assert isinstance(found, Mismatch) and (found.code, found.node) == (code, node), name
    taken = resolve_link("s", SOURCE, "a", ADD, {"a": "edge 3"}, target_port="a")
    assert "already connected by edge 3" in taken.message
    wrong_type = resolve_link("s", SOURCE, "t", TYPED, {}, target_port="model")
    assert wrong_type.code == "type" and "expects model" in wrong_type.message
    full = resolve_link("s", SOURCE, "a", ADD, {"a": "x.value", "b": "y.value"})
    assert full.code == "no_free_input" and "'a' (by x.value)" in full.message


def test_a_link_is_refused_when_it_would_close_a_cycle():
    chain = graph(
        ("s", "test.source"),
        ("a", "test.add"),
        ("b", "test.add"),
        edges=(("s", "a", "value", "a"), ("a", "b", "value", "a")),
    )
    assert closes_cycle(chain, "b", "a") and closes_cycle(chain, "a", "a")
    assert not closes_cycle(chain, "s", "b")
    assert "cycle" in link_options(chain, REGISTRY, "b", "a").refusal
    assert link_options(chain, REGISTRY, "s", "b").choices == [("value", "b")]


def test_an_impossible_link_names_both_sides():
    pipeline = graph(("t", "test.typed"), ("a", "test.add"))
    options = link_options(pipeline, REGISTRY, "t", "a")
    assert options.choices == []
    assert "'t'" in options.refusal and "'a'" in options.refusal
    assert "dataset" in options.refusal and "text" in options.refusal


@pytest.mark.parametrize("registry", [REGISTRY, discover()], ids=["test nodes", "built-in nodes"])
def test_the_compatibility_table_agrees_with_the_rule(registry):
    table = compatibility_table(registry)
    assert json.loads(json.dumps(table)) == table
    for source in registry:
        for output in source.outputs:
            for target in registry:
                for into in target.inputs:
                    assert fits(output, into) == (into.type.name in table[output.type.name]), (output, into)


def test_validation_resolves_a_portless_edge_to_the_canvas_default():
    """A file edge without ports and a link drawn on the canvas mean the same pair."""
    for source in REGISTRY:
        for target in REGISTRY:
            pipeline = graph(("x", source.type_id), ("y", target.type_id))
            options = link_options(pipeline, REGISTRY, "x", "y")
            edge, problems = Edge("x", "y"), []
            resolve_ports([edge], {spec.id: spec for spec in pipeline.nodes}, REGISTRY, problems)
            resolved = [(edge.source_port, edge.target_port)] if not problems else []
            assert options.choices[:1] == resolved, (source.type_id, target.type_id)
