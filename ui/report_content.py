"""What a run report shows, read from the store and the output cache: the run, the pipeline JSON it ran
with its overrides applied, the parameters the overrides changed, headline metrics, curves, sample
outputs and the environment. Plain Python (no Streamlit): the `nodeloom report` command and the app's
Download buttons both build their report from here (ui/report.py renders it).
"""

from __future__ import annotations

import copy
import json
import platform
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from nodeloom.engine import types as T
from nodeloom.engine.events import RunStatus
from nodeloom.engine.node import Registry
from nodeloom.engine.store import RunDetail, RunInfo, Series, Store
from nodeloom.engine.validation import apply_overrides
from nodeloom.ui.headlines import Headline, chosen_metrics, headlines, previous_run

SAMPLE_ROWS = 5
SAMPLE_CHARACTERS = 300
FIRST_COLUMNS = ("prediction", "reference")  # the model's output beside the expected one
CONTEXT_COLUMNS = ("prompt", "question", "text", "input")  # what the model was given, the first one found
PREVIOUS_RUNS_READ = 50  # finished runs of the pipeline looked through for the one before this run
VERSIONED_PACKAGES = ("nodeloom", "torch", "transformers")
# Outputs read back to find samples: whatever else a node makes (a model, a tokenizer) would take seconds
# and memory to load, for no sample.
LIGHT_TYPES = T.JSON_TYPES | {T.DATASET}


@dataclass
class SampleTable:
    title: str
    columns: list[str]
    rows: list[list[str]]


@dataclass
class ReportContent:
    run: RunDetail
    pipeline: dict[str, Any]  # the JSON the run executed, with its overrides applied
    overridden: set[tuple[str, str]]  # (node id or "settings", parameter) set by an override
    headlines: list[Headline]  # the numbers to lead with, as presentation mode shows them
    headline_problems: list[str]  # headline entries the run recorded nothing for
    previous: RunInfo | None  # the pipeline's finished run before this one: what the headlines' changes are from
    series: dict[str, dict[str, Series]]
    samples: list[SampleTable] = field(default_factory=list)
    environment: list[tuple[str, str]] = field(default_factory=list)


def overridden_parameters(overrides: list[str]) -> set[tuple[str, str]]:
    """(node, parameter) of each `NODE.PARAM=VALUE` override; settings as ("settings", KEY)."""
    found = set()
    for assignment in overrides:
        target, equals, _ = assignment.partition("=")
        node_id, dot, param = target.partition(".")
        if equals and dot:
            found.add((node_id, param))
    return found


def headline_entries(settings: Any) -> list[str]:
    """The pipeline's own headline choice, `settings.presentation.headline` (["NODE.METRIC", …]); none when the
    setting is not a list of names (as ui.headlines.headline_setting reads it in the editor)."""
    presentation = settings.get("presentation") if isinstance(settings, dict) else None
    chosen = presentation.get("headline") if isinstance(presentation, dict) else None
    if not isinstance(chosen, list) or not all(isinstance(entry, str) for entry in chosen):
        return []
    return chosen


def cell_text(value: Any) -> str:
    """A sample cell as text, shortened: strings as they are, scores to 4 significant digits, the rest as JSON."""
    if isinstance(value, float):
        return f"{value:.4g}"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= SAMPLE_CHARACTERS else text[:SAMPLE_CHARACTERS] + "…"


def sample_columns(columns: list[str]) -> list[str]:
    context = [next((name for name in CONTEXT_COLUMNS if name in columns), None)]
    return [name for name in (*FIRST_COLUMNS, *context) if name in columns]


def lists_predictions(summary: dict[str, Any], port: str) -> bool:
    """Whether a node's recorded summary says its `port` is a dataset with a prediction column (a data
    node's summary describes its one dataset; the default one describes each port)."""
    described = summary.get(port) if isinstance(summary.get(port), dict) else summary
    columns = described.get("columns")
    return isinstance(columns, list) and "prediction" in columns


