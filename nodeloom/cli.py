"""`nodeloom`: run, validate and inspect pipelines, browse saved pipelines and run history,
rerun, clean up, list nodes, start the app.

Every run is recorded in the store (NODELOOM_HOME/nodeloom.db) against the exact pipeline version.
Exit codes: 0 success, 1 a node failed, 2 invalid pipeline, usage or store problem, 130 interrupted.
With --json, stdout holds exactly one JSON object; everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

EXIT_OK, EXIT_NODE_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130

err = Console(stderr=True)


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


def print_error(message: str) -> None:
    """One line on stderr; the message is printed verbatim (no markup), whatever brackets it holds."""
    err.print(Text.assemble(("error: ", "bold red"), message), highlight=False, soft_wrap=True)


def _print_problems(source: str, problems: list[Any]) -> None:
    count = f"{len(problems)} problem{'s' * (len(problems) != 1)}"
    err.print(Text.assemble((f"{source} is not a valid pipeline", "bold red"), f" ({count}):"), highlight=False)
    for problem in problems:
        err.print(f"  • {problem}", markup=False, highlight=False)


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
    """A pipeline file, else a saved pipeline: NAME (latest version) or NAME@VERSION."""
    from nodeloom.engine.validation import read_pipeline_json

    path = Path(source)
    if path.is_file():
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


def check_pipeline(data: Any, assignments: list[str]):
    """Apply --set overrides to pipeline JSON and check it."""
    from nodeloom.engine.validation import PipelineInvalid, apply_overrides, load_pipeline

    data, problems = apply_overrides(copy.deepcopy(data), assignments)
    try:
        pipeline = load_pipeline(data)
    except PipelineInvalid as exc:
        raise PipelineInvalid(problems + exc.problems) from None
    if problems:
        raise PipelineInvalid(problems)
    return pipeline


def read_pipeline(source: str, assignments: list[str]):
    """Load a pipeline file or saved pipeline, apply --set overrides, and check it."""
    return check_pipeline(read_source(source).data, assignments)


class ProgressView:
    """A rich progress bar per running node, on stderr."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.fields[node]}", style="bold"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
        self.tasks: dict[str, Any] = {}

    def __call__(self, event: Any) -> None:
        kind = event.kind
        if kind == "started":
            self.tasks[event.node_id] = self.progress.add_task("", total=None, node=event.node_id)
        elif kind == "progress" and event.node_id in self.tasks:
            values = " ".join(
                f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}"
                for name, value in event.values.items()
            )
            completed = None if event.fraction is None else event.fraction * 100
            self.progress.update(
                self.tasks[event.node_id], total=None if completed is None else 100, completed=completed or 0,
                description=(event.message + " " + values).strip(),
            )
        elif kind in ("finished", "failed", "cancelled") and event.node_id in self.tasks:
            self.progress.remove_task(self.tasks.pop(event.node_id))
        if kind == "failed":
            err.print(Text.assemble((f"✗ {event.node_id}", "red"), f": {event.error}"), highlight=False)
        elif kind == "log" and event.level in ("warning", "error"):
            err.print(Text.assemble((event.node_id, "yellow"), f": {event.message}"), highlight=False)


def _results_table(result: Any) -> Table:
    table = Table(title=f"run {result.run_id} — {result.status} on {result.device} in {result.seconds:.2f}s")
    for column in ("node", "status", "seconds", "cached", "metrics"):
        table.add_column(column, justify="right" if column == "seconds" else "left")
    colours = {"succeeded": "green", "failed": "red", "skipped": "yellow", "cancelled": "yellow"}
    for node_id, node_result in result.nodes.items():
        shown = result.metrics.get(node_id, {})
        table.add_row(
            node_id,
            f"[{colours.get(node_result.status, 'white')}]{node_result.status}[/]",
            f"{node_result.seconds:.2f}",
            "yes" if node_result.cached else "",
            ", ".join(f"{name}={value:.4g}" for name, value in shown.items()),
        )
    return table


