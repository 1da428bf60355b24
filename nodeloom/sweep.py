"""`nodeloom sweep`: run a pipeline once per point of a grid of parameter values, each run recorded with the
sweep's id, then rank the runs by a metric.

The runs are ordinary recorded runs, one after the other, sharing the output cache: a node whose parameters and
inputs are the same at two points has the same cache key, so it is computed at the first and reused at the others.
Every point is checked before the first run starts, so a bad value costs nothing.
"""

from __future__ import annotations

import argparse
import difflib
import itertools
import json
import math
import sys
from dataclasses import dataclass, field
from typing import Any

from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from nodeloom.history import metrics_text
from nodeloom.output import (
    EXIT_INTERRUPTED,
    EXIT_NODE_FAILED,
    EXIT_OK,
    UsageError,
    plural,
    say,
    status_markup,
    stdout_console,
)
from nodeloom.running import chosen_executor, recorded_against, run_json, run_overrides, run_with_progress
from nodeloom.sources import Source, check_pipeline, open_store, read_source

MAX_POINTS = 1000  # a typo in a grid (an extra axis) should not queue days of runs
OPENING, CLOSING = "[{", "]}"


@dataclass(frozen=True)
class Axis:
    """One --grid: a parameter (NODE.PARAM, or settings.KEY) and its values as typed, each read as `--set` reads
    a value."""

    target: str
    values: tuple[str, ...]

    def assignment(self, value: str) -> str:
        return f"{self.target}={value}"


@dataclass(frozen=True)
class Ranking:
    """--rank-by NODE.METRIC[:asc|:desc]: descending (higher is better) unless `:asc` (losses, perplexity)."""

    node: str
    metric: str
    ascending: bool = False

    @property
    def label(self) -> str:
        return f"{self.node}.{self.metric}"

    def value(self, metrics: dict[str, dict[str, float]]) -> float | None:
        """The run's value of the metric; None where it has none, or NaN (which has no place in an order)."""
        found = metrics.get(self.node, {}).get(self.metric)
        return None if found is None or math.isnan(found) else found


def split_values(text: str) -> list[str]:
    """Comma-separated values; a comma inside brackets, braces or a double-quoted string belongs to its JSON
    value (`[1,2]`, `{"a":1,"b":2}`, `"x,y"`)."""
    values: list[str] = []
    current: list[str] = []
    depth, quoted, escaped = 0, False, False
    for char in text:
        if quoted:  # inside a JSON string: only its closing quote matters, and \" does not close it
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char in OPENING:
            depth += 1
        elif char in CLOSING:
            depth = max(depth - 1, 0)
        elif char == "," and depth == 0:
            values.append("".join(current))
            current = []
            continue
        current.append(char)
    values.append("".join(current))
    return values


def parse_axis(spec: str) -> Axis:
    """One --grid NODE.PARAM=V1,V2,…; UsageError in one line for a malformed one."""
    target, equals, listed = spec.partition("=")
    node_id, dot, param = target.partition(".")
    if not equals or not dot or not node_id or not param:
        raise UsageError(f"--grid {spec!r}: expected NODE.PARAM=V1,V2,… (or settings.KEY=V1,V2,…)")
    values = split_values(listed)
    if "" in values:
        raise UsageError(f'--grid {spec!r}: an empty value; write an empty text as ""')
    repeated = next((value for value in values if values.count(value) > 1), None)
    if repeated is not None:
        raise UsageError(f"--grid {spec!r}: value {repeated!r} is listed twice")
    return Axis(target, tuple(values))


