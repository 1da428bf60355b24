"""Property tests: nothing a user can hand to load_pipeline makes it raise anything but PipelineInvalid."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodeloom.engine.planner import plan
from nodeloom.engine.validation import PipelineInvalid, load_pipeline
from tests.engine_nodes import REGISTRY

TYPES = [t.type_id for t in REGISTRY] + ["test.unknown", "", "x"]
PORTS = ["value", "a", "b", "data", "model", "tokens", "metrics", "nope"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def load_or_invalid(data):
    try:
        return load_pipeline(data, REGISTRY)
    except PipelineInvalid as exc:
        assert exc.problems and all(str(problem) for problem in exc.problems)
        return None


@given(json_values)
@settings(max_examples=300, deadline=None)
def test_arbitrary_json_only_ever_gives_pipeline_invalid(data):
    load_or_invalid(data)
    load_or_invalid(json.dumps(data))


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


@given(random_graphs())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_graphs_validate_or_explain_and_valid_ones_plan(data):
    pipeline = load_or_invalid(data)
    if pipeline is not None:
        order = plan(pipeline)
        position = {node_id: index for index, node_id in enumerate(order)}
        assert sorted(order) == sorted(spec.id for spec in pipeline.nodes)
        assert all(position[e.source] < position[e.target] for e in pipeline.edges)
        assert all(e.source_port and e.target_port for e in pipeline.edges)
