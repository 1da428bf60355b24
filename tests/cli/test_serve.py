"""`nodeloom serve`, tested against a real server process on a free local port, its runs executed by real
worker processes. The slow pipeline uses the store tests' training node, which the server and its workers
get as a real plug-in: a `nodeloom.nodes` entry point on PYTHONPATH."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from nodeloom.engine.recorder import run_recorded
from nodeloom.engine.store import Store
from nodeloom.engine.validation import load_pipeline
from tests.support import REPO
from tests.support.pipelines import metrics_pipeline
from tests.support.store_nodes import REGISTRY as STORE_TEST_NODES
from tests.support.store_nodes import train_pipeline

PLUGIN_MODULE = """
from nodeloom.engine.node import REGISTRY
from tests.support.store_nodes import REGISTRY as STORE_TEST_NODES
REGISTRY.types.update(STORE_TEST_NODES.types)
"""


@pytest.fixture(scope="module")
def plugin(tmp_path_factory) -> Path:
    """A folder that, on PYTHONPATH, registers the store tests' nodes through the `nodeloom.nodes` entry points."""
    folder = tmp_path_factory.mktemp("plugin")
    (folder / "serve_test_nodes.py").write_text(PLUGIN_MODULE)
    info = folder / "nodeloom_serve_test_nodes-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nodeloom-serve-test-nodes\nVersion: 0\n")
    (info / "entry_points.txt").write_text("[nodeloom.nodes]\nserve_test = serve_test_nodes\n")
    return folder


def environment(home: Path, plugin: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "NODELOOM_API_TOKEN"}
    return env | {"NODELOOM_HOME": str(home), "PYTHONPATH": os.pathsep.join([str(plugin), str(REPO)])}


def nodeloom(env: dict[str, str], *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nodeloom", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@dataclass
class Server:
    base: str
    token: str
    home: Path
    env: dict[str, str]
    start_line: str

    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.base}/api/v1", timeout=60, headers={"Authorization": f"Bearer {token or self.token}"}
        )


@pytest.fixture(scope="module")
def server(tmp_path_factory, plugin) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("serve-home")
    folder = tmp_path_factory.mktemp("serve-cwd")  # the workers need nothing from the server's folder
    env = environment(home, plugin)
    log = folder / "serve.log"
    with open(log, "w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "nodeloom", "serve", "--port", "0", "--max-runs", "1"],
            cwd=folder,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while not (found := re.search(r"http://localhost:(\d+)/api/v1", log.read_text())):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        base = f"http://localhost:{found.group(1)}"
        while httpx.get(f"{base}/api/v1/health", timeout=10).status_code != 200:
            time.sleep(0.2)
        yield Server(base, (home / "api-token").read_text().strip(), home, env, log.read_text().splitlines()[0])
    finally:
        process.send_signal(signal.SIGTERM)  # uvicorn stops gracefully, then dies of the signal it caught
        assert process.wait(timeout=60) in (0, -signal.SIGTERM), log.read_text()


def follow(client: httpx.Client, run_id: str) -> list[dict[str, Any]]:
    """Every event of a run's stream, until it ends."""
    events = []
    with client.stream("GET", f"/runs/{run_id}/events", timeout=300) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line.removeprefix("data: ")))
    return events


def wait_for(client: httpx.Client, run_id: str, condition, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = client.get(f"/runs/{run_id}").json()
        if condition(run):
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.3)


def test_every_endpoint_but_health_wants_the_token(server):
    assert stat.S_IMODE((server.home / "api-token").stat().st_mode) == 0o600
    assert str(server.home / "api-token") in server.start_line
    assert httpx.get(f"{server.base}/api/v1/health").json()["status"] == "ok"
    for method, path in [
        ("GET", "/runs"),
        ("GET", "/pipelines"),
        ("POST", "/runs"),
        ("GET", "/runs/x"),
        ("POST", "/runs/x/cancel"),
        ("GET", "/runs/x/events"),
    ]:
        bare = httpx.request(method, f"{server.base}/api/v1{path}", json={"pipeline": "example:word_vectors"})
        assert bare.status_code == 401, (method, path, bare.text)
        assert bare.headers["www-authenticate"] == "Bearer"
        wrong = server.client("not-the-token").request(method, path, json={"pipeline": "example:word_vectors"})
        assert wrong.status_code == 401, (method, path, wrong.text)
    assert server.client().get("/pipelines").status_code == 200
    assert httpx.get(f"{server.base}/docs").status_code == 200
    assert "/api/v1/runs/{run_id}/events" in httpx.get(f"{server.base}/openapi.json").json()["paths"]