def parse_ranking(text: str, node_ids: list[str]) -> Ranking:
    """--rank-by NODE.METRIC[:asc|:desc], its node checked against the pipeline's (its metric exists only once
    the node has run)."""
    target, colon, order = text.rpartition(":") if text.endswith((":asc", ":desc")) else (text, "", "")
    node_id, dot, metric = target.partition(".")
    if not dot or not node_id or not metric:
        raise UsageError(f"--rank-by {text!r}: expected NODE.METRIC, NODE.METRIC:asc (lower is better) or :desc")
    if node_id not in node_ids:
        close = difflib.get_close_matches(node_id, node_ids, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UsageError(f"--rank-by {text!r}: no node '{node_id}' in this pipeline{hint}")
    return Ranking(node_id, metric, ascending=order == "asc")


def grid_points(axes: list[Axis]) -> list[list[str]]:
    """Every combination of the axes' values, as `--set` assignments, the first axis varying slowest."""
    count = 1
    for axis in axes:
        count *= len(axis.values)
    if count > MAX_POINTS:
        raise UsageError(f"--grid: {count} combinations; a sweep runs at most {MAX_POINTS}, give fewer values")
    return [list(point) for point in itertools.product(*([axis.assignment(v) for v in axis.values] for axis in axes))]


def check_grid(data: Any, base: list[str], axes: list[Axis]) -> list[tuple[list[str], Any]]:
    """Each point's assignments with its checked pipeline. Each value is checked alone first, so a bad one is
    named with its parameter's problem; then each point, for rules that tie parameters together."""
    from nodeloom.engine.validation import PipelineInvalid

    def first_problem(assignments: list[str], exc: PipelineInvalid) -> str:
        more = len(exc.problems) - 1
        text = str(exc.problems[0])
        if exc.problems[0].code != "set":  # override problems already name the assignment
            text = f"--grid {' '.join(assignments)!r}: {text}"
        return text + (f" (and {plural(more, 'more problem')})" if more else "")

    for axis in axes:
        for value in axis.values:
            try:
                check_pipeline(data, [*base, axis.assignment(value)], option="--grid")
            except PipelineInvalid as exc:
                raise UsageError(first_problem([axis.assignment(value)], exc)) from None
    checked = []
    for point in grid_points(axes):
        try:
            checked.append((point, check_pipeline(data, [*base, *point], option="--grid")))
        except PipelineInvalid as exc:
            raise UsageError(first_problem(point, exc)) from None
    return checked


def swept_values(point: list[str]) -> dict[str, Any]:
    """A point's assignments as {NODE.PARAM: value}, each value read as `--set` reads it."""
    from nodeloom.engine.validation import parse_set_value

    return {target: parse_set_value(value) for target, _, value in (a.partition("=") for a in point)}


def ranked(outcomes: list[dict[str, Any]], ranking: Ranking | None) -> list[dict[str, Any]]:
    """Runs best first by the ranking's metric; runs without it (failed, cancelled) after, in grid order."""
    if ranking is None:
        return outcomes
    direction = 1 if ranking.ascending else -1
    scored = [
        (direction * score, place)
        for place, run in enumerate(outcomes)
        if (score := ranking.value(run["metrics"])) is not None
    ]
    unscored = [run for run in outcomes if ranking.value(run["metrics"]) is None]
    return [outcomes[place] for _, place in sorted(scored)] + unscored  # ties keep their grid order


def sweep_table(
    title: str, runs: list[dict[str, Any]], seconds: dict[str, float | None], axes: list[Axis], ranking: Ranking | None
) -> Table:
    """The runs best first: place, id, status, each swept value, the ranking metric (all metrics without one) and
    the run's `seconds` as recorded."""
    table = Table(title=Text(title))
    # Narrow output (a pipe is 80 columns) folds cells rather than cutting them: an id or a value cut short
    # could not be read back, and the ids are what `nodeloom show` takes.
    table.add_column("#", justify="right")
    table.add_column("run", min_width=12, overflow="fold")
    table.add_column("status", overflow="fold")
    for axis in axes:
        table.add_column(axis.target, overflow="fold")
    table.add_column(ranking.label if ranking else "metrics", justify="right" if ranking else "left", overflow="fold")
    table.add_column("seconds", justify="right", min_width=7)
    for place, run in enumerate(runs, start=1):
        score = ranking.value(run["metrics"]) if ranking else None
        shown = ("" if score is None else f"{score:.4g}") if ranking else metrics_text(run["metrics"])
        table.add_row(
            str(place),
            run["run_id"],
            status_markup(run["status"]),
            *(Text(json.dumps(run["overrides"][axis.target])) for axis in axes),
            Text(shown),
            "" if seconds[run["run_id"]] is None else f"{seconds[run['run_id']]:.2f}",
        )
    return table


def print_whole(table: Table) -> None:
    """On a terminal the table fits its width; elsewhere (a pipe, a log file: 80 columns to rich) it is printed
    as wide as its content, so a run id or a value is never folded or cut."""
    console = stdout_console()
    if not console.is_terminal:
        unbounded = console.options.update(max_width=10_000)
        console.width = max(console.width, Measurement.get(console, unbounded, table).maximum)
    console.print(table)


def sweep_title(sweep_id: str, runs: list[dict[str, Any]], planned: int, ranking: Ranking | None) -> str:
    done = plural(planned, "run") if len(runs) == planned else f"{len(runs)} of {plural(planned, 'run')}"
    about = f" of {runs[0]['pipeline']} {'draft' if runs[0]['version'] is None else 'v' + str(runs[0]['version'])}"
    order = f", ranked by {ranking.label} ({'lower' if ranking.ascending else 'higher'} is better)" if ranking else ""
    return f"sweep {sweep_id} — {done}{about if runs else ''}{order}"


def sweep_code(runs: list[dict[str, Any]], interrupted: bool) -> int:
    statuses = {run["status"] for run in runs}
    if interrupted or "cancelled" in statuses:
        return EXIT_INTERRUPTED
    return EXIT_NODE_FAILED if "failed" in statuses else EXIT_OK


@dataclass
class SweepRuns:
    """What a sweep ran: each run as `run --json` prints it plus its swept `overrides`, in grid order."""

    sweep_id: str
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float | None] = field(default_factory=dict)  # by run id, as recorded, for the table
    interrupted: bool = False  # a second Ctrl-C aborted a run


