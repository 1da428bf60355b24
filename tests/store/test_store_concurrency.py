"""Two processes saving at once lose nothing, and a save based on a stale version is refused."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from nodeloom.engine.store import Store
from tests.support import REPO

# argv: writer name, number of saves, mode ("append" or "based"), go-file. Prints a JSON summary.
WRITER = """
import json, os, sys, time
from nodeloom.engine.store import StaleVersion, Store
writer, count, mode, go = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
store = Store.open()
while not os.path.exists(go):
    time.sleep(0.005)
saved, refused = [], 0
while len(saved) < count:
    data = {"schema_version": 1, "nodes": [], "edges": [], "writer": writer, "index": len(saved)}
    if mode == "append":
        saved.append(store.save_pipeline("shared", data, writer).version.version)
        continue
    base = store.get_version("shared").version
    data["base"] = base
    time.sleep(0.002)  # widen the window between reading and saving
    try:
        saved.append(store.save_pipeline("shared", data, writer, base_version=base).version.version)
    except StaleVersion:
        refused += 1
print(json.dumps({"saved": saved, "refused": refused}))
"""


def run_writers(tmp_path, mode: str, count: int) -> list[dict]:
    go = tmp_path / "go"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, name, str(count), mode, str(go)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("first", "second")
    ]
    time.sleep(1.5)  # both have opened the store and wait
    go.touch()
    results = []
    for writer in writers:
        stdout, stderr = writer.communicate(timeout=120)
        assert writer.returncode == 0, stderr
        results.append(json.loads(stdout))
    return results


def test_two_processes_appending_at_once_lose_nothing(tmp_path, nodeloom_home):
    results = run_writers(tmp_path, "append", 40)
    with Store.open() as store:
        versions = store.versions("shared")
    assert sorted(v.version for v in versions) == list(range(1, 81))
    contents = {(v.data["writer"], v.data["index"]) for v in versions}
    assert contents == {(writer, index) for writer in ("first", "second") for index in range(40)}
    assert sorted(results[0]["saved"] + results[1]["saved"]) == list(range(1, 81))


def test_concurrent_saves_on_a_stale_version_are_refused_never_overwritten(tmp_path, nodeloom_home):
    with Store.open() as store:
        store.save_pipeline("shared", {"schema_version": 1, "nodes": [], "edges": [], "base": 0})
    results = run_writers(tmp_path, "based", 25)
    with Store.open() as store:
        versions = store.versions("shared")
        assert store.integrity_check() == "ok"
    assert len(versions) == 1 + 50
    # every version was written on top of the one before it: no save replaced an unseen version
    assert all(v.data["base"] == v.version - 1 for v in versions)
    assert sorted(results[0]["saved"] + results[1]["saved"]) == list(range(2, 52))
