"""The numbers a presentation leads with: which metrics are headlines, their friendly names and units, and their
change from the previous run of the same pipeline. Plain Python (no Streamlit), so the rules are tested alone and
any view (presentation mode, a report) can show the same numbers in the same words.

A pipeline chooses its headlines in its settings, `{"presentation": {"headline": ["sacrebleu.score", …]}}`
(checked by engine.pipeline and engine.validation); without that, each metric node's main score leads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from nodeloom.engine.pipeline import PipelineSettings, headline_parts
from nodeloom.engine.store import RunInfo

MAIN_SCORES = {  # node type -> the number its results are quoted by
    "metric.sacrebleu": "score",
    "metric.bleu": "bleu",
    "metric.rouge": "rougeL",
    "metric.exact_match": "exact_match",
    "metric.accuracy": "accuracy",
    "metric.precision_recall_f1": "f1",
    "metric.perplexity": "perplexity",
    "text.safety_filter": "flagged_fraction",
    "train.trainer": "eval_loss",
}
DEFAULT_CATEGORY = "metric."  # the nodes whose main score leads when the pipeline names none


@dataclass(frozen=True)
class Style:
    label: str
    percent: bool = False  # a share (0-1) shown as "92 %"
    decimals: int | None = None  # None: three significant digits
    lower_is_better: bool = False


STYLES = {  # (node type, metric) -> how it is named and written
    ("metric.sacrebleu", "score"): Style("sacreBLEU", decimals=1),
    ("metric.bleu", "bleu"): Style("BLEU", decimals=3),
    ("metric.rouge", "rouge1"): Style("ROUGE-1", decimals=3),
    ("metric.rouge", "rouge2"): Style("ROUGE-2", decimals=3),
    ("metric.rouge", "rougeL"): Style("ROUGE-L", decimals=3),
    ("metric.rouge", "rougeLsum"): Style("ROUGE-Lsum", decimals=3),
    ("metric.exact_match", "exact_match"): Style("exact match", percent=True),
    ("metric.accuracy", "accuracy"): Style("accuracy", percent=True),
    ("metric.precision_recall_f1", "precision"): Style("precision", percent=True),
    ("metric.precision_recall_f1", "recall"): Style("recall", percent=True),
    ("metric.precision_recall_f1", "f1"): Style("F1", percent=True),
    ("metric.perplexity", "perplexity"): Style("perplexity", decimals=2, lower_is_better=True),
    ("metric.perplexity", "mean_loss"): Style("mean loss per token", decimals=3, lower_is_better=True),
    ("text.safety_filter", "flagged_fraction"): Style("flagged", percent=True, lower_is_better=True),
    ("train.trainer", "train_loss"): Style("training loss", decimals=3, lower_is_better=True),
    ("train.trainer", "eval_loss"): Style("eval loss", decimals=3, lower_is_better=True),
    ("train.trainer", "eval_perplexity"): Style("eval perplexity", decimals=2, lower_is_better=True),
}
LOWER_IS_BETTER_WORDS = ("loss", "perplexity", "error", "runtime", "seconds")


def style_of(type_id: str | None, metric: str) -> Style:
    """The metric's friendly name and unit: from STYLES, else its own name in words."""
    known = STYLES.get((type_id or "", metric))
    if known is not None:
        return known
    lower = any(word in metric.lower() for word in LOWER_IS_BETTER_WORDS)
    return Style(metric.replace("_", " "), lower_is_better=lower)


def _number(value: float, decimals: int | None) -> str:
    if decimals is not None:
        return f"{value:,.{decimals}f}"
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        return f"{value:.3g}"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.3g}"


def value_text(style: Style, value: float) -> str:
    """ "26.9", "92 %", "92.5 %", "1,024", "0.000123"."""
    if not math.isfinite(value):
        return str(value)
    if style.percent:
        return f"{value * 100:.1f}".rstrip("0").rstrip(".") + " %"
    return _number(value, style.decimals)


def delta_text(style: Style, value: float, previous: float) -> str:
    """The change in the unit the value is written in, with its sign: "+1.2", "-0.031", "+3.5 pts" (percentage
    points), "±0" when it does not show at the value's precision."""
    if not (math.isfinite(value) and math.isfinite(previous)):
        return ""
    change = value - previous
    if style.percent:
        shown = f"{abs(change) * 100:.1f}".rstrip("0").rstrip(".")
        suffix = " pts"
    else:
        decimals = style.decimals if style.decimals is not None else _decimals_for(value, previous)
        shown = f"{abs(change):,.{decimals}f}"
        suffix = ""
    if float(shown.replace(",", "")) == 0:
        return "±0"
    return f"{'-' if change < 0 else '+'}{shown}{suffix}"


