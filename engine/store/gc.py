"""Freeing disk space: cache entries and run folders that no kept run needs.

Policy (documented in docs/store.md):
- Kept runs: per pipeline, the `keep` most recent runs, plus its most recent succeeded run;
  plus every run still queued or running. Run records (statuses, metrics, logs) are never
  deleted — only files.
- Removed: the working folders (NODELOOM_HOME/runs/<id>/) of runs that are not kept, and
  every cache entry (NODELOOM_HOME/cache/<2 hex>/<key>/) that no kept run used.
- While any run is in progress, cache entries are left alone (its outputs may not be recorded
  yet, and it may be about to read an entry it found), and only old run folders are removed.
- Folders under runs/ that the store does not know are left alone.
- The Arrow copies `datasets` keeps under NODELOOM_HOME/datasets are scratch (a loaded dataset is
  stored in the cache as its own entry), so they go too, also only while no run is in progress.
- The files the app and `nodeloom serve` keep per worker (NODELOOM_HOME/app-runs and api-runs: the pipeline
  a run started from and its output log) go with the run's folder: when the store knows the run and does
  not keep it, so never those of a run in progress. Files of a run the store never recorded (a worker that
  ended before it could, whose log says why) go once they are a day old: by then no worker is starting.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nodeloom.engine.cache import STAGING
from nodeloom.engine.events import ACTIVE, RunStatus
from nodeloom.engine.paths import cache_folder, datasets_cache_folder, folder_size, runs_root, worker_folders
from nodeloom.engine.store.core import Store


@dataclass
class GcReport:
    kept_runs: list[str] = field(default_factory=list)
    removed_run_folders: list[str] = field(default_factory=list)
    removed_cache_entries: list[str] = field(default_factory=list)
    removed_datasets_scratch: list[str] = field(default_factory=list)
    removed_worker_files: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    cache_skipped: str | None = None  # why the cache was left alone, if it was
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def kept_runs(rows: list[dict[str, Any]], keep: int) -> set[str]:
    """The runs whose files stay (see the module docstring), from `Store.runs_newest_first()`."""
    kept: set[str] = set()
    seen: dict[str, int] = {}
    has_success: set[str] = set()
    for row in rows:
        pipeline = row["pipeline"]
        seen[pipeline] = seen.get(pipeline, 0) + 1
        if seen[pipeline] <= keep or row["status"] in ACTIVE:
            kept.add(row["id"])
        if row["status"] == RunStatus.SUCCEEDED and pipeline not in has_success:
            has_success.add(pipeline)
            kept.add(row["id"])
    return kept


UNRECORDED_WORKER_FILES_KEPT_SECONDS = 24 * 3600


def old_worker_files(home: Path, known: set[str], kept: set[str], now: float) -> dict[Path, int]:
    """The <run id>.json and .log files under app-runs/ and api-runs/ that no kept run needs (module docstring),
    with their sizes."""
    found = {}
    for folder in worker_folders(home).values():
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            run_id = path.stem
            if path.suffix not in (".json", ".log") or run_id in kept:
                continue
            try:
                info = path.stat()
            except OSError:
                continue  # removed meanwhile
            unrecorded_and_old = now - info.st_mtime > UNRECORDED_WORKER_FILES_KEPT_SECONDS
            if path.is_file() and (run_id in known or unrecorded_and_old):
                found[path] = info.st_size
    return found


def _remove(folder: Path, staging: Path) -> None:
    """Move out of sight first (one rename: readers see the entry or nothing), then delete."""
    staging.mkdir(parents=True, exist_ok=True)
    doomed = staging / f"gc-{folder.name}-{uuid.uuid4().hex[:8]}"
    os.replace(folder, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def collect_garbage(store: Store, keep: int = 5, dry_run: bool = False) -> GcReport:
    """Delete files that no kept run needs (see the module docstring); `dry_run` only reports."""
    if keep < 1:
        raise ValueError("keep must be at least 1")
    home = store.path.parent
    store.mark_interrupted()  # a dead run must not block the cache clean-up
    report = GcReport(dry_run=dry_run)
    runs = store.runs_newest_first()
    kept = kept_runs(runs, keep)
    report.kept_runs = sorted(kept)
    known = {row["id"] for row in runs}
    active = store.active_run_ids()
    cache_root = cache_folder(home)
    staging = cache_root / STAGING
    removed: list[Path] = []

    run_folders = runs_root(home)
    for folder in sorted(run_folders.iterdir()) if run_folders.is_dir() else []:
        if folder.is_dir() and folder.name in known and folder.name not in kept:
            report.bytes_freed += folder_size(folder)
            report.removed_run_folders.append(str(folder))
            removed.append(folder)

    worker_files = old_worker_files(home, known, kept, time.time())
    report.removed_worker_files = [str(path) for path in worker_files]
    report.bytes_freed += sum(worker_files.values())

    if active:
        report.cache_skipped = f"run {active[0]} is in progress; the cache is cleaned only when no run is"
    else:
        needed = store.cache_keys_used(kept)
        for shard in sorted(cache_root.iterdir()) if cache_root.is_dir() else []:
            if not shard.is_dir() or len(shard.name) != 2:
                continue
            for entry in sorted(shard.iterdir()):
                if entry.is_dir() and entry.name not in needed:
                    report.bytes_freed += folder_size(entry)
                    report.removed_cache_entries.append(str(entry))
                    removed.append(entry)
        scratch = datasets_cache_folder(home)
        for folder in sorted(scratch.iterdir()) if scratch.is_dir() else []:
            report.bytes_freed += folder_size(folder) if folder.is_dir() else folder.stat().st_size
            report.removed_datasets_scratch.append(str(folder))
            removed.append(folder)
        if staging.is_dir():  # half-written entries of crashed runs
            leftovers = [path for path in staging.iterdir() if path.is_dir()]
            report.bytes_freed += sum(folder_size(path) for path in leftovers)
            removed.extend(leftovers)

    if dry_run:
        return report
    for path in worker_files:
        path.unlink(missing_ok=True)
    for folder in removed:
        if not folder.is_dir():  # a lock file beside the datasets scratch folders
            folder.unlink(missing_ok=True)
            continue
        if folder.parent == staging:
            shutil.rmtree(folder, ignore_errors=True)
            continue
        _remove(folder, staging)
        store.mark_artifacts_removed(folder)
    return report
