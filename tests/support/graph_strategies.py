"""Hypothesis strategies for what a user might hand to load_pipeline: any JSON, and random graphs of the
engine test node types (tests/support/engine_nodes.py) with unknown types, ports and settings mixed in."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.support.engine_nodes import REGISTRY

TYPES = [t.type_id for t in REGISTRY] + ["test.unknown", "", "x"]
PORTS = ["value", "a", "b", "data", "model", "tokens", "metrics", "nope"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@st.composite
def random_graphs(draw):
    ids = draw(st.lists(st.sampled_from(list("abcdefg")), min_size=0, max_size=7))
    nodes = [
        {
            "id": node_id,
            "type": draw(st.sampled_from(TYPES)),
            "params": draw(
                st.one_of(
                    st.just({}),
                    st.dictionaries(st.sampled_from(["value", "mode", "seconds", "x"]), json_values, max_size=2),
                    json_values,
                )
            ),
            **({"position": draw(json_values)} if draw(st.booleans()) else {}),
        }
        for node_id in ids
    ]
    edge = st.fixed_dictionaries(
        {"source": st.sampled_from(list("abcdefgz")), "target": st.sampled_from(list("abcdefgz"))},
        optional={"source_port": st.sampled_from(PORTS) | json_values, "target_port": st.sampled_from(PORTS)},
    )
    edges = draw(st.lists(edge | json_values, max_size=10))
    top = {"schema_version": draw(st.sampled_from([1, 1, 1, 2, "1", None])), "nodes": nodes, "edges": edges}
    if draw(st.booleans()):
        top["settings"] = draw(st.dictionaries(st.sampled_from(["seed", "device", "other"]), json_values, max_size=3))
    return top