def execute(
    pipeline: Any,
    args: argparse.Namespace,
    store: Any,
    version: Any,
    overrides: list[str],
    targets: list[str],
    device: str | None,
    rerun_of: str | None = None,
) -> int:
    """Run a checked pipeline, recorded against `version`, with the CLI's progress display and output contract."""
    from nodeloom.engine.context import CancelToken
    from nodeloom.engine.paths import new_run_id
    from nodeloom.engine.recorder import run_recorded

    cancel = CancelToken()

    def interrupt(signum: int, frame: Any) -> None:
        if cancel.cancelled:
            raise KeyboardInterrupt
        err.print("[yellow]stopping after the current step… (Ctrl-C again to abort)[/]")
        cancel.cancel()

    previous = signal.signal(signal.SIGINT, interrupt)
    view = ProgressView()
    stdout = sys.stdout
    run_id = args.run_id or new_run_id()
    try:
        # Libraries print to stdout; with --json stdout must hold exactly one JSON object.
        redirect = contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()
        with redirect, view.progress:
            result = run_recorded(
                store,
                pipeline,
                version,
                run_id=run_id,
                targets=targets,
                device=device,
                use_cache=not args.no_cache,
                overrides=overrides,
                listeners=[view],
                cancel=cancel,
                rerun_of=rerun_of,
            )
    except KeyboardInterrupt:
        err.print(f"[red]interrupted[/] (run {run_id})")
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGINT, previous)
    if args.json:
        stdout.write(json.dumps(result.to_json() | {"pipeline": version.pipeline, "version": version.version}) + "\n")
    else:
        Console().print(_results_table(result))
        err.print(f"recorded as run {result.run_id} of {version.pipeline} v{version.version}", highlight=False)
    return {"succeeded": EXIT_OK, "failed": EXIT_NODE_FAILED, "cancelled": EXIT_INTERRUPTED}[result.status]


def cmd_run(args: argparse.Namespace) -> int:
    source = read_source(args.pipeline)
    pipeline = check_pipeline(source.data, args.set)
    with open_store() as store:
        version = source.version
        if version is None:  # a file: its content becomes (or matches) a version of the pipeline it names
            version = store.ensure_version(pipeline.name or "untitled", source.data, f"run from {source.path.resolve()}").version
        return execute(pipeline, args, store, version, args.set, args.until, args.device)


def cmd_rerun(args: argparse.Namespace) -> int:
    with open_store() as store:
        original = _find_run(store, args.run)
        version = store.version_by_id(original.version_id)
        overrides = [*original.overrides, *args.set]
        pipeline = check_pipeline(version.data, overrides)
        targets = args.until or original.targets
        device = args.device or original.requested_device
        return execute(pipeline, args, store, version, overrides, targets, device, rerun_of=original.id)


def _find_run(store: Any, prefix: str) -> Any:
    from nodeloom.engine.store import NotFound

    try:
        return store.get_run(store.resolve_run_id(prefix))
    except NotFound as exc:
        raise UsageError(str(exc)) from None


def cmd_validate(args: argparse.Namespace) -> int:
    from nodeloom.engine.validation import PipelineInvalid

    if args.set and len(args.pipeline) > 1:
        raise UsageError("--set applies to one pipeline at a time; validate the files one by one")
    status = EXIT_OK
    for source in args.pipeline:
        try:
            pipeline = read_pipeline(source, args.set)
        except PipelineInvalid as exc:  # report every file, not just the first bad one
            _print_problems(source, exc.problems)
            status = EXIT_INVALID
            continue
        err.print(f"[green]✓[/] {source}: {len(pipeline.nodes)} nodes, {len(pipeline.edges)} edges — valid")
    return status


def _metrics_text(metrics: dict[str, dict[str, float]]) -> str:
    return ", ".join(f"{node}.{name}={value:.4g}" for node, numbers in metrics.items() for name, value in numbers.items())


STATUS_COLOURS = {
    "succeeded": "green", "failed": "red", "skipped": "yellow", "cancelled": "yellow",
    "interrupted": "magenta", "running": "cyan", "queued": "white",
}


def _status(status: str) -> str:
    return f"[{STATUS_COLOURS.get(status, 'white')}]{status}[/]"


