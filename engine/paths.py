"""Where NodeLoom keeps its files, and what its run ids look like.

Everything lives under one folder, NODELOOM_HOME (default ~/.nodeloom):

    nodeloom.db               the store (saved pipelines, versions, run history)
    cache/<2 hex>/<key>/      the output cache
    datasets/                 Hugging Face `datasets`' own caches (Arrow copies of loaded files and Hub data sets)
    runs/<run id>/<node id>/  the nodes' working folders (checkpoints, logs); see node_workdir
    app-runs/, api-runs/      the pipeline file and output log of each run the app or `nodeloom serve` started
                              in a worker process (<run id>.json, <run id>.log); see worker_folders

Functions take an optional `home` for code that works on a store opened elsewhere (gc, tests);
without it they follow NODELOOM_HOME as it is set now, so a test that changes it is obeyed.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

from nodeloom.engine.limits import NODE_ID_RULE, is_node_id, shown

DB_NAME = "nodeloom.db"
# What other programs may choose with `--run-id` (1-64 characters, safe as a folder and a file name).
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class InvalidRunId(ValueError):
    """A run id that cannot name a run folder; the message says what is allowed."""


class InvalidNodeId(ValueError):
    """A node id that cannot name a working folder (validation refuses it first; see engine.limits)."""


def nodeloom_home() -> Path:
    return Path(os.environ.get("NODELOOM_HOME") or Path.home() / ".nodeloom")


def database_path(home: Path | None = None) -> Path:
    return (home if home is not None else nodeloom_home()) / DB_NAME


def cache_folder(home: Path | None = None) -> Path:
    return (home if home is not None else nodeloom_home()) / "cache"


def datasets_cache_folder(home: Path | None = None) -> Path:
    """Where `datasets.load_dataset` keeps its Arrow copies, instead of ~/.cache/huggingface/datasets."""
    return (home if home is not None else nodeloom_home()) / "datasets"


def runs_root(home: Path | None = None) -> Path:
    """The folder holding every run's folder."""
    return (home if home is not None else nodeloom_home()) / "runs"


def worker_folders(home: Path | None = None) -> dict[str, Path]:
    """Where the app ("app") and `nodeloom serve` ("api") keep each worker's <run id>.json and <run id>.log."""
    root = home if home is not None else nodeloom_home()
    return {"app": root / "app-runs", "api": root / "api-runs"}


def own_entries(home: Path | None = None) -> list[Path]:
    """What NodeLoom keeps under NODELOOM_HOME (store, caches, run and worker folders): a node never writes
    its outputs there, since gc, a cache heal or the store would delete or overwrite them."""
    root = home if home is not None else nodeloom_home()
    store = database_path(root)
    journals = [store.with_name(store.name + suffix) for suffix in ("-wal", "-shm", "-journal")]
    return [store, *journals, cache_folder(root), datasets_cache_folder(root), runs_root(root)] + list(
        worker_folders(root).values()
    )


def run_folder(run_id: str, home: Path | None = None) -> Path:
    """A run's own folder; each node works in `run_folder(run_id) / node_id`."""
    return runs_root(home) / run_id


def node_workdir(run_id: str, node_id: str, home: Path | None = None) -> Path:
    """The working folder of one node in one run: `run_folder(run_id) / node_id`, checked to stay inside the run's
    folder whatever the ids hold (defence in depth: validation already refuses ids that are not plain names)."""
    folder = run_folder(check_run_id(run_id), home)
    workdir = folder / node_id if isinstance(node_id, str) else folder
    if not is_node_id(node_id) or os.path.normpath(workdir.parent) != os.path.normpath(folder):
        raise InvalidNodeId(f"node id {shown(str(node_id))} cannot name a working folder: use {NODE_ID_RULE}")
    return workdir


def folder_size(path: Path) -> int:
    """Bytes in the files under a folder (what deleting it frees)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass  # removed while we looked
    return total


def new_run_id() -> str:
    """12 hex digits: random, so ids never collide between processes, and short enough that a
    prefix of a few characters usually names one run (`nodeloom show 3fa9`)."""
    return uuid.uuid4().hex[:12]


def check_run_id(run_id: str) -> str:
    """The run id itself when it matches RUN_ID_PATTERN; InvalidRunId otherwise."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id):
        raise InvalidRunId(
            f"invalid run id {run_id!r}: use 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit"
        )
    return run_id
