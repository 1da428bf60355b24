"""Where the commands' pipelines and runs come from: a pipeline file, a shipped example
(`example:NAME`), a saved pipeline (`NAME` or `NAME@VERSION`), a recorded run (an id or a prefix)."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodeloom.output import UsageError


@dataclass
class Source:
    """Where a pipeline came from: a file (saved into the store when run) or a saved version."""

    data: Any  # parsed JSON, before --set overrides
    path: Path | None = None
    version: Any = None  # engine.store.PipelineVersion when read from the store


def open_store() -> Any:
    from nodeloom.engine.store import Store

    return Store.open()


def read_source(source: str) -> Source:
    """A pipeline file, a shipped example (`example:NAME`), else a saved pipeline: NAME (latest version) or
    NAME@VERSION."""
    from nodeloom.engine.validation import read_pipeline_json
    from nodeloom.pipelines import PREFIX, UnknownExample, example_path

    path = Path(source)
    if path.exists() and not path.is_dir():  # a FIFO or a device too: read_pipeline_json refuses them, unopened
        return Source(read_pipeline_json(path), path=path)
    if source.startswith(PREFIX):
        try:
            path = example_path(source)
        except UnknownExample as exc:
            raise UsageError(str(exc)) from None
        return Source(read_pipeline_json(path), path=path)
    name, at, number = source.rpartition("@") if "@" in source else (source, "", "")
    if at and not number.isdigit():
        raise UsageError(f"'{source}': expected NAME@VERSION with a version number")
    if path.suffix == ".json" or os.sep in source:
        raise UsageError(f"pipeline file '{source}' does not exist")
    from nodeloom.engine.store import NotFound

    store = open_store()
    try:
        version = store.get_version(name, int(number) if at else None)
    except NotFound as exc:
        raise UsageError(f"'{source}' is neither a pipeline file nor a saved pipeline: {exc}") from None
    finally:
        store.close()
    return Source(version.data, version=version)


def check_pipeline(data: Any, assignments: list[str], option: str = "--set"):
    """Apply --set overrides (or a sweep's `option` --grid values) to pipeline JSON and check it."""
    from nodeloom.engine.validation import PipelineInvalid, apply_overrides, load_pipeline

    data, problems = apply_overrides(copy.deepcopy(data), assignments, option)
    try:
        pipeline = load_pipeline(data)
    except PipelineInvalid as exc:
        raise PipelineInvalid(problems + exc.problems) from None
    if problems:
        raise PipelineInvalid(problems)
    return pipeline


def read_pipeline(source: str, assignments: list[str]):
    """Load a pipeline file, example or saved pipeline, apply --set overrides, and check it."""
    return check_pipeline(read_source(source).data, assignments)


def find_run(store: Any, prefix: str) -> Any:
    from nodeloom.engine.store import NotFound

    try:
        return store.get_run(store.resolve_run_id(prefix))
    except NotFound as exc:
        raise UsageError(str(exc)) from None
