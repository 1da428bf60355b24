"""The Runs page's sweeps: the runs of one `nodeloom sweep` side by side, ranked by a chosen metric, with the
values each run swept, and that metric plotted against each swept parameter.

The swept values are read back from each run's recorded `--set` overrides (a sweep records its grid values
there), keeping the parameters whose values differ between the runs.
"""

from __future__ import annotations

import json
import math
from typing import Any

import streamlit as st

from nodeloom.engine.validation import parse_set_value
from nodeloom.ui.text import chart_text, inline_code

LOG_AXIS_SPAN = 100  # positive values spanning this factor or more (learning rates) get a log axis


def sweeps_in(history: list[Any]) -> dict[str, list[Any]]:
    """Sweep id -> its runs among `history`, in the order listed (newest first)."""
    found: dict[str, list[Any]] = {}
    for run in history:
        if run.sweep_id:
            found.setdefault(run.sweep_id, []).append(run)
    return found


def override_values(run: Any) -> dict[str, Any]:
    """A run's `--set` overrides as {NODE.PARAM: value}, each value read as `--set` reads it (the last one wins)."""
    pairs = (override.partition("=") for override in run.overrides)
    return {target: parse_set_value(value) for target, equals, value in pairs if equals}


def swept_parameters(runs: list[Any]) -> list[str]:
    """The overridden parameters whose values differ between the runs: what the sweep varied."""
    values = [override_values(run) for run in runs]
    targets = sorted({target for found in values for target in found})
    return [
        target for target in targets if len({json.dumps(found.get(target), sort_keys=True) for found in values}) > 1
    ]


def metric_names(runs: list[Any]) -> list[str]:
    """Every final metric of the runs, as NODE.METRIC."""
    return sorted({f"{node}.{name}" for run in runs for node, found in run.metrics.items() for name in found})


def metric_value(run: Any, metric: str) -> float | None:
    """The run's final value of NODE.METRIC; None where it has none, or NaN (which has no place in an order)."""
    node, _, name = metric.partition(".")
    value = run.metrics.get(node, {}).get(name)
    return None if value is None or math.isnan(value) else value


def ranked(runs: list[Any], metric: str, lower_is_better: bool) -> list[Any]:
    """Best first by `metric`; runs without it (failed, cancelled) last, in their listed order."""
    direction = 1 if lower_is_better else -1
    scored = [
        (direction * value, place) for place, run in enumerate(runs) if (value := metric_value(run, metric)) is not None
    ]
    return [runs[place] for _, place in sorted(scored)] + [run for run in runs if metric_value(run, metric) is None]


def shown_value(value: Any) -> str:
    """A swept value in a table cell: numbers as numbers, anything else as JSON (text quoted, as --grid takes it)."""
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else json.dumps(value)


def comparison_rows(runs: list[Any], swept: list[str], metrics: list[str]) -> list[dict[str, Any]]:
    """One row per run, in the order given: place, id, status, its swept values, then every metric."""
    rows = []
    for place, run in enumerate(runs, start=1):
        values = override_values(run)
        rows.append(
            {"#": place, "run": run.id, "status": run.status}
            | {target: shown_value(values.get(target)) for target in swept}
            | {metric: metric_value(run, metric) for metric in metrics}
        )
    return rows


def log_axis(values: list[Any]) -> bool:
    numbers = [value for value in values if isinstance(value, (int, float)) and not isinstance(value, bool)]
    return len(numbers) == len(values) and min(numbers) > 0 and max(numbers) / min(numbers) >= LOG_AXIS_SPAN


def metric_chart(runs: list[Any], target: str, metric: str) -> Any:
    """`metric` against the value of `target`, one point per run that reported it, labelled with the run id.
    Values that are not all numbers are shown as categories, in the runs' order."""
    import plotly.graph_objects as go

    shown = [run for run in runs if metric_value(run, metric) is not None]
    values = [override_values(run).get(target) for run in shown]
    numeric = all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in values)
    figure = go.Figure(
        go.Scatter(
            x=values if numeric else [chart_text(shown_value(value)) for value in values],
            y=[metric_value(run, metric) for run in shown],
            mode="markers",
            marker=dict(size=10),
            text=[chart_text(run.id) for run in shown],
            hovertemplate="%{text}<br>%{x}: %{y:.4g}<extra></extra>",
        )
    )
    figure.update_layout(
        title=chart_text(f"{metric} by {target}"),
        height=280,
        margin=dict(l=10, r=10, t=36, b=10),
        xaxis_title=chart_text(target),
        yaxis_title=chart_text(metric),
        xaxis_type="log" if numeric and values and log_axis(values) else None,
    )
    return figure


def draw_sweeps(history: list[Any]) -> None:
    """A section comparing the runs of one sweep, when the history holds any."""
    sweeps = sweeps_in(history)
    if not sweeps:
        return
    st.subheader("Sweeps")
    sweep_id = st.selectbox(
        "Sweep",
        list(sweeps),
        format_func=lambda sweep: f"{sweep} — {len(sweeps[sweep])} runs of {sweeps[sweep][0].pipeline}",
        key="sweep-shown",
    )
    runs = list(reversed(sweeps[sweep_id]))  # grid order: the sweep ran them one after the other
    metrics = metric_names(runs)
    swept = swept_parameters(runs)
    if not metrics:
        st.info("No run of this sweep reported a metric yet.")
        return
    choose, order = st.columns([3, 2])
    metric = choose.selectbox("Rank by", metrics, key=f"sweep-metric:{sweep_id}")
    lower_is_better = order.toggle("Lower is better (a loss, perplexity)", key=f"sweep-lower:{sweep_id}")
    best_first = ranked(runs, metric, lower_is_better)
    st.dataframe(comparison_rows(best_first, swept, metrics), hide_index=True, width="stretch")
    if not swept:
        st.caption("These runs set no parameter differently.")
    for target in swept:
        st.plotly_chart(metric_chart(runs, target, metric), width="stretch", key=f"sweep:{sweep_id}:{target}")
    best = (
        f"Best by {inline_code(metric)}: {inline_code(best_first[0].id)}. "
        if metric_value(best_first[0], metric) is not None
        else ""
    )
    st.caption(f"{best}In a terminal: {inline_code(f'nodeloom runs --sweep {sweep_id}')}")
