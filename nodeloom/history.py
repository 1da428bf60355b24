"""`nodeloom runs`, `show`, `pipelines` and `gc`: what the store remembers, and cleaning it up."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.table import Table
from rich.text import Text

from nodeloom.output import EXIT_OK, UsageError, plural, status_markup, stdout_console
from nodeloom.sources import find_run, open_store

LEVEL_STYLES = {"debug": "dim", "info": "", "warning": "yellow", "error": "red"}


def metrics_text(metrics: dict[str, dict[str, float]]) -> str:
    return ", ".join(
        f"{node}.{name}={value:.4g}" for node, numbers in metrics.items() for name, value in numbers.items()
    )


def timestamp(text: str) -> str:
    return text[:19].replace("T", " ")


def run_summary(run: Any) -> dict[str, Any]:
    """A run as `nodeloom runs --json` and the HTTP API's run list show it."""
    return {
        "id": run.id,
        "pipeline": run.pipeline,
        "version": run.version,
        "status": run.status,
        "started": run.started,
        "finished": run.finished,
        "seconds": run.seconds,
        "device": run.device,
        "rerun_of": run.rerun_of,
        "sweep_id": run.sweep_id,
        "error": run.error,
        "metrics": run.metrics,
    }


def run_document(run: Any, series: dict[str, dict[str, Any]], logs: list[Any]) -> dict[str, Any]:
    """A run with its curves and log, as `nodeloom show --json` and the HTTP API show it."""
    return run.to_dict() | {
        "series": {
            node: {name: {"steps": s.steps, "values": s.values} for name, s in metrics.items()}
            for node, metrics in series.items()
        },
        "logs": [entry.to_dict() for entry in logs],
    }


def cmd_runs(args: argparse.Namespace) -> int:
    with open_store() as store:
        runs = store.list_runs(args.pipeline, status=args.status, sweep_id=args.sweep, limit=args.limit)
    if args.json:
        print(json.dumps({"runs": [run_summary(run) for run in runs]}))
        return EXIT_OK
    swept = any(run.sweep_id for run in runs)  # the column only where it says something
    table = Table(title=plural(len(runs), "run"))
    for column in ("id", "pipeline", "status", "started", "seconds", *(["sweep"] if swept else []), "metrics"):
        table.add_column(column, justify="right" if column == "seconds" else "left")
    for run in runs:
        table.add_row(
            run.id,
            Text(f"{run.pipeline} {run.version_label}"),
            status_markup(run.status),
            timestamp(run.started or run.created),
            "" if run.seconds is None else f"{run.seconds:.2f}",
            *([run.sweep_id or ""] if swept else []),
            metrics_text(run.metrics),
        )
    stdout_console().print(table)
    return EXIT_OK


def log_lines(entries: list[Any]) -> list[Text]:
    """A run's log, one line per message (`clean  warning  3 rows dropped`), tracebacks indented below theirs."""
    width = max((len(str(entry.node_id or "run")) for entry in entries), default=0)
    lines = []
    for entry in entries:
        style = LEVEL_STYLES.get(entry.level, "")
        where = f"  {str(entry.node_id or 'run'):<{width}}  "
        lines.append(Text.assemble((where, "bold"), (f"{entry.level:<7} ", style), entry.message))
        if entry.traceback:
            lines += [Text(f"      {line}", style="dim") for line in entry.traceback.rstrip().splitlines()]
    return lines


