"""Saved pipelines, their versions and run history, in one SQLite database under NODELOOM_HOME.

The API front ends use (the CLI and the app read and write only through it):

    from nodeloom.engine.store import Store
    store = Store.open()                                   # NODELOOM_HOME/nodeloom.db; upgrades old files
    saved = store.save_pipeline("demo", data, "tuned lr", base_version=3)   # StaleVersion if not at 3
    store.list_pipelines(); store.versions("demo"); store.get_version("demo", 2)
    store.diff("demo", 1, 3).lines(); store.restore("demo", 1)
    store.import_pipeline(Path("x.json")); store.export_pipeline("demo")
    store.list_runs("demo"); store.get_run(run_id)         # RunInfo / RunDetail (.nodes, .artifacts, .metrics)
    store.metric_series(run_id, "train")["train"]["loss"].steps / .values
    store.logs(run_id, "train", after_id=last_seen)
    store.mark_interrupted()                               # runs whose process died -> interrupted

Recording a run is `engine.recorder` (through `RunWriter`); cleaning disk space is `engine.store.gc`.
The parts of the store are listed in engine/store/core.py; see docs/store.md.
"""

from nodeloom.engine.events import ACTIVE, RUN_STATUSES, RunStatus
from nodeloom.engine.store.core import Store
from nodeloom.engine.store.database import explain_failure
from nodeloom.engine.store.diff import Change, NodeChange, PipelineDiff, diff_pipelines
from nodeloom.engine.store.pipelines import content_hash
from nodeloom.engine.store.processes import ProcessIdentity
from nodeloom.engine.store.records import (
    Artifact,
    LogEntry,
    NodeRun,
    NotFound,
    PipelineInfo,
    PipelineVersion,
    RunDetail,
    RunInfo,
    SaveResult,
    Series,
    StaleVersion,
    StoreCorrupt,
    StoreError,
    StoreFull,
    StoreLocked,
    StoreReadOnly,
)
from nodeloom.engine.store.writer import RunWriter

__all__ = [
    "ACTIVE",
    "RUN_STATUSES",
    "Artifact",
    "Change",
    "LogEntry",
    "NodeChange",
    "NodeRun",
    "NotFound",
    "PipelineDiff",
    "PipelineInfo",
    "PipelineVersion",
    "ProcessIdentity",
    "RunDetail",
    "RunInfo",
    "RunStatus",
    "RunWriter",
    "SaveResult",
    "Series",
    "StaleVersion",
    "Store",
    "StoreCorrupt",
    "StoreError",
    "StoreFull",
    "StoreLocked",
    "StoreReadOnly",
    "content_hash",
    "diff_pipelines",
    "explain_failure",
]
