"""`nodeloom sweep`: a grid of recorded runs sharing one sweep id and the cache, ranked by a metric; bad grids are
refused before anything runs; Ctrl-C stops the sweep with the current run cancelled."""

from __future__ import annotations

import signal
import time

import pytest

from nodeloom.engine.store import Store
from nodeloom.sweep import split_values
from tests.support.cli import one_json_object
from tests.support.pipelines import copy_pipeline
from tests.support.store_nodes import start_nodeloom_with_test_nodes, train_pipeline, write_pipeline


@pytest.fixture
def trainer_file(tmp_path):
    """data (a text, read as a number by train) -> train (a seeded SGD fit reporting final_loss)."""
    return write_pipeline(tmp_path, train_pipeline(steps=8))


def test_a_2x2_sweep_records_four_runs_with_one_sweep_id_and_computes_shared_nodes_once(trainer_file, nodeloom):
    completed = nodeloom(
        "sweep", str(trainer_file), "--grid", 'data.text="1","2"', "--grid", "train.learning_rate=0.01,0.05", "--json"
    )
    assert completed.returncode == 0, completed.stderr
    sweep = one_json_object(completed.stdout)
    runs = sweep["runs"]
    assert [run["overrides"] for run in runs] == [  # grid order, the first --grid varying slowest
        {"data.text": "1", "train.learning_rate": 0.01},
        {"data.text": "1", "train.learning_rate": 0.05},
        {"data.text": "2", "train.learning_rate": 0.01},
        {"data.text": "2", "train.learning_rate": 0.05},
    ]
    with Store.open() as store:
        recorded = {run.id: run for run in store.list_runs(sweep_id=sweep["sweep_id"])}
        nodes = {run_id: store.get_run(run_id).nodes for run_id in recorded}
    assert set(recorded) == {run["run_id"] for run in runs}
    assert all(run.status == "succeeded" and run.sweep_id == sweep["sweep_id"] for run in recorded.values())
    assert recorded[runs[3]["run_id"]].overrides == ['data.text="2"', "train.learning_rate=0.05"]  # rerun repeats it
    # `data` has two distinct configurations: each computed once, then taken from the cache
    computed = {
        node: [run["run_id"] for run in runs if not nodes[run["run_id"]][node].cached] for node in ("data", "train")
    }
    assert computed["data"] == [runs[0]["run_id"], runs[2]["run_id"]]
    assert len(computed["train"]) == 4
    assert [run["nodes"]["data"]["cached"] for run in runs] == [False, True, False, True]

    # each run is what `nodeloom run --json` prints for the same point, plus its overrides
    single = nodeloom("run", str(trainer_file), "--set", 'data.text="2"', "--set", "train.learning_rate=0.05", "--json")
    alone = one_json_object(single.stdout)
    assert set(runs[3]) == set(alone) | {"overrides"}
    assert runs[3]["metrics"] == alone["metrics"] and runs[3]["version"] == alone["version"] == 1
    assert len({run["metrics"]["train"]["final_loss"] for run in runs}) == 4

    listed = one_json_object(nodeloom("runs", "--json").stdout)["runs"]
    assert [run["sweep_id"] for run in listed] == [None] + [sweep["sweep_id"]] * 4
    assert len(one_json_object(nodeloom("runs", "--sweep", sweep["sweep_id"], "--json").stdout)["runs"]) == 4
    assert "sweep" in nodeloom("runs").stdout.splitlines()[2]  # the column appears once a sweep is listed
    assert f"sweep {sweep['sweep_id']}" in nodeloom("show", runs[0]["run_id"]).stdout


