"""The command line behaves like its peers: --version, --seed, devices, examples by name, logging, progress in
logs, errors on one line, a quiet exit on a closed pipe, `nodeloom app` stopping on SIGTERM.

In-process through `main()` where that is faithful (fast); in a subprocess where the contract is about a real
process: pipes, signals, output while a run is still going.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from importlib.metadata import version

import pytest

from nodeloom.app import streamlit_command
from nodeloom.cli import build_parser, parse
from nodeloom.engine.events import NodeProgress, NodeStarted, RunStarted
from nodeloom.engine.node import REGISTRY
from nodeloom.engine.store import Store
from nodeloom.logs import configure_logging, quiet_libraries
from nodeloom.output import err
from nodeloom.pipelines import example_files, example_names
from nodeloom.progress import PlainProgress
from tests.support import REPO
from tests.support.cli import one_json_object
from tests.support.engine_nodes import REGISTRY as ENGINE_TEST_NODES
from tests.support.store_nodes import train_pipeline, write_pipeline

ANSI = "\x1b["


@pytest.fixture
def cli(nodeloom, monkeypatch):
    """The `nodeloom` fixture (tests/cli/conftest.py) with the engine's test nodes (sleep, fail, warn) added."""
    for type_id, node_type in ENGINE_TEST_NODES.types.items():
        monkeypatch.setitem(REGISTRY.types, type_id, node_type)
    return nodeloom


def chain(name: str, *nodes: tuple[str, str, dict]) -> dict:
    """A pipeline: test.source 's', then the given (id, type, params) nodes, each fed by the one before."""
    ids = ["s", *(node_id for node_id, _, _ in nodes)]
    return {
        "schema_version": 1,
        "name": name,
        "nodes": [{"id": "s", "type": "test.source"}]
        + [{"id": node_id, "type": type_id, "params": params} for node_id, type_id, params in nodes],
        "edges": [{"source": a, "target": b} for a, b in zip(ids, ids[1:], strict=False)],
    }


def test_version_prints_the_installed_version(cli):
    shown = cli("--version")
    assert shown.returncode == 0 and shown.stdout == f"nodeloom {version('nodeloom')}\n"
    assert re.fullmatch(r"nodeloom \d+\.\d+\.\d+\S*\n", shown.stdout)


def test_seed_reaches_the_run_and_is_recorded(tmp_path, cli):
    seven = write_pipeline(tmp_path, train_pipeline(name="seven", steps=12, seed=7))
    eight = write_pipeline(tmp_path, train_pipeline(name="eight", steps=12, seed=8))
    loss = lambda completed: one_json_object(completed.stdout)["metrics"]["train"]["final_loss"]  # noqa: E731
    as_written = loss(cli("run", str(eight), "--json"))
    assert loss(cli("run", str(seven), "--json")) != as_written

    seeded = cli("run", str(seven), "--json", "--seed", "8", "--run-id", "seeded")
    assert seeded.returncode == 0, seeded.stderr
    assert loss(seeded) == as_written
    assert loss(cli("run", str(seven), "--json", "--set", "settings.seed=8")) == as_written
    assert one_json_object(cli("show", "seeded", "--json").stdout)["overrides"] == ["settings.seed=8"]
    assert loss(cli("rerun", "seeded", "--json", "--no-cache")) == as_written  # the rerun repeats the seed

    unknown = cli("run", str(seven), "--set", "settings.sede=8")
    assert unknown.returncode == 2 and "no setting 'sede'" in unknown.stderr


def test_devices_are_checked_for_shape_at_parse_time_and_for_presence_at_run_time(tmp_path, cli):
    import torch

    path = write_pipeline(tmp_path, train_pipeline(steps=2))
    absent = "does not exist" if torch.cuda.is_available() else "no CUDA device is available"
    if torch.cuda.device_count() > 1:
        pytest.skip("this machine has a cuda:1")
    for args in (["--device", "cuda:1"], ["--set", "settings.device=cuda:1"]):
        completed = cli("run", str(path), *args)
        assert completed.returncode == 2 and absent in completed.stderr, completed.stderr
        assert len(completed.stderr.strip().splitlines()) == 1
    refused = cli("run", str(path), "--device", "gpu7")
    assert refused.returncode == 2 and "invalid device 'gpu7'" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "usage:" not in refused.stderr
    assert one_json_object(cli("runs", "--json").stdout)["runs"] == []  # none of them started a run