def test_a_posted_pipeline_runs_as_the_cli_runs_it(server, tmp_path):
    client = server.client()
    accepted = client.post("/runs", json={"pipeline": metrics_pipeline(), "set": {"clean.lowercase": True}, "seed": 5})
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]
    events = follow(client, run_id)
    assert events[-1]["kind"] == "end" and events[-1]["status"] == "succeeded", events[-3:]
    finished = {event["node_id"] for event in events if event["kind"] == "node" and event["status"] == "succeeded"}
    assert finished == {"load", "clean", "split", "rouge", "quality"}
    assert any(event["kind"] == "log" and event["node_id"] == "split" for event in events)

    # The same file and overrides through `nodeloom run`, in a store and cache of its own
    (tmp_path / "metrics_demo.json").write_text(json.dumps(metrics_pipeline()))
    cli_env = server.env | {"NODELOOM_HOME": str(tmp_path / "cli-home")}
    done = nodeloom(
        cli_env, "run", "metrics_demo.json", "--json", "--set", "clean.lowercase=true", "--seed", "5", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    expected = json.loads(done.stdout)["metrics"]
    assert expected["rouge"]["rouge1"] > 0 and expected["quality"]["rows"] == 40

    shown = client.get(f"/runs/{run_id}").json()
    assert shown["metrics"] == expected
    assert shown["overrides"] == ["clean.lowercase=true", "settings.seed=5"]
    # recorded in the server's store: the command line sees the run, as the same objects
    listed = json.loads(nodeloom(server.env, "runs", "--json").stdout)["runs"]
    assert [run for run in listed if run["id"] == run_id] == [
        run for run in client.get("/runs").json()["runs"] if run["id"] == run_id
    ]
    assert json.loads(nodeloom(server.env, "show", run_id, "--json").stdout) == shown
    saved = {p["name"]: [v["version"] for v in p["versions"]] for p in client.get("/pipelines").json()["pipelines"]}
    assert saved["metrics_demo"] == [1]


def test_cancel_stops_the_running_run_and_drops_the_waiting_one(server):
    client = server.client()
    slow = train_pipeline("slow", steps=2000, step_seconds=0.05)
    first = client.post("/runs", json={"pipeline": slow}).json()["run_id"]
    second = client.post("/runs", json={"pipeline": slow, "set": {"train.steps": 10}}).json()["run_id"]
    with client.stream("GET", f"/runs/{first}/events") as stream:  # a client that goes away…
        assert next(stream.iter_lines()).startswith("event: ")
    running = wait_for(client, first, lambda run: run["nodes"].get("train", {}).get("progress"))
    assert running["status"] == "running"
    wait_for(client, first, lambda run: run["nodes"]["train"]["progress"] > running["nodes"]["train"]["progress"])
    waiting = client.get(f"/runs/{second}").json()
    assert waiting["status"] == "queued"  # --max-runs 1
    assert second in [run["id"] for run in client.get("/runs", params={"status": "queued"}).json()["runs"]]

    assert client.post(f"/runs/{second}/cancel").json() == {"run_id": second, "status": "cancelled"}
    assert client.post(f"/runs/{first}/cancel").json() == {"run_id": first, "status": "cancelling"}
    stopped = wait_for(client, first, lambda run: run["status"] != "running", timeout=60)
    assert stopped["status"] == "cancelled" and stopped["nodes"]["train"]["status"] == "cancelled"
    assert stopped["nodes"]["train"]["progress"] < 0.5  # stopped midway, not run to the end
    assert client.get(f"/runs/{second}").json()["status"] == "cancelled"
    assert client.post(f"/runs/{first}/cancel").status_code == 409
    listed = json.loads(nodeloom(server.env, "runs", "--json", "--status", "cancelled").stdout)["runs"]
    assert first in [run["id"] for run in listed]  # the store has the run the worker recorded


def test_an_invalid_pipeline_is_refused_with_the_cli_messages(server, tmp_path):
    broken = metrics_pipeline()
    broken["nodes"][3]["type"] = "metric.rogue"
    response = server.client().post("/runs", json={"pipeline": broken, "set": {"clean.lowercase": "perhaps"}})
    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    assert {problem["node"] for problem in problems} == {"rouge", "clean"}
    assert any("unknown node type 'metric.rogue'" in problem["message"] for problem in problems)

    (tmp_path / "broken.json").write_text(json.dumps(broken))
    cli = nodeloom(server.env, "run", str(tmp_path / "broken.json"), "--set", "clean.lowercase=perhaps")
    assert cli.returncode == 2
    assert [f"• {problem['message']}" for problem in problems] == [
        line.strip() for line in cli.stderr.splitlines() if line.strip().startswith("•")
    ]
    assert response.json()["detail"].startswith("the posted pipeline is not a valid pipeline (2 problems)")


def test_runs_are_listed_by_sweep_and_an_unknown_sweep_lists_none(server, monkeypatch):
    # Recorded in the server's store by this process, as `nodeloom sweep` records its runs
    monkeypatch.setenv("NODELOOM_HOME", str(server.home))
    data = train_pipeline("swept", steps=3)
    pipeline = load_pipeline(data, registry=STORE_TEST_NODES)
    with Store.open() as store:
        version = store.ensure_version("swept", data).version
        for run_id, sweep_id in [("sweep-run-1", "sweep-a"), ("lone-run", None), ("sweep-run-2", "sweep-a")]:
            run_recorded(store, pipeline, version, run_id=run_id, sweep_id=sweep_id, registry=STORE_TEST_NODES)
    client = server.client()
    swept = client.get("/runs", params={"sweep": "sweep-a"}).json()["runs"]
    assert [run["id"] for run in swept] == ["sweep-run-2", "sweep-run-1"]
    assert {run["sweep_id"] for run in swept} == {"sweep-a"}
    assert "lone-run" in [run["id"] for run in client.get("/runs", params={"pipeline": "swept"}).json()["runs"]]
    assert client.get("/runs", params={"sweep": "sweep-a", "limit": 1}).json()["runs"] == swept[:1]
    unknown = client.get("/runs", params={"sweep": "no-such-sweep"})
    assert unknown.status_code == 200 and unknown.json() == {"runs": []}  # a filter, as an unknown pipeline is
    described = httpx.get(f"{server.base}/openapi.json").json()["paths"]["/api/v1/runs"]["get"]["parameters"]
    assert "nodeloom sweep" in next(p["description"] for p in described if p["name"] == "sweep")


def test_bad_references_and_bodies_are_refused_in_one_line(server):
    client = server.client()
    assert client.post("/runs", json={"pipeline": "no_such_pipeline"}).status_code == 404
    assert client.post("/runs", json={"pipeline": "metrics_demo@latest"}).status_code == 400
    assert "word_vectors" in client.post("/runs", json={"pipeline": "example:nope"}).json()["detail"]
    assert client.post("/runs", json={"pipeline": "example:word_vectors", "sett": {}}).status_code == 422
    assert (
        client.post("/runs", content=b"{" * (3 * 1024 * 1024), headers={"content-type": "application/json"}).status_code
        == 413
    )
    assert client.get("/runs/no-such-run").status_code == 404


def test_the_token_comes_from_the_environment_else_from_a_private_file(tmp_path):
    from nodeloom.serve import api_token

    assert api_token({"NODELOOM_API_TOKEN": " s3cret "}, tmp_path) == ("s3cret", "from NODELOOM_API_TOKEN")
    assert not (tmp_path / "api-token").exists()
    token, where = api_token({}, tmp_path)
    assert where == f"in {tmp_path / 'api-token'} (new)" and len(token) >= 32
    assert stat.S_IMODE((tmp_path / "api-token").stat().st_mode) == 0o600
    assert api_token({}, tmp_path) == (token, f"in {tmp_path / 'api-token'}")  # the same token on every start
    (tmp_path / "api-token").chmod(0o644)
    assert api_token({}, tmp_path)[0] == token
    assert stat.S_IMODE((tmp_path / "api-token").stat().st_mode) == 0o600  # tightened, not served as it was


def test_a_taken_port_is_refused_in_one_line():
    import socket

    from nodeloom.output import UsageError
    from nodeloom.serve import listening_socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(UsageError, match=rf"cannot listen on localhost:{port}: .*; pick another --port"):
            listening_socket("localhost", port)