def test_runs_are_ranked_by_the_chosen_metric_and_runs_without_it_come_last(trainer_file, nodeloom):
    grid = ["--grid", 'data.text="1","x","2"', "--grid", "train.learning_rate=0.01,0.05"]
    lowest_first = nodeloom("sweep", str(trainer_file), *grid, "--rank-by", "train.final_loss:asc", "--json")
    assert lowest_first.returncode == 1  # a node failed (train cannot read "x" as a number); the sweep went on
    runs = one_json_object(lowest_first.stdout)["runs"]
    losses = [run["metrics"].get("train", {}).get("final_loss") for run in runs]
    assert losses[:4] == sorted(losses[:4]) and None not in losses[:4]
    assert [run["status"] for run in runs[4:]] == ["failed", "failed"]

    highest_first = nodeloom("sweep", str(trainer_file), *grid, "--rank-by", "train.final_loss")
    assert "ranked by train.final_loss (higher is better)" in highest_first.stdout
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in highest_first.stdout.splitlines()]
    rows = [row for row in rows if row and row[0].isdigit()]  # place, run, status, data.text, lr, loss, seconds
    assert [row[0] for row in rows] == ["1", "2", "3", "4", "5", "6"]
    shown = [float(row[5]) for row in rows[:4]]
    assert shown == sorted(shown, reverse=True) == [float(f"{loss:.4g}") for loss in reversed(losses[:4])]
    assert [(row[2], row[3], row[5]) for row in rows[4:]] == [("failed", '"x"', "")] * 2


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--grid", "train.steps=5,abc"], "--grid 'train.steps=abc': node 'train' (store_test.train): parameter"),
        (["--grid", "trian.steps=5,6"], "--grid 'trian.steps=5': no node 'trian' in this pipeline; did you mean"),
        (["--grid", "train.stepz=5,6"], "unknown parameter 'stepz' — did you mean 'steps'?"),
        (["--grid", "settings.sed=1,2"], "no setting 'sed'"),
        (["--grid", "train.steps"], "expected NODE.PARAM=V1,V2,…"),
        (["--grid", "train.steps=5,,6"], "an empty value"),
        (["--grid", "train.steps=5,5"], "value '5' is listed twice"),
        (["--grid", "train.steps=5", "--grid", "train.steps=6"], "--grid train.steps is given twice"),
        (["--grid", "train.steps=5,6", "--set", "train.steps=3"], "train.steps is both set (--set/--seed) and swept"),
        (["--grid", "settings.seed=1,2", "--seed", "3"], "settings.seed is both set"),
        (["--grid", "train.steps=5,6", "--rank-by", "tran.loss"], "--rank-by 'tran.loss': no node 'tran'"),
        (["--grid", "train.steps=5,6", "--address", "ray://x:1"], "--address is the Ray cluster to run on; it needs"),
        (["--grid", "train.steps=5,6", "--until", "nowhere"], "nowhere"),
    ],
)
def test_a_bad_grid_is_refused_in_one_line_before_anything_runs(trainer_file, nodeloom, arguments, message):
    completed = nodeloom("sweep", str(trainer_file), *arguments)
    assert completed.returncode == 2 and completed.stdout == ""
    assert len(completed.stderr.strip().splitlines()) == 1, completed.stderr
    assert message in completed.stderr and "Traceback" not in completed.stderr
    assert one_json_object(nodeloom("runs", "--json").stdout)["runs"] == []


def test_grid_values_are_split_on_commas_outside_json_values():
    assert split_values("1,2.5,adamw") == ["1", "2.5", "adamw"]
    assert split_values('[1,2],[3],{"a":1,"b":[2,3]}') == ["[1,2]", "[3]", '{"a":1,"b":[2,3]}']
    assert split_values('"a,b",c,"say \\"x,y\\""') == ['"a,b"', "c", '"say \\"x,y\\""']


def test_ctrl_c_cancels_the_current_run_and_ends_the_sweep(tmp_path, nodeloom_home):
    path = write_pipeline(tmp_path, train_pipeline(steps=1_000_000, step_seconds=0.001))
    process = start_nodeloom_with_test_nodes("sweep", str(path), "--grid", "train.learning_rate=0.01,0.02", "--json")
    database = nodeloom_home / "nodeloom.db"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the first run's training reports progress
        time.sleep(0.2)
        if database.exists():
            with Store.open(recover=False) as store:
                started = store.list_runs()
                train = store.get_run(started[0].id).nodes.get("train") if started else None
                if train and train.progress:
                    break
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    sweep = one_json_object(stdout)
    assert [run["status"] for run in sweep["runs"]] == ["cancelled"]
    with Store.open() as store:
        [run] = store.list_runs()
    assert (run.id, run.status, run.sweep_id) == (sweep["runs"][0]["run_id"], "cancelled", sweep["sweep_id"])


def test_a_sweep_whose_runs_would_save_one_file_is_refused_before_its_first_run(tmp_path, nodeloom):
    source, target = tmp_path / "rows.csv", tmp_path / "copy.csv"
    source.write_text("text\nalpha\nbeta\ngamma\n")
    path = write_pipeline(tmp_path, copy_pipeline(source, target))
    refused = nodeloom("sweep", str(path), "--grid", "load.max_rows=1,2,3")
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr.strip().splitlines() == [
        f"error: node 'save' (io.save_dataset): parameter 'path': file '{target}' would be saved by runs 1, 2 and 3 "
        "of the sweep, so every run after the first would find it there; set overwrite: true or give each run its "
        "own path (--grid save.path=...)"
    ]
    assert one_json_object(nodeloom("runs", "--json").stdout)["runs"] == [] and not target.exists()

    assert nodeloom("sweep", str(path), "--grid", "load.max_rows=1,2", "--until", "load").returncode == 0  # no save
    copies = [tmp_path / "one.csv", tmp_path / "two.csv"]
    assert nodeloom("sweep", str(path), "--grid", f"save.path={copies[0]},{copies[1]}").returncode == 0
    assert [copy.read_text().splitlines() for copy in copies] == [["text", "alpha", "beta", "gamma"]] * 2
    again = nodeloom("sweep", str(path), "--grid", f"save.path={copies[0]},{copies[1]}")  # now they are there
    assert again.returncode == 2 and again.stderr.strip().splitlines() == [
        f"error: node 'save' (io.save_dataset): parameter 'path': file '{copies[0]}' exists; "
        "set overwrite: true or choose another path"
    ]
    assert len(one_json_object(nodeloom("runs", "--json").stdout)["runs"]) == 4