def cmd_runs(args: argparse.Namespace) -> int:
    with open_store() as store:
        runs = store.list_runs(args.pipeline, status=args.status, limit=args.limit)
    if args.json:
        print(json.dumps({"runs": [
            {
                "id": run.id, "pipeline": run.pipeline, "version": run.version, "status": run.status,
                "started": run.started, "finished": run.finished, "seconds": run.seconds, "device": run.device,
                "rerun_of": run.rerun_of, "error": run.error, "metrics": run.metrics,
            }
            for run in runs
        ]}))
        return EXIT_OK
    table = Table(title=f"{len(runs)} run{'s' * (len(runs) != 1)}")
    for column in ("id", "pipeline", "status", "started", "seconds", "metrics"):
        table.add_column(column, justify="right" if column == "seconds" else "left")
    for run in runs:
        table.add_row(
            run.id, Text(f"{run.pipeline} v{run.version}"), _status(run.status), (run.started or run.created)[:19].replace("T", " "),
            "" if run.seconds is None else f"{run.seconds:.2f}", _metrics_text(run.metrics),
        )
    Console().print(table)
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    with open_store() as store:
        run = _find_run(store, args.run)
        series = store.metric_series(run.id)
        logs = store.logs(run.id)
    if args.json:
        found = run.to_dict() | {
            "series": {node: {name: {"steps": s.steps, "values": s.values} for name, s in metrics.items()}
                       for node, metrics in series.items()},
            "logs": [entry.to_dict() for entry in logs],
        }
        print(json.dumps(found))
        return EXIT_OK
    console = Console()
    title = f"run {run.id} — {run.pipeline} v{run.version} — {run.status}"
    if run.seconds is not None:
        title += f" on {run.device} in {run.seconds:.2f}s"
    table = Table(title=Text(title))
    for column in ("node", "type", "status", "seconds", "cached", "metrics / error"):
        table.add_column(column, justify="right" if column == "seconds" else "left")
    for node in run.nodes.values():
        numbers = run.metrics.get(node.node_id, {})
        detail = ", ".join(f"{name}={value:.4g}" for name, value in numbers.items()) or (node.error or "")
        table.add_row(
            node.node_id, node.type or "", _status(node.status), "" if node.seconds is None else f"{node.seconds:.2f}",
            "yes" if node.cached else "", Text(detail),
        )
    console.print(table)
    facts = [f"created {run.created}"]
    facts += [f"--set {' '.join(run.overrides)}"] if run.overrides else []
    facts += [f"--until {' '.join(run.targets)}"] if run.targets else []
    facts += [f"rerun of {run.rerun_of}"] if run.rerun_of else []
    facts += [f"error: {run.error}"] if run.error else []
    console.print("  ".join(facts), highlight=False, markup=False)
    for node, metrics in series.items():
        for name, points in metrics.items():
            last = points.values[-1]
            console.print(f"  {node}.{name}: {len(points.steps)} points, last {last if last is None else f'{last:.4g}'} "
                          f"at step {points.steps[-1]}", highlight=False, markup=False)
    for entry in logs:
        if entry.traceback:
            console.print(Text.assemble((str(entry.node_id), "red"), f": {entry.message}\n{entry.traceback}"), highlight=False)
    return EXIT_OK


def cmd_pipelines(args: argparse.Namespace) -> int:
    with open_store() as store:
        if args.name is None:
            return _list_pipelines(store, args.json)
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
    table = Table(title=f"{args.name}: {len(versions)} version{'s' * (len(versions) != 1)}")
    for column in ("version", "created", "message", "hash"):
        table.add_column(column)
    for v in versions:
        table.add_row(str(v.version), v.created[:19].replace("T", " "), Text(v.message), v.content_hash[:12])
    Console().print(table)
    return EXIT_OK


def _list_pipelines(store: Any, as_json: bool) -> int:
    pipelines = store.list_pipelines()
    if as_json:
        print(json.dumps({"pipelines": [p.to_dict() for p in pipelines]}))
        return EXIT_OK
    table = Table(title=f"{len(pipelines)} saved pipeline{'s' * (len(pipelines) != 1)}")
    for column in ("name", "versions", "updated", "runs", "last run", "description"):
        table.add_column(column)
    for p in pipelines:
        last = f"{p.last_run_id} {_status(p.last_run_status)}" if p.last_run_id else ""
        table.add_row(Text(p.name), str(p.latest_version), p.updated[:19].replace("T", " "), str(p.runs), last, Text(p.description))
    Console().print(table)
    return EXIT_OK


