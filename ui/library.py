"""Where the editor's pipelines come from: saved pipelines and run history, through the engine's store
(the app writes no SQL of its own), and the example pipelines."""

from __future__ import annotations

from nodeloom.engine.paths import nodeloom_home
from nodeloom.engine.pipeline import Pipeline
from nodeloom.engine.store import Store
from nodeloom.engine.validation import PipelineInvalid
from nodeloom.pipelines import example_files
from nodeloom.ui.state import pipeline_from_json

FIRST_EXAMPLE = "gpt2_chatbot.json"
_stores: dict[str, Store] = {}


def store() -> Store:
    """One store per NODELOOM_HOME for the whole app process (the Store is thread-safe)."""
    home = str(nodeloom_home())
    if home not in _stores:
        _stores[home] = Store.open(home)
    return _stores[home]


def last_opened() -> tuple[Pipeline, str, int] | None:
    """The most recently saved pipeline, if it can still be opened."""
    for info in store().list_pipelines()[:1]:
        saved = store().get_version(info.name)
        try:
            return pipeline_from_json(saved.data), info.name, saved.version
        except PipelineInvalid:
            return None
    return None


def open_saved(name: str, version: int | None = None) -> Pipeline:
    return pipeline_from_json(store().get_version(name, version).data)


def latest_version(name: str) -> int:
    return store().get_version(name).version


def first_pipeline() -> Pipeline:
    """The chatbot example, else the first example that opens, else an empty pipeline."""
    examples = example_files()
    examples.sort(key=lambda path: path.name != FIRST_EXAMPLE)
    for path in examples:
        try:
            return pipeline_from_json(path)
        except PipelineInvalid:
            continue
    return Pipeline(name="untitled")
