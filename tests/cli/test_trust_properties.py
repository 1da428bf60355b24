"""Property-based hostility (issue [trust]): every example pipeline mutated, and data files damaged.

Each mutation either validates and runs correctly or is refused cleanly: exit 0, 1 or 2, no exception out of the
command line, nothing written outside NODELOOM_HOME, and the runs stored before are unchanged. The number of
examples is fixed (derandomized), so CI time is bounded and a failure reproduces.
"""

from __future__ import annotations

import copy
import json
import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodeloom.cli import main
from nodeloom.engine.store import Store
from nodeloom.pipelines import example_files

EXAMPLES = {path.stem: json.loads(path.read_text()) for path in example_files()}
SETTINGS = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

hostile_text = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "../../etc/passwd",
        "/dev/zero",
        "~nosuchuser/x",
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "💥" * 50,
        "\u202eevil",
        "x" * 10_000,
        "NaN",
        "null",
        "{{template}}",
    ]
)
hostile_number = st.sampled_from([0, -1, -(10**18), 10**18, 10**300, 1e308, -1e-308, 0.5, 2**63])
json_values = st.recursive(
    st.none() | st.booleans() | hostile_number | hostile_text | st.floats(allow_nan=False),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(hostile_text, children, max_size=3),
    max_leaves=8,
)


DEEP = "@nested@"


def nested(depth: int) -> str:
    """A placeholder that `write` turns into `depth` lists inside each other in the file: json.dumps, and
    hypothesis reporting a failing example, would recurse through the real value and overflow past ~1000."""
    return f"{DEEP}{depth}"


@st.composite
def mutated_examples(draw) -> tuple[str, object]:
    name = draw(st.sampled_from(sorted(EXAMPLES)))
    data = copy.deepcopy(EXAMPLES[name])
    nodes, edges = data["nodes"], data["edges"]
    node = draw(st.sampled_from(nodes))
    kind = draw(
        st.sampled_from(
            [
                "param",
                "param",
                "param",
                "drop_key",
                "extra_key",
                "top_key",
                "cycle",
                "hostile_id",
                "many_nodes",
                "deep_param",
                "bad_edge",
                "settings",
                "wrong_shape",
            ]
        )
    )
    if kind == "param":
        params = node.setdefault("params", {})
        key = draw(st.sampled_from(sorted(params) or ["path"]) | hostile_text)
        params[key] = draw(json_values)
    elif kind == "drop_key":
        node.pop(draw(st.sampled_from(["id", "type", "params", "position"])), None)
    elif kind == "extra_key":
        node[draw(hostile_text)] = draw(json_values)
    elif kind == "top_key":
        key = draw(st.sampled_from(["nodes", "edges", "settings", "schema_version", "name", "description"]))
        if draw(st.booleans()):
            data.pop(key, None)
        else:
            data[key] = draw(json_values)
    elif kind == "cycle" and edges:
        edge = draw(st.sampled_from(edges))
        edges.append({"source": edge["target"], "target": edge["source"]})
    elif kind == "hostile_id":
        old, new = node["id"], draw(hostile_text)
        node["id"] = new
        for edge in edges:
            edge["source"] = new if edge["source"] == old else edge["source"]
            edge["target"] = new if edge["target"] == old else edge["target"]
    elif kind == "many_nodes":
        count = draw(st.sampled_from([1_000, 3_000]))
        nodes.extend({**copy.deepcopy(node), "id": f"copy{index}"} for index in range(count))
    elif kind == "deep_param":
        node.setdefault("params", {})[draw(st.sampled_from(sorted(node.get("params") or {"x": 0})))] = nested(
            draw(st.sampled_from([50, 500, 5_000]))
        )
    elif kind == "bad_edge":
        edges.append({"source": draw(hostile_text), "target": node["id"], "target_port": draw(hostile_text)})
    elif kind == "settings":
        data["settings"] = {draw(st.sampled_from(["seed", "device", "presentation"])): draw(json_values)}
    elif kind == "wrong_shape":
        data = draw(st.sampled_from([[], "pipeline", 3, None, {"nodes": {}}, {"nodes": [[]]}]))
    return name, data


