"""Property tests: nothing a user can hand to load_pipeline makes it raise anything but PipelineInvalid."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings

from nodeloom.engine.planner import plan
from nodeloom.engine.validation import PipelineInvalid, load_pipeline
from tests.support.engine_nodes import REGISTRY
from tests.support.graph_strategies import json_values, random_graphs


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