def cmd_gc(args: argparse.Namespace) -> int:
    from nodeloom.engine.store.gc import collect_garbage, human_bytes

    with open_store() as store:
        report = collect_garbage(store, keep=args.keep, dry_run=args.dry_run)
    if args.json:
        print(json.dumps(report.to_dict()))
        return EXIT_OK
    verb = "would free" if args.dry_run else "freed"
    entries, folders, kept = len(report.removed_cache_entries), len(report.removed_run_folders), len(report.kept_runs)
    console = Console()
    console.print(
        f"{verb} {human_bytes(report.bytes_freed)}: {entries} cache entr{'y' if entries == 1 else 'ies'}, "
        f"{folders} run folder{'s' * (folders != 1)}; kept the files of {kept} run{'s' * (kept != 1)}",
        highlight=False,
    )
    if report.cache_skipped:
        console.print(f"cache left alone: {report.cache_skipped}", highlight=False, markup=False)
    return EXIT_OK


def catalog_markdown(registry: Any) -> str:
    lines = ["| type | title | inputs | outputs | parameters | description |", "|---|---|---|---|---|---|"]
    for node_type in registry:
        inputs = ", ".join(f"{p.name}: {p.type}{'' if p.required else '?'}" for p in node_type.inputs) or "—"
        outputs = ", ".join(f"{p.name}: {p.type}" for p in node_type.outputs) or "—"
        params = ", ".join(f"`{name}`" for name in node_type.params.model_fields) or "—"
        lines.append(f"| `{node_type.type_id}` | {node_type.title} | {inputs} | {outputs} | {params} | {node_type.summary_line} |")
    return "\n".join(lines) + "\n"


def cmd_nodes(args: argparse.Namespace) -> int:
    from nodeloom.engine.node import discover

    registry = discover()
    if args.json:
        print(json.dumps({"nodes": [node_type.describe() for node_type in registry]}, indent=2))
    elif args.markdown:
        print(catalog_markdown(registry), end="")
    else:
        table = Table(title=f"{len(registry)} node types")
        for column in ("type", "title", "inputs", "outputs", "description"):
            table.add_column(column)
        for node_type in registry:
            table.add_row(
                node_type.type_id,
                node_type.title,
                ", ".join(f"{p.name}:{p.type}" for p in node_type.inputs),
                ", ".join(f"{p.name}:{p.type}" for p in node_type.outputs),
                node_type.summary_line,
            )
        Console().print(table)
    return EXIT_OK


def app_script() -> Path:
    """The installed package's own Streamlit script (never an app.py found in the current folder)."""
    return Path(__file__).resolve().parent / "streamlit_app.py"


def cmd_app(args: argparse.Namespace) -> int:
    command = [
        sys.executable, "-m", "streamlit", "run", str(app_script()),
        "--server.address", args.host,
        "--server.port", str(args.port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]
    err.print(f"NodeLoom at http://{args.host}:{args.port}")
    try:
        return subprocess.call(command, env=os.environ.copy())
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                        help="override a parameter; VALUE is JSON where it parses, else a string")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default=None,
                        help="where to compute (default: the pipeline's setting, else auto)")
    parser.add_argument("--until", action="append", default=[], metavar="NODE",
                        help="run only this node and what it needs (repeatable)")
    parser.add_argument("--no-cache", action="store_true", help="recompute every node")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the results")
    parser.add_argument("--run-id", type=run_id_argument, default=None, metavar="ID",
                        help="record the run under this id (for a program that polls the store for it)")