@pytest.fixture
def stored_run(nodeloom_home, tmp_path) -> dict:
    """One run already in the store, to check that hostile files never change it."""
    pipeline = tmp_path / "stored.json"
    pipeline.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "name": "stored",
                "nodes": [
                    {
                        "id": "load",
                        "type": "data.load_dataset",
                        "params": {"source": "builtin", "name": "reviews_sentiment", "max_rows": 5},
                    }
                ],
                "edges": [],
            }
        )
    )
    assert main(["run", str(pipeline), "-q"]) == 0
    with Store.open() as store:
        [run] = store.list_runs()
        return store.get_run(run.id).to_dict()


def assert_store_unchanged(stored: dict) -> None:
    with Store.open() as store:
        assert store.get_run(stored["id"]).to_dict() == stored


def write(path: Path, data: object) -> Path:
    text = json.dumps(data, allow_nan=True) if not isinstance(data, str) else data
    text = re.sub(f'"{DEEP}(\\d+)"', lambda found: "[" * int(found[1]) + '"deep"' + "]" * int(found[1]), text)
    path.write_text(text)
    return path


@given(mutated_examples())
@SETTINGS
def test_mutated_examples_validate_or_are_refused_cleanly(tmp_path, monkeypatch, capsys, stored_run, case):
    name, data = case
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    monkeypatch.chdir(cwd)
    path = write(tmp_path / f"{name}.json", data)
    code = main(["validate", str(path)])
    captured = capsys.readouterr()
    assert code in (0, 2), captured.err
    assert "Traceback" not in captured.err
    if code == 2:
        assert "problem" in captured.err
    assert not list(cwd.iterdir())
    assert_store_unchanged(stored_run)


def damaged_data(kind: str, seed: int) -> bytes:
    rng = random.Random(seed)
    good = "text,label\n" + "".join(f"sentence number {index} is fine,{index % 2}\n" for index in range(40))
    raw = good.encode()
    if kind == "truncated":
        return raw[: rng.randrange(1, len(raw))]
    if kind == "binary":
        return bytes(rng.randrange(256) for _ in range(2_000))
    if kind == "mixed_encodings":
        return raw + "café,1\n".encode("latin-1") + "naïve,0\n".encode("utf-16")
    if kind == "ragged":
        return b"text,label\n" + b"one\n" + b"two,0,extra,columns\n" + b",,\n" + b"three,1\n"
    if kind == "huge_line":
        return b"text,label\n" + b"a" * 3_000_000 + b",1\n" + b"short,0\n"
    if kind == "nul_bytes":
        return raw.replace(b"fine", b"fi\x00ne")
    if kind == "empty":
        return b""
    if kind == "header_only":
        return b"text,label\n"
    raise AssertionError(kind)


@given(
    kind=st.sampled_from(
        ["truncated", "binary", "mixed_encodings", "ragged", "huge_line", "nul_bytes", "empty", "header_only"]
    ),
    suffix=st.sampled_from([".csv", ".jsonl", ".txt", ".tsv", ".parquet"]),
    seed=st.integers(0, 1000),
)
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_damaged_data_files_run_or_fail_cleanly(tmp_path, monkeypatch, capsys, stored_run, kind, suffix, seed):
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    monkeypatch.chdir(cwd)
    data = tmp_path / f"data{suffix}"
    data.write_bytes(damaged_data(kind, seed))
    pipeline = write(
        tmp_path / "load.json",
        {
            "schema_version": 1,
            "name": "damaged",
            "nodes": [
                {"id": "load", "type": "data.load_dataset", "params": {"source": "file", "path": str(data)}},
                {"id": "clean", "type": "text.clean", "params": {"columns": ["text"]}},
            ],
            "edges": [{"source": "load", "target": "clean"}],
        },
    )
    code = main(["run", str(pipeline), "--json", "--no-cache", "-q"])
    captured = capsys.readouterr()
    assert code in (0, 1, 2), captured.err
    assert "Traceback" not in captured.err
    if code == 1:  # a node failed: its one-line message names the node
        assert "load" in captured.err or "clean" in captured.err
    assert not list(cwd.iterdir())
    assert_store_unchanged(stored_run)