def _decimals_for(*values: float) -> int:
    """Enough decimals to show three significant digits of the smaller of the values."""
    smallest = min((abs(value) for value in values if value), default=1.0)
    return max(0, 2 - math.floor(math.log10(smallest)))


@dataclass(frozen=True)
class Headline:
    node_id: str
    metric: str
    label: str  # "sacreBLEU"
    value: str  # "26.9", or "—" while the node has not recorded it
    delta: str | None  # "+1.2" against the previous run; None without one
    delta_color: str  # for st.metric: "normal" when higher is better, "inverse" when lower is, "off" unchanged
    note: str  # where the number comes from, for a tooltip


def headline_setting(settings: PipelineSettings) -> list[str]:
    """The pipeline's headline entries; none while the setting fails its check (an editor keeps a setting as written,
    so it may hold anything): validation reports it, and each metric node's main score leads meanwhile."""
    entries = getattr(settings.presentation, "headline", None)
    if not isinstance(entries, list) or not all(isinstance(entry, str) for entry in entries):
        return []
    return entries


def chosen_metrics(
    headline: Iterable[str], node_types: Mapping[str, str | None], metrics: Mapping[str, Mapping[str, float]]
) -> tuple[list[tuple[str, str]], list[str]]:
    """((node, metric) to lead with, problems). The pipeline's own headline list when it has one, else each metric
    node's main score (the first number of a metric node with no known main score). A named metric that its node
    ran without recording is a problem in one line, naming what it did record."""
    node_ids = list(node_types)
    named = [headline_parts(entry, node_ids) for entry in headline]
    if not named:
        return default_metrics(node_types, metrics), []
    chosen, problems = [], []
    for node_id, metric in named:
        recorded = metrics.get(node_id)
        if recorded and metric not in recorded:
            problems.append(
                f"setting 'presentation.headline': node '{node_id}' recorded no '{metric}' in this run; "
                f"it recorded {', '.join(recorded)}"
            )
            continue
        chosen.append((node_id, metric))
    return chosen, problems


def default_metrics(
    node_types: Mapping[str, str | None], metrics: Mapping[str, Mapping[str, float]]
) -> list[tuple[str, str]]:
    chosen = []
    for node_id, type_id in node_types.items():
        if not (type_id or "").startswith(DEFAULT_CATEGORY):
            continue
        main = MAIN_SCORES.get(type_id or "") or next(iter(metrics.get(node_id, {})), None)
        if main is not None:
            chosen.append((node_id, main))
    return chosen


def previous_run(runs: list[RunInfo], run_id: str) -> RunInfo | None:
    """The run before `run_id` among a pipeline's finished runs listed newest first (the store's order);
    the newest of them when `run_id` is not among them (it is still going)."""
    ids = [run.id for run in runs]
    if run_id not in ids:
        return runs[0] if runs else None
    index = ids.index(run_id)
    return runs[index + 1] if index + 1 < len(runs) else None


def headlines(
    chosen: list[tuple[str, str]],
    node_types: Mapping[str, str | None],
    metrics: Mapping[str, Mapping[str, float]],
    previous: RunInfo | None,
) -> list[Headline]:
    found = []
    for node_id, metric in chosen:
        style = style_of(node_types.get(node_id), metric)
        value = metrics.get(node_id, {}).get(metric)
        before = previous.metrics.get(node_id, {}).get(metric) if previous is not None else None
        delta = delta_text(style, value, before) if value is not None and before is not None else None
        note = f"{node_id}.{metric}"
        if before is not None and previous is not None:
            note += f"; {value_text(style, before)} in the previous run ({previous.id})"
        found.append(
            Headline(
                node_id,
                metric,
                style.label,
                value_text(style, value) if value is not None else "—",
                delta or None,
                "off" if delta == "±0" else "inverse" if style.lower_is_better else "normal",
                note,
            )
        )
    return found


def other_metrics(
    chosen: list[tuple[str, str]], node_types: Mapping[str, str | None], metrics: Mapping[str, Mapping[str, float]]
) -> list[dict[str, str]]:
    """The metrics that are not headlines, as table rows in friendly words."""
    leading = set(chosen)
    return [
        {"node": node_id, "metric": style.label, "value": value_text(style, value)}
        for node_id, found in metrics.items()
        for metric, value in found.items()
        if (node_id, metric) not in leading
        for style in [style_of(node_types.get(node_id), metric)]
    ]
