"""Validation reports every problem at once, each naming its node or edge; ports resolve by type."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from pydantic import ValidationError

from nodeloom.engine.pipeline import Pipeline
from nodeloom.engine.validation import PipelineInvalid, load_pipeline
from tests.support.engine_nodes import REGISTRY
from tests.support.graph_strategies import json_values, random_graphs


def pipeline(nodes, edges=(), **top):
    return {"schema_version": 1, "name": "t", "nodes": list(nodes), "edges": list(edges), **top}


def problems_of(data) -> list:
    with pytest.raises(PipelineInvalid) as caught:
        load_pipeline(data, REGISTRY)
    return caught.value.problems


def codes(data) -> list[str]:
    return [problem.code for problem in problems_of(data)]


def test_not_json_and_not_an_object():
    assert codes("{nope") == ["json"]
    assert "line 1" in str(problems_of("{nope")[0])
    assert codes("[1, 2]") == ["json"]
    assert codes(b"\xff\xfe") == ["json"]


def test_schema_version_missing_or_unsupported():
    assert codes({"nodes": [], "edges": []}) == ["schema_version"]
    assert "unsupported schema_version 7" in str(problems_of(pipeline([], schema_version=7))[0])


def test_duplicate_ids_and_unknown_type_with_suggestion():
    found = problems_of(
        pipeline(
            [
                {"id": "a", "type": "test.source"},
                {"id": "a", "type": "test.source"},
                {"id": "b", "type": "test.sourse"},
            ]
        )
    )
    assert [p.code for p in found] == ["duplicate_id", "unknown_type"]
    assert found[0].node == "a"
    assert "did you mean 'test.source'" in found[1].message and found[1].node == "b"


def test_parameter_errors_name_the_parameter_and_allowed_values():
    found = problems_of(
        pipeline(
            [
                {"id": "s", "type": "test.source", "params": {"value": 5000, "mode": "odd", "valeu": 1}},
            ]
        )
    )
    messages = " | ".join(p.message for p in found)
    assert all(p.node == "s" for p in found) and len(found) == 3
    assert "parameter 'value' must be at most 1000 (got 5000)" in messages
    assert "parameter 'mode'" in messages and "plain|fancy" in messages
    assert "unknown parameter 'valeu'" in messages and "did you mean 'value'" in messages


def test_edges_to_missing_nodes_cycles_and_unconnected_inputs_all_reported_together():
    found = problems_of(
        pipeline(
            [
                {"id": "x", "type": "test.add"},
                {"id": "y", "type": "test.add"},
                {"id": "z", "type": "test.score"},
            ],
            [
                {"source": "x", "target": "y"},
                {"source": "y", "target": "x"},
                {"source": "ghost", "target": "z"},
            ],
        )
    )
    by_code = {p.code: p for p in found}
    assert set(by_code) == {"missing_node", "cycle", "unconnected"}
    assert "'ghost' does not exist" in by_code["missing_node"].message and by_code["missing_node"].edge == 2
    assert "x → y → x" in by_code["cycle"].message or "y → x → y" in by_code["cycle"].message
    assert by_code["unconnected"].node == "z" and "'value'" in by_code["unconnected"].message


def test_incompatible_types_and_no_free_input():
    found = problems_of(
        pipeline(
            [
                {"id": "s", "type": "test.source"},
                {"id": "t", "type": "test.typed"},
                {"id": "u", "type": "test.typed"},
                {"id": "a", "type": "test.add"},
            ],
            [
                {"source": "s", "target": "t", "target_port": "model"},
                {"source": "s", "target": "u"},
            ],
        )
    )
    by_code = {p.code: p for p in found if p.code in ("type", "no_free_input")}
    assert "expects model" in by_code["type"].message and "'value' (text)" in by_code["type"].message
    assert by_code["type"].edge == 0
    assert "no free input of node 'u' accepts text" in by_code["no_free_input"].message


def test_ports_resolve_in_declaration_order_and_subtypes_fit():
    result = load_pipeline(
        pipeline(
            [
                {"id": "s1", "type": "test.source"},
                {"id": "s2", "type": "test.source"},
                {"id": "a", "type": "test.add"},
            ],
            [{"source": "s1", "target": "a"}, {"source": "s2", "target": "a"}],
        ),
        REGISTRY,
    )
    assert [(e.source, e.source_port, e.target_port) for e in result.edges] == [
        ("s1", "value", "a"),
        ("s2", "value", "b"),
    ]


def test_named_target_port_is_claimed_before_auto_edges():
    result = load_pipeline(
        pipeline(
            [{"id": "s1", "type": "test.source"}, {"id": "s2", "type": "test.source"}, {"id": "a", "type": "test.add"}],
            [{"source": "s1", "target": "a"}, {"source": "s2", "target": "a", "target_port": "a"}],
        ),
        REGISTRY,
    )
    assert {(e.source, e.target_port) for e in result.edges} == {("s1", "b"), ("s2", "a")}


def test_a_tokenized_dataset_fits_a_dataset_input_but_not_the_reverse():
    typed = [{"id": "t1", "type": "test.typed"}, {"id": "t2", "type": "test.typed"}]
    ok = load_pipeline(
        pipeline(typed, [{"source": "t1", "target": "t2", "source_port": "tokens", "target_port": "data"}]), REGISTRY
    )
    assert ok.edges[0].target_port == "data"
    found = problems_of(
        pipeline(typed, [{"source": "t1", "target": "t2", "source_port": "data", "target_port": "tokens"}])
    )
    assert any(p.code == "type" for p in found)


def test_saved_file_writes_resolved_ports_and_keeps_unknown_keys():
    data = pipeline(
        [{"id": "s", "type": "test.source", "params": {"value": 2}}, {"id": "z", "type": "test.score"}],
        [{"source": "s", "target": "z"}],
        ui={"zoom": 1.5},
    )
    saved = json.loads(load_pipeline(data, REGISTRY).to_json())
    assert saved["edges"] == [{"source": "s", "target": "z", "source_port": "value", "target_port": "value"}]
    assert saved["ui"] == {"zoom": 1.5}
    assert load_pipeline(saved, REGISTRY).to_dict() == saved


def test_settings_are_checked():
    found = problems_of(pipeline([], settings={"device": "tpu", "seed": -1}))
    assert {p.code for p in found} == {"settings"} and len(found) == 2


def test_settings_are_read_once_and_written_back_as_the_file_had_them():
    loaded = load_pipeline(pipeline([], settings={"seed": 7, "note": {"by": "tool"}}), REGISTRY)
    assert (loaded.settings.seed, loaded.settings.device) == (7, "auto")
    assert loaded.to_dict()["settings"] == {"seed": 7, "note": {"by": "tool"}}  # no defaults added, extras kept
    with pytest.raises(ValidationError):
        loaded.settings.device = "tpu"  # checked on change too, by the same model
    assert Pipeline(settings={"device": "cpu"}).settings.device == "cpu"
    with pytest.raises(ValidationError):
        Pipeline(settings={"seed": -1})


def test_an_editor_keeps_settings_that_fail_their_check_as_written():
    loaded = load_pipeline(pipeline([], settings={"seed": "abc", "x": 1}), REGISTRY, strict=False)
    assert [p.code for p in loaded.problems] == ["settings"]
    assert loaded.pipeline.to_dict()["settings"] == {"seed": "abc", "x": 1}


# --- strict=False: the pipeline as far as it reads, with its problems -------------------------


def test_not_strict_gives_a_valid_pipeline_without_problems():
    nodes = [{"id": "s", "type": "test.source"}, {"id": "z", "type": "test.score"}]
    data = pipeline(nodes, [{"source": "s", "target": "z"}])
    loaded = load_pipeline(data, REGISTRY, strict=False)
    assert loaded.problems == [] and loaded.pipeline == load_pipeline(data, REGISTRY)


def test_not_strict_keeps_what_an_editor_must_show_and_lists_the_same_problems():
    data = pipeline(
        [
            {"id": "s", "type": "test.source", "params": {"value": 5000}},
            {"id": "t", "type": "test.typed"},
            {"id": "g", "type": "test.gone", "params": {"kept": True}},
            {"type": "test.source"},  # no id: cannot be represented
        ],
        [
            {"source": "s", "target": "t", "target_port": "model"},  # wrong type: kept as written
            {"source": "g", "target": "t"},  # unknown source type: kept unresolved
            {"source": "s", "target": "ghost"},  # to nowhere: left out
        ],
        ui={"zoom": 2},
    )
    loaded = load_pipeline(data, REGISTRY, strict=False)
    assert loaded.problems == problems_of(data)
    assert [spec.id for spec in loaded.pipeline.nodes] == ["s", "t", "g"]
    assert loaded.pipeline.node("s").params == {"value": 5000} and loaded.pipeline.node("g").params == {"kept": True}
    assert [(e.source, e.target, e.source_port, e.target_port) for e in loaded.pipeline.edges] == [
        ("s", "t", None, "model"),
        ("g", "t", None, None),
    ]
    assert loaded.pipeline.extra == {"ui": {"zoom": 2}}


@pytest.mark.parametrize(
    "source", ["{nope", "[1]", b"\xff", {"schema_version": 1, "nodes": {}}, {"schema_version": 1, "edges": 3}]
)
def test_not_strict_has_no_pipeline_when_the_source_holds_none(source):
    loaded = load_pipeline(source, REGISTRY, strict=False)
    assert loaded.pipeline is None and loaded.problems == problems_of(source)


@given(random_graphs() | json_values)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_not_strict_never_raises_and_agrees_with_strict(data):
    loaded = load_pipeline(data, REGISTRY, strict=False)
    try:
        checked = load_pipeline(data, REGISTRY)
    except PipelineInvalid as invalid:
        assert invalid.problems == loaded.problems
    else:
        assert loaded.problems == [] and loaded.pipeline == checked
