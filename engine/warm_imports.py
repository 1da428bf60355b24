"""What the run server (engine.worker) imports once, before it forks runs: the libraries every run imports and that
take most of a cold start (torch above all), the engine, and the installed node plug-ins. Only the server imports
this module, by name (its import is the point). A module that fails to import is left to the runs, which report
it as they always did, rather than taking the server down.

Libraries that only some nodes load (transformers' models, datasets with pyarrow's allocator thread) are left out:
each brings threads of its own into the server, and a fork copies no thread. The one pool here is numpy's OpenBLAS,
which stops itself around a fork; importing torch starts neither its intra-op pool nor CUDA (tests/cli/test_worker.py
counts the server's threads).
"""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import entry_points

from nodeloom.engine.node import ENTRY_POINT_GROUP

log = logging.getLogger(__name__)

LIBRARIES = (
    "torch",
    "numpy",
    "pandas",
    "networkx",
    "sqlite_utils",
    "psutil",
    "pydantic",
    "rich.console",  # the command line's output; its consoles are made in each run, for the run's own stderr
    "rich.progress",
    "rich.table",
    "nodeloom.engine.recorder",
    "nodeloom.engine.runner",
    "nodeloom.engine.store",
    "nodeloom.engine.validation",
    "nodeloom.engine.worker",  # the runs' entry point, run_command_line
)


def node_plugin_modules() -> list[str]:
    """The installed node plug-ins' modules (the built-in nodes are one). Importing one only registers its node
    types; each run still discovers the plug-ins itself."""
    return [entry.module for entry in entry_points(group=ENTRY_POINT_GROUP)]


def import_all() -> list[str]:
    """Import every module the runs will want; returns those that failed."""
    failed = []
    for name in [*LIBRARIES, *node_plugin_modules()]:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 — any failure is the run's to report, not the server's to die of
            log.debug("the run server did not preload %s: %s", name, exc)
            failed.append(name)
    return failed


import_all()