def checked_sweep(args: argparse.Namespace) -> tuple[Source, Any, list[str], list[Axis], Ranking | None, list[Any]]:
    """Everything a sweep needs, checked before anything runs: the source and its pipeline, the --set/--seed
    assignments, the axes, the ranking and every point with its checked pipeline."""
    from nodeloom.engine.planner import TargetExists, plan_run, repeated_saves

    axes = [parse_axis(spec) for spec in args.grid]
    targets = [axis.target for axis in axes]
    repeated = next((target for target in targets if targets.count(target) > 1), None)
    if repeated:
        raise UsageError(f"--grid {repeated} is given twice; list all its values in one --grid")
    base = run_overrides(args)
    clash = next((a.partition("=")[0] for a in base if a.partition("=")[0] in targets), None)
    if clash:
        raise UsageError(f"{clash} is both set (--set/--seed) and swept (--grid); drop one")
    source = read_source(args.pipeline)
    pipeline = check_pipeline(source.data, base)  # its own problems listed first, as `run` lists them
    ranking = parse_ranking(args.rank_by, [spec.id for spec in pipeline.nodes]) if args.rank_by else None
    points = check_grid(source.data, base, axes)
    # Each run planned now, as it will run (the grid may set a save's path or overwrite): an unknown --until
    # node, a missing device, a save with something in its way or one file saved by two runs, refused now.
    repeated = repeated_saves([plan_run(point_pipeline, args.until, args.device) for _, point_pipeline in points])
    if repeated:
        raise TargetExists(repeated)
    return source, pipeline, base, axes, ranking, points


def run_grid(
    store: Any,
    args: argparse.Namespace,
    recorded: tuple[Any, Any],
    base: list[str],
    points: list[Any],
    executor: Any = None,
) -> SweepRuns:
    """Run the points one after the other (so each finds in the cache what the ones before computed), recorded
    against `recorded` (version, pipeline JSON), on `executor` (None: the local one). The first Ctrl-C cancels
    the current run and ends the sweep."""
    from nodeloom.engine.paths import new_run_id

    version, data = recorded
    sweep = SweepRuns(new_run_id())
    for number, (point, pipeline) in enumerate(points, start=1):
        run_id = new_run_id()
        say(f"sweep {sweep.sweep_id}: run {number}/{len(points)} ({run_id}): {' '.join(point)}")
        try:
            result = run_with_progress(
                store,
                pipeline,
                version,
                as_json=args.json,
                pipeline_data=data,
                run_id=run_id,
                targets=args.until,
                device=args.device,
                overrides=[*base, *point],
                sweep_id=sweep.sweep_id,
                executor=executor,
            )
        except KeyboardInterrupt:  # a second Ctrl-C: the run is recorded as cancelled; nothing more runs
            say(("interrupted", "red"), f" (run {run_id} of sweep {sweep.sweep_id})")
            sweep.interrupted = True
            return sweep
        run = store.get_run(run_id)
        sweep.outcomes.append(run_json(result, run) | {"overrides": swept_values(point)})
        sweep.seconds[run_id] = run.seconds
        if result.status == "cancelled":
            return sweep
    return sweep


def cmd_sweep(args: argparse.Namespace) -> int:
    source, pipeline, base, axes, ranking, points = checked_sweep(args)
    with open_store() as store, chosen_executor(args) as executor:  # one Ray instance for all the runs
        recorded = recorded_against(store, source, pipeline, args.no_version)
        sweep = run_grid(store, args, recorded, base, points, executor)
    runs = ranked(sweep.outcomes, ranking)
    if args.json:
        sys.stdout.write(json.dumps({"sweep_id": sweep.sweep_id, "runs": runs}) + "\n")
    else:
        title = sweep_title(sweep.sweep_id, runs, len(points), ranking)
        print_whole(sweep_table(title, runs, sweep.seconds, axes, ranking))
    if ranking and runs and all(ranking.value(run["metrics"]) is None for run in runs):
        say(("warning: ", "yellow"), f"no run reported {ranking.label}; `nodeloom show RUN` lists a run's metrics")
    return sweep_code(runs, sweep.interrupted)