def test_examples_are_listed_copied_and_runnable_by_name(tmp_path, cli):
    listed = cli("examples")
    assert listed.returncode == 0
    rows = [line.split(None, 1) for line in listed.stdout.splitlines()]
    assert [name for name, _ in rows] == example_names() and len(rows) == 4
    assert all(description.strip() for _, description in rows)

    folder = tmp_path / "mine"
    copied = cli("examples", "--copy", str(folder))
    assert copied.returncode == 0 and len(copied.stdout.splitlines()) == 4
    for original in example_files():
        assert (folder / original.name).read_bytes() == original.read_bytes()
    (folder / "word_vectors.json").write_text("edited")
    refused = cli("examples", "--copy", str(folder))
    assert refused.returncode == 2 and "--force" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert (folder / "word_vectors.json").read_text() == "edited"
    assert cli("examples", "--copy", str(folder), "--force").returncode == 0
    assert (folder / "word_vectors.json").read_bytes() == example_files()[-1].read_bytes()

    assert cli("validate", "example:word_vectors").returncode == 0
    unknown = cli("run", "example:word_vectorz")
    assert unknown.returncode == 2 and len(unknown.stderr.strip().splitlines()) == 1
    assert "no example called 'word_vectorz'" in unknown.stderr and "gpt2_chatbot" in unknown.stderr


def test_show_prints_the_nodes_log_messages(tmp_path, cli):
    path = write_pipeline(tmp_path, chain("warned", ("w", "test.warn", {"message": "mind the gap"})))
    assert cli("run", str(path), "--run-id", "logged").returncode == 0
    shown = cli("show", "logged").stdout
    assert re.search(r"^\s+w\s+warning\s+mind the gap$", shown, re.MULTILINE), shown
    assert re.search(r"^\s+w\s+info\s+info: mind the gap$", shown, re.MULTILINE), shown


PLAIN_LOG_LINE = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d WARNING nodeloom\.node: \[w\] mind the gap$"


def test_logging_levels_from_options_and_environment(tmp_path, cli, monkeypatch):
    path = write_pipeline(tmp_path, chain("warned", ("w", "test.warn", {"message": "mind the gap"})))
    default = cli("run", str(path)).stderr
    assert re.search(PLAIN_LOG_LINE, default, re.MULTILINE), default  # stderr is not a terminal: plain lines
    assert "info: mind the gap" not in default and ANSI not in default
    assert "mind the gap" not in cli("-q", "run", str(path), "--no-cache").stderr
    verbose = cli("run", str(path), "--no-cache", "-v").stderr  # -v after the command works too
    assert "DEBUG nodeloom.node: [w] debug: mind the gap" in verbose
    assert "INFO nodeloom.node: [w] info: mind the gap" in verbose

    monkeypatch.setenv("NODELOOM_LOG_LEVEL", "error")
    assert "mind the gap" not in cli("run", str(path), "--no-cache").stderr
    monkeypatch.setenv("NODELOOM_LOG_LEVEL", "info")
    informed = cli("run", str(path), "--no-cache").stderr
    assert "INFO nodeloom.node: [w] info: mind the gap" in informed and "debug: mind" not in informed
    monkeypatch.setenv("NODELOOM_LOG_LEVEL", "loud")
    assert "NODELOOM_LOG_LEVEL='loud' is not a level" in cli("nodes", "--json").stderr


def test_library_warnings_show_only_with_debug_logging(capsys):
    library = logging.getLogger("some.library")
    configure_logging(logging.WARNING, err)
    library.warning("expected noise")
    logging.getLogger("nodeloom.engine.cache").warning("ours")
    captured = capsys.readouterr().err
    assert "ours" in captured and "expected noise" not in captured
    configure_logging(logging.DEBUG, err)
    library.warning("expected noise")
    assert "WARNING some.library: expected noise" in capsys.readouterr().err


def test_libraries_with_handlers_of_their_own_are_quiet_unless_verbose(monkeypatch):
    """`datasets` prints through its own stderr handler (a CSV parse error, before NodeLoom's one-line message)."""
    from datasets.utils import logging as datasets_logging

    quiet_libraries(verbose=False)
    assert datasets_logging.get_verbosity() == logging.CRITICAL
    quiet_libraries(verbose=True)
    assert datasets_logging.get_verbosity() == logging.WARNING
    monkeypatch.setenv("DATASETS_VERBOSITY", "info")  # the user's own choice is left alone
    quiet_libraries(verbose=False)
    assert datasets_logging.get_verbosity() == logging.WARNING


def test_failures_and_errors_are_one_line_however_long(tmp_path, cli):
    long_message = "the node could not go on because " + "of a very long reason " * 15 + "at the end"
    path = write_pipeline(tmp_path, chain("failing", ("f", "test.fail", {"message": long_message})))
    failed = cli("run", str(path))
    assert failed.returncode == 1
    assert f"✗ f: {long_message}\n" in failed.stderr  # one line, though far wider than 80 columns
    missing = tmp_path / ("a-folder-with-a-long-name-" * 6) / "pipeline.json"
    absent = cli("run", str(missing))
    assert absent.returncode == 2 and absent.stderr == f"error: pipeline file '{missing}' does not exist\n"