def node_samples(node_id: str, node_type: Any, summary: dict[str, Any], outputs: dict[str, Any]) -> list[SampleTable]:
    tables = []
    for port in node_type.outputs:
        value = outputs.get(port.name)
        if port.type == T.METRICS and isinstance(value, dict) and isinstance(value.get("worst_examples"), list):
            rows = [row for row in value["worst_examples"][:SAMPLE_ROWS] if isinstance(row, dict)]
            columns = [name for name in ("prediction", "reference", "score") if any(name in row for row in rows)]
            if rows and columns:
                tables.append(
                    SampleTable(
                        f"{node_id}: lowest-scoring rows",
                        columns,
                        [[cell_text(row.get(name, "")) for name in columns] for row in rows],
                    )
                )
        elif port.type == T.DATASET and lists_predictions(summary, port.name) and hasattr(value, "select"):
            columns = sample_columns(list(value.column_names))
            head = value.select_columns(columns).select(range(min(SAMPLE_ROWS, value.num_rows))).to_list()
            tables.append(
                SampleTable(
                    f"{node_id}: first rows of {port.name} ({value.num_rows:,} in all)",
                    columns,
                    [[cell_text(row[name]) for name in columns] for row in head],
                )
            )
    return tables


def sample_tables(run: RunDetail, registry: Registry, cache: Any) -> list[SampleTable]:
    """Model outputs beside references: the first rows of each dataset with a prediction column, and each
    metric node's lowest-scoring rows, read from the output cache (outputs cleaned away are left out)."""
    tables = []
    for node_id, node_run in run.nodes.items():
        node_type = registry.get(node_run.type or "")
        if node_type is None or node_run.status != RunStatus.SUCCEEDED or not node_run.cache_key:
            continue
        if not all(port.type in LIGHT_TYPES for port in node_type.outputs):
            continue
        if not any(
            port.type == T.METRICS or lists_predictions(node_run.summary, port.name) for port in node_type.outputs
        ):
            continue
        outputs = cache.get(node_run.cache_key)
        if outputs is not None:
            tables += node_samples(node_id, node_type, node_run.summary, outputs)
    return tables


def installed_version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def environment(run: RunDetail) -> list[tuple[str, str]]:
    """Where the run ran (as the store recorded it) and the library versions installed where the report
    is made (the store does not record versions with a run)."""
    rows = [
        ("device", run.device or "not recorded"),
        ("requested device", run.requested_device or "the pipeline's setting"),
        ("host", run.host or "not recorded"),
    ]
    rows += [(f"{package} (installed)", installed_version(package)) for package in VERSIONED_PACKAGES]
    rows += [("Python", platform.python_version()), ("platform", platform.platform(terse=True))]
    return rows


def read_report(store: Store, run_id: str, registry: Registry, cache: Any = None) -> ReportContent:
    """Everything the report of run `run_id` shows (a NotFound from the store when there is no such run)."""
    from nodeloom.engine.cache import default_cache
    from nodeloom.engine.store import NotFound

    run = store.get_run(run_id)
    if run is None:
        raise NotFound(f"no run '{run_id}'; `nodeloom runs` lists them")
    ran, _ = apply_overrides(copy.deepcopy(store.run_pipeline(run.id)), run.overrides)
    pipeline = ran if isinstance(ran, dict) else {}
    node_types = {node_id: node_run.type for node_id, node_run in run.nodes.items()}
    chosen, problems = chosen_metrics(headline_entries(pipeline.get("settings")), node_types, run.metrics)
    finished = store.list_runs(run.pipeline, status=RunStatus.SUCCEEDED, limit=PREVIOUS_RUNS_READ)
    previous = previous_run([earlier for earlier in finished if earlier.created <= run.created], run.id)
    return ReportContent(
        run=run,
        pipeline=pipeline,
        overridden=overridden_parameters(run.overrides),
        headlines=headlines(chosen, node_types, run.metrics, previous),
        headline_problems=problems,
        previous=previous,
        series=store.metric_series(run.id),
        samples=sample_tables(run, registry, cache or default_cache()),
        environment=environment(run),
    )
