"""`nodeloom`: run, validate and inspect pipelines, list nodes, start the app.

Exit codes: 0 success, 1 a node failed, 2 invalid pipeline or usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

EXIT_OK, EXIT_NODE_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130

err = Console(stderr=True)


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


def _print_problems(source: str, problems: list[Any]) -> None:
    err.print(f"[bold red]{source} is not a valid pipeline[/] ({len(problems)} problem{'s' * (len(problems) != 1)}):")
    for problem in problems:
        err.print(f"  • {problem}", markup=False, highlight=False)


def read_pipeline(source: str, assignments: list[str]):
    """Load a pipeline file, apply --set overrides, and check it."""
    from engine.validation import PipelineInvalid, apply_overrides, load_pipeline, read_pipeline_json

    path = Path(source)
    if not path.is_file():
        raise UsageError(f"pipeline file '{source}' does not exist")
    data = read_pipeline_json(path)
    data, problems = apply_overrides(data, assignments)
    try:
        pipeline = load_pipeline(data)
    except PipelineInvalid as exc:
        raise PipelineInvalid(problems + exc.problems) from None
    if problems:
        raise PipelineInvalid(problems)
    return pipeline


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
            err.print(f"[red]✗ {event.node_id}[/]: {event.error}", highlight=False)
        elif kind == "log" and event.level in ("warning", "error"):
            err.print(f"[yellow]{event.node_id}[/]: {event.message}", highlight=False)


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


def execute(pipeline: Any, args: argparse.Namespace, listeners: list[Any] | None = None) -> int:
    """Run a checked pipeline with the CLI's progress display and output contract."""
    from engine.context import CancelToken
    from engine.runner import run_pipeline

    cancel = CancelToken()

    def interrupt(signum: int, frame: Any) -> None:
        if cancel.cancelled:
            raise KeyboardInterrupt
        err.print("[yellow]stopping after the current step… (Ctrl-C again to abort)[/]")
        cancel.cancel()

    previous = signal.signal(signal.SIGINT, interrupt)
    view = ProgressView()
    all_listeners = [*(listeners or []), view]
    stdout = sys.stdout
    try:
        # Libraries print to stdout; with --json stdout must hold exactly one JSON object.
        redirect = contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()
        with redirect, view.progress:
            result = run_pipeline(
                pipeline,
                targets=args.until or None,
                device=args.device,
                use_cache=not args.no_cache,
                listeners=all_listeners,
                cancel=cancel,
            )
    except KeyboardInterrupt:
        err.print("[red]interrupted[/]")
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGINT, previous)
    if args.json:
        stdout.write(json.dumps(result.to_json()) + "\n")
    else:
        Console().print(_results_table(result))
    return {"succeeded": EXIT_OK, "failed": EXIT_NODE_FAILED, "cancelled": EXIT_INTERRUPTED}[result.status]


def cmd_run(args: argparse.Namespace) -> int:
    return execute(read_pipeline(args.pipeline, args.set), args)


def cmd_validate(args: argparse.Namespace) -> int:
    pipeline = read_pipeline(args.pipeline, args.set)
    err.print(f"[green]✓[/] {args.pipeline}: {len(pipeline.nodes)} nodes, {len(pipeline.edges)} edges — valid")
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
    from engine.node import discover

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
    spec = importlib.util.find_spec("app")
    if spec is None or spec.origin is None:
        raise UsageError("cannot find NodeLoom's app.py; reinstall with `pip install -e .`")
    return Path(spec.origin)


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nodeloom", description="Visual pipelines for language models.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run a pipeline file")
    run.add_argument("pipeline")
    add_run_options(run)
    run.set_defaults(handler=cmd_run)

    validate = commands.add_parser("validate", help="check a pipeline file and list every problem")
    validate.add_argument("pipeline")
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
    from engine.device import DeviceUnavailable
    from engine.planner import UnknownTarget
    from engine.validation import PipelineInvalid

    # Our own progress bars replace the per-map bars that `datasets` would print.
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_INVALID if exc.code else EXIT_OK
    try:
        return args.handler(args)
    except PipelineInvalid as exc:
        _print_problems(getattr(args, "pipeline", "pipeline"), exc.problems)
        return EXIT_INVALID
    except UsageError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        return EXIT_INVALID
    except (DeviceUnavailable, UnknownTarget) as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        return EXIT_INVALID