def cmd_show(args: argparse.Namespace) -> int:
    with open_store() as store:
        run = find_run(store, args.run)
        series = store.metric_series(run.id)
        logs = store.logs(run.id)
    if args.json:
        print(json.dumps(run_document(run, series, logs)))
        return EXIT_OK
    console = stdout_console()
    title = f"run {run.id} — {run.pipeline} {run.version_label} — {run.status}"
    if run.seconds is not None:
        title += f" on {run.device} in {run.seconds:.2f}s"
    table = Table(title=Text(title))
    for column in ("node", "type", "status", "seconds", "cached", "metrics / error"):
        table.add_column(column, justify="right" if column == "seconds" else "left")
    for node in run.nodes.values():
        numbers = run.metrics.get(node.node_id, {})
        detail = ", ".join(f"{name}={value:.4g}" for name, value in numbers.items()) or (node.error or "")
        table.add_row(
            node.node_id,
            node.type or "",
            status_markup(node.status),
            "" if node.seconds is None else f"{node.seconds:.2f}",
            "yes" if node.cached else "",
            Text(detail),
        )
    console.print(table)
    facts = [f"created {run.created}"]
    facts += [f"--set {' '.join(run.overrides)}"] if run.overrides else []
    facts += [f"--until {' '.join(run.targets)}"] if run.targets else []
    facts += [f"rerun of {run.rerun_of}"] if run.rerun_of else []
    facts += [f"sweep {run.sweep_id}"] if run.sweep_id else []
    facts += [f"error: {run.error}"] if run.error else []
    console.print("  ".join(facts), highlight=False, markup=False, soft_wrap=True)
    for node, metrics in series.items():
        for name, points in metrics.items():
            last = points.values[-1]
            shown = last if last is None else f"{last:.4g}"
            console.print(
                f"  {node}.{name}: {len(points.steps)} points, last {shown} at step {points.steps[-1]}",
                highlight=False,
                markup=False,
            )
    if logs:
        console.print("log:", highlight=False, markup=False)
        for line in log_lines(logs):
            console.print(line, highlight=False, soft_wrap=True)
    return EXIT_OK


def cmd_pipelines(args: argparse.Namespace) -> int:
    with open_store() as store:
        if args.name is None:
            return list_pipelines(store, args.json)
        if args.export is not None:
            sys.stdout.write(store.export_pipeline(args.name, args.export or None))
            return EXIT_OK
        if args.diff:
            diff = store.diff(args.name, args.diff[0], args.diff[1] if len(args.diff) > 1 else None)
            if args.json:
                print(json.dumps(diff.to_dict()))
            else:
                print("\n".join(diff.lines()) or "no differences")
            return EXIT_OK
        versions = store.versions(args.name)
    if args.json:
        print(json.dumps({"pipeline": args.name, "versions": [v.to_dict(with_data=False) for v in versions]}))
        return EXIT_OK
    table = Table(title=f"{args.name}: {plural(len(versions), 'version')}")
    for column in ("version", "created", "message", "hash"):
        table.add_column(column)
    for v in versions:
        table.add_row(str(v.version), timestamp(v.created), Text(v.message), v.content_hash[:12])
    stdout_console().print(table)
    return EXIT_OK


def list_pipelines(store: Any, as_json: bool) -> int:
    pipelines = store.list_pipelines()
    if as_json:
        print(json.dumps({"pipelines": [p.to_dict() for p in pipelines]}))
        return EXIT_OK
    table = Table(title=plural(len(pipelines), "saved pipeline"))
    for column in ("name", "versions", "updated", "runs", "last run", "description"):
        table.add_column(column)
    for p in pipelines:
        last = f"{p.last_run_id} {status_markup(p.last_run_status)}" if p.last_run_id else ""
        table.add_row(Text(p.name), str(p.latest_version), timestamp(p.updated), str(p.runs), last, Text(p.description))
    stdout_console().print(table)
    return EXIT_OK


def cmd_gc(args: argparse.Namespace) -> int:
    from nodeloom.engine.store.gc import collect_garbage, human_bytes

    if args.keep < 1:  # collect_garbage refuses it too; here it is the user's mistake, said in one line
        raise UsageError(f"--keep must be at least 1, got {args.keep}: it counts the recent runs per pipeline to keep")
    with open_store() as store:
        report = collect_garbage(store, keep=args.keep, dry_run=args.dry_run)
    if args.json:
        print(json.dumps(report.to_dict()))
        return EXIT_OK
    verb = "would free" if args.dry_run else "freed"
    entries, folders, kept = len(report.removed_cache_entries), len(report.removed_run_folders), len(report.kept_runs)
    files = len(report.removed_worker_files)  # app-runs/ and api-runs/: a run's pipeline file and log
    worker_files = f", {plural(files, 'worker file')}" if files else ""
    console = stdout_console()
    console.print(
        f"{verb} {human_bytes(report.bytes_freed)}: {entries} cache entr{'y' if entries == 1 else 'ies'}, "
        f"{plural(folders, 'run folder')}{worker_files}; kept the files of {plural(kept, 'run')}",
        highlight=False,
        soft_wrap=True,
    )
    if report.cache_skipped:
        console.print(f"cache left alone: {report.cache_skipped}", highlight=False, markup=False)
    return EXIT_OK