def run_id_argument(text: str) -> str:
    from nodeloom.engine.paths import RUN_ID_PATTERN

    if not RUN_ID_PATTERN.match(text):
        raise argparse.ArgumentTypeError(f"invalid run id {text!r}: use 1-64 letters, digits, '_', '-' or '.'")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nodeloom", description="Visual pipelines for language models.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run a pipeline file or saved pipeline (NAME or NAME@VERSION), recording it")
    run.add_argument("pipeline")
    add_run_options(run)
    run.set_defaults(handler=cmd_run)

    rerun = commands.add_parser("rerun", help="run a recorded run's exact pipeline version and overrides again")
    rerun.add_argument("run", help="run id (or a unique prefix)")
    add_run_options(rerun)
    rerun.set_defaults(handler=cmd_rerun)

    runs = commands.add_parser("runs", help="run history, newest first")
    runs.add_argument("pipeline", nargs="?", help="only this pipeline's runs")
    runs.add_argument("--status", choices=["queued", "running", "succeeded", "failed", "cancelled", "interrupted"])
    runs.add_argument("--limit", type=int, default=50)
    runs.add_argument("--json", action="store_true", help='print {"runs": [...]}')
    runs.set_defaults(handler=cmd_runs)

    show = commands.add_parser("show", help="one run: nodes, metrics, curves, errors")
    show.add_argument("run", help="run id (or a unique prefix)")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=cmd_show)

    pipelines = commands.add_parser("pipelines", help="saved pipelines; with NAME its versions, a diff or an export")
    pipelines.add_argument("name", nargs="?")
    what = pipelines.add_mutually_exclusive_group()
    what.add_argument("--diff", type=int, nargs="+", metavar="VERSION", help="changes from VERSION to VERSION2 (default: latest)")
    what.add_argument("--export", type=int, nargs="?", const=0, metavar="VERSION", help="print a version's JSON (default: latest)")
    pipelines.add_argument("--json", action="store_true")
    pipelines.set_defaults(handler=cmd_pipelines)

    gc = commands.add_parser("gc", help="delete caches and run folders of old runs (see docs/store.md)")
    gc.add_argument("--keep", type=int, default=5, help="runs kept per pipeline (default 5; the latest success is always kept)")
    gc.add_argument("--dry-run", action="store_true", help="only report what would be freed")
    gc.add_argument("--json", action="store_true")
    gc.set_defaults(handler=cmd_gc)

    validate = commands.add_parser("validate", help="check pipeline files (or saved pipelines) and list every problem")
    validate.add_argument("pipeline", nargs="+")
    validate.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE")
    validate.set_defaults(handler=cmd_validate)

    nodes = commands.add_parser("nodes", help="the node catalog")
    shape = nodes.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="ports, parameters (JSON Schema) and docs as JSON")
    shape.add_argument("--markdown", action="store_true", help="a Markdown table for the README")
    nodes.set_defaults(handler=cmd_nodes)

    app = commands.add_parser("app", help="start the Streamlit app (localhost only unless --host says otherwise)")
    app.add_argument("--port", type=int, default=8501)
    app.add_argument("--host", default="localhost", help="address to bind (default localhost)")
    app.set_defaults(handler=cmd_app)
    return parser


def main(argv: list[str] | None = None) -> int:
    from nodeloom.engine.device import DeviceUnavailable
    from nodeloom.engine.planner import UnknownTarget
    from nodeloom.engine.store import StoreError
    from nodeloom.engine.validation import PipelineInvalid

    # Our own progress bars replace the per-map bars that `datasets` would print, and the weight
    # loading/saving bars of transformers (they follow huggingface_hub's switch). Library warnings
    # about expected things (a new classifier head, an unset loss_type) would bury NodeLoom's own
    # messages; set TRANSFORMERS_VERBOSITY=warning to see them again.
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_INVALID if exc.code else EXIT_OK
    try:
        return args.handler(args)
    except PipelineInvalid as exc:
        _print_problems(getattr(args, "pipeline", None) or f"the pipeline of run {args.run}", exc.problems)
        return EXIT_INVALID
    except (UsageError, DeviceUnavailable, UnknownTarget, StoreError) as exc:
        print_error(str(exc))
        return EXIT_INVALID
    except sqlite3.DatabaseError as exc:  # damage found after opening, e.g. a malformed page
        from nodeloom.engine.paths import DB_NAME, nodeloom_home

        print_error(f"the NodeLoom database {nodeloom_home() / DB_NAME} is damaged: {exc}")
        return EXIT_INVALID
    except KeyboardInterrupt:
        err.print("interrupted", style="red")
        return EXIT_INTERRUPTED
