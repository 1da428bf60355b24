"""What the run server (engine.worker) imports once, before it forks runs: the libraries every run imports and that
take most of a cold start (torch above all), the engine, the cache's codecs' libraries (datasets, transformers'
model base class: seconds, torch._dynamo included), the installed node plug-ins, and the libraries each plug-in
names in its WARM_IMPORTS (the built-in nodes: model classes, generation, the metric and safety libraries). Only
the server imports this module, by name (its import is the point). A module that fails to import is left to the
runs, which report it as they always did, rather than taking the server down.

A fork copies no thread, so the server must start none that a run would need. What these imports start:
- numpy's and scipy's OpenBLAS pools, which stop themselves around a fork (OpenBLAS's pthread_atfork handler);
- nothing else: importing torch starts neither its intra-op pool nor CUDA, and pyarrow's bundled jemalloc would
  start a background purging thread but is told not to (JE_ARROW_MALLOC_CONF below; it then purges inline).
tests/cli/test_worker.py counts the server's threads.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from importlib.metadata import entry_points

from nodeloom.engine.node import ENTRY_POINT_GROUP

log = logging.getLogger(__name__)

# Read once, when pyarrow (under datasets and scikit-learn) first loads: before any import below.
os.environ.setdefault("JE_ARROW_MALLOC_CONF", "background_thread:false")

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
    "datasets",  # the cache's dataset codec, with pyarrow
    "transformers.modeling_utils",  # the cache's model codec: models' base class, with torch._dynamo (seconds)
)


def node_plugin_modules() -> list[str]:
    """The installed node plug-ins' modules (the built-in nodes are one). Importing one only registers its node
    types; each run still discovers the plug-ins itself."""
    return [entry.module for entry in entry_points(group=ENTRY_POINT_GROUP)]


def import_each(names: list[str]) -> list[str]:
    """Import each module; returns those that failed."""
    failed = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 — any failure is the run's to report, not the server's to die of
            log.debug("the run server did not preload %s: %s", name, exc)
            failed.append(name)
    return failed


def import_all() -> list[str]:
    """Import every module the runs will want: the libraries above, the node plug-ins, and the libraries each
    plug-in names in its WARM_IMPORTS; returns those that failed."""
    plugins = node_plugin_modules()
    failed = import_each([*LIBRARIES, *plugins])
    for plugin in plugins:
        if plugin not in failed:
            failed += import_each(list(getattr(sys.modules[plugin], "WARM_IMPORTS", ())))
    return failed


import_all()