def test_a_heartbeat_line_says_where_the_run_stands():
    progress = PlainProgress(interval=60)
    progress(RunStarted("r", "p", "cpu", ["s", "train", "score"]))
    progress(NodeStarted("r", "train"))
    progress(NodeProgress("r", "train", 0.375, "step 120/320", {"step": 120, "loss": 2.31}))
    [line] = progress.status_lines()
    assert re.fullmatch(r"\[00:00\] node 2/3 train: 38% step 120/320 loss=2\.31 eta \d+s", line), line


def test_an_evaluation_is_printed_when_it_happens(capsys):
    progress = PlainProgress(interval=60)
    progress(RunStarted("r", "p", "cpu", ["train"]))
    progress(NodeStarted("r", "train"))
    progress(NodeProgress("r", "train", 0.5, "evaluated at step 20", {"step": 20, "eval_loss": 1.5}))
    assert capsys.readouterr().err == "[00:00] node 1/1 train: evaluated at step 20 eval_loss=1.5\n"


# `nodeloom ARGS…` with the engine's test nodes, and heartbeats every half second instead of ten.
QUICK_HEARTBEATS = """
import sys
from nodeloom.engine.node import REGISTRY
from tests.support.engine_nodes import REGISTRY as TEST_NODES
REGISTRY.types.update(TEST_NODES.types)
import nodeloom.progress
nodeloom.progress.PLAIN_INTERVAL_SECONDS = 0.5
from nodeloom.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_running_pipeline_prints_plain_progress_lines_and_writes_nothing_into_the_current_folder(tmp_path):
    path = write_pipeline(tmp_path, chain("slow", ("wait", "test.sleep", {"seconds": 3})))
    here = tmp_path / "empty"
    here.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-c", QUICK_HEARTBEATS, "run", str(path)],
        cwd=here,
        env=os.environ | {"PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines, seen_while_running = [], []
    for line in process.stderr:
        lines.append(line)
        if re.match(r"\[\d\d:\d\d\] node 2/2 wait: running \d+s$", line) and process.poll() is None:
            seen_while_running.append(line)
    process.communicate(timeout=60)
    assert process.returncode == 0
    assert len(seen_while_running) >= 2, lines
    assert not any(ANSI in line for line in lines)  # no live display: stderr is a pipe
    assert list(here.iterdir()) == []


def test_a_closed_pipe_ends_quietly_with_141():
    reader, writer = os.pipe()
    fcntl.fcntl(writer, fcntl.F_SETPIPE_SZ, 4096)  # smaller than the catalog: the write must meet the closed end
    process = subprocess.Popen(
        [sys.executable, "-m", "nodeloom", "nodes", "--json"], stdout=writer, stderr=subprocess.PIPE, text=True
    )
    os.close(writer)
    with os.fdopen(reader, "rb") as stdout:
        assert stdout.read(16).startswith(b"{")
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 141 and stderr == "", stderr


def test_app_options_are_passed_on_to_streamlit():
    command = streamlit_command(parse(["app", "--port", "9000", "--server.maxUploadSize", "500", "-q"]))
    assert command[command.index("--server.port") + 1] == "9000"
    assert command[command.index("--server.address") + 1] == "localhost"
    assert command[command.index("--client.toolbarMode") + 1] == "minimal"
    assert command[command.index("--server.headless") + 1] == "true"
    assert command[-2:] == ["--server.maxUploadSize", "500"]


@pytest.mark.parametrize(
    "args", [["app", "--server.port", "1"], ["app", "--frobnicate"], ["runs", "--server.port", "1"]]
)
def test_options_nobody_knows_are_refused_in_one_line(args, cli):
    refused = cli(*args)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://localhost:{port}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("localhost", port)) == 0


def test_sigterm_stops_the_app_server(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "nodeloom", "app", "--port", str(port), "--server.fileWatcherType", "none"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while not answers(port):
            assert process.poll() is None and time.monotonic() < deadline, "the app did not start"
            time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while listening(port) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not listening(port), "a server still listens after SIGTERM to `nodeloom app`"
        process.wait(timeout=10)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # whatever is left of it, orphans included
        except ProcessLookupError:
            pass
        process.wait(timeout=10)


def test_help_explains_every_argument_and_ends_with_examples():
    parser = build_parser()
    text = parser.format_help()
    assert text.rstrip().splitlines()[-1].startswith("logging:")
    assert "nodeloom run example:gpt2_chatbot --set train.epochs=1" in text
    subcommands = next(action for action in parser._actions if action.dest == "command").choices
    for name, sub in {"nodeloom": parser, **subcommands}.items():
        for action in sub._actions:
            assert action.help, f"{name}: {action.option_strings or action.dest} has no help text"


def test_a_negative_seed_is_refused_before_a_run_is_recorded(tmp_path, cli):
    path = write_pipeline(tmp_path, train_pipeline(steps=2))
    refused = cli("run", str(path), "--seed", "-1")
    assert refused.returncode == 2 and "setting 'seed'" in refused.stderr
    with Store.open() as store:
        assert store.list_runs() == []
