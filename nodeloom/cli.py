"""`nodeloom`: run, validate and inspect pipelines, browse saved pipelines and run history,
rerun, clean up, list nodes and examples, start the app.

Every run is recorded in the store (NODELOOM_HOME/nodeloom.db) against the exact pipeline version.
Exit codes: 0 success, 1 a node failed, 2 invalid pipeline, usage or store problem, 130 interrupted,
141 stdout closed before the output was written (`nodeloom nodes --json | head -1`).
With --json, stdout holds exactly one JSON object; everything else goes to stderr.

This module is the parser and `main`; the commands live in running.py (run, rerun, validate; processes.py for
`run --processes N`), sweep.py (sweep), history.py (runs, show, pipelines, gc), catalog.py (nodes, examples),
app.py (app), serve.py (serve), export.py (export) and reporting.py (report).
"""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import sys
from importlib.metadata import version as installed_version
from typing import NoReturn

from nodeloom.app import cmd_app
from nodeloom.catalog import cmd_examples, cmd_nodes
from nodeloom.export import cmd_export
from nodeloom.history import cmd_gc, cmd_pipelines, cmd_runs, cmd_show
from nodeloom.logs import LEVEL_VARIABLE, chosen_level, configure_logging, quiet_libraries
from nodeloom.output import (
    EXIT_CLOSED_PIPE,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_OK,
    UsageError,
    err,
    print_error,
    print_problems,
    say,
)
from nodeloom.processes import processes_argument
from nodeloom.reporting import cmd_report
from nodeloom.running import cmd_rerun, cmd_run, cmd_validate
from nodeloom.serve import cmd_serve, positive_count
from nodeloom.sweep import cmd_sweep

EXAMPLES = f"""\
examples:
  nodeloom examples                                     the shipped example pipelines
  nodeloom run example:word_vectors                     run one; every run is recorded
  nodeloom run example:gpt2_chatbot --set train.epochs=1 --seed 3
  nodeloom run my_pipeline.json --device cuda:1 --json  a file; one JSON object on stdout
  nodeloom run my_pipeline.json --processes auto       train with DDP, one process per GPU (torchrun)
  nodeloom run my_pipeline.json --executor ray          each node a Ray task, independent branches in parallel
  nodeloom validate example:bert_sentiment my_pipeline.json
  nodeloom runs                                         run history, newest first
  nodeloom show 3f2a                                    one run: nodes, metrics, curves, log
  nodeloom rerun 3f2a --no-cache                        the same pipeline and overrides again
  nodeloom report 3f2a -o run.html                      one run as a self-contained HTML page to share
  nodeloom sweep my_pipeline.json --grid train.learning_rate=1e-4,3e-4 --grid train.epochs=1,2 \
      --rank-by perplexity.perplexity:asc               4 runs, shared nodes computed once, ranked
  nodeloom app --port 8600 --server.maxUploadSize 500   the app; --server.* options go to Streamlit
  nodeloom serve --port 8765 --max-runs 2               the HTTP API (docs at /docs), bearer-token protected
  nodeloom export example:word_vectors --python -o wv.py  a standalone script calling the node functions

exit codes: 0 success, 1 a node failed, 2 invalid pipeline, usage or store problem, 130 interrupted,
141 stdout closed early (e.g. `nodeloom nodes --json | head -1`)
logging: -v (debug, library warnings too), -q (errors only) or {LEVEL_VARIABLE}=debug|info|warning|error
"""


class Parser(argparse.ArgumentParser):
    """Usage mistakes in one line, like every other error of this command."""

    def error(self, message: str) -> NoReturn:
        print_error(f"{message} (see `{self.prog} --help`)")
        self.exit(EXIT_INVALID)


def device_argument(text: str) -> str:
    """--device is checked for its shape here; whether the device exists is checked when the run starts."""
    from nodeloom.engine.device import DEVICE_PATTERN

    if not DEVICE_PATTERN.match(text):
        raise argparse.ArgumentTypeError(f"invalid device {text!r}: use auto, cpu, cuda, cuda:N or mps")
    return text


def run_id_argument(text: str) -> str:
    from nodeloom.engine.paths import InvalidRunId, check_run_id

    try:
        return check_run_id(text)
    except InvalidRunId as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def verbosity_options(subcommand: bool) -> argparse.ArgumentParser:
    """-v / -q, before or after the command. After it they must not reset what was given before: no default there."""
    options = argparse.ArgumentParser(add_help=False)
    chatter = options.add_mutually_exclusive_group()
    chatter.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS if subcommand else 0,
        help=f"log debug messages and library warnings (default: warnings; or set {LEVEL_VARIABLE})",
    )
    chatter.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS if subcommand else False, help="log errors only"
    )
    return options


def add_override_options(parser: argparse.ArgumentParser) -> None:
    """What a run changes or limits: --set, --seed, --device, --until (`run`, `rerun` and `sweep`)."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NODE.PARAM=VALUE",
        help="override a parameter, or a setting as settings.seed=N / settings.device=D (repeatable); "
        "VALUE is JSON where it parses, else a string",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        metavar="N",
        help="the pipeline's seed for this run (same as --set settings.seed=N)",
    )
    parser.add_argument(
        "--device",
        type=device_argument,
        default=None,
        metavar="DEVICE",
        help="auto, cpu, cuda, cuda:N or mps (default: the pipeline's setting, else auto)",
    )
    parser.add_argument(
        "--until", action="append", default=[], metavar="NODE", help="run only this node and what it needs (repeatable)"
    )


def add_executor_options(parser: argparse.ArgumentParser) -> None:
    """Where the nodes run: --executor and --address (`run`, `rerun` and `sweep`; see docs/scale.md)."""
    parser.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local: one node after the other in this process (default); ray: each node a Ray task, independent "
        'branches in parallel (pip install "nodeloom[ray]")',
    )
    parser.add_argument(
        "--address",
        default=None,
        metavar="ADDR",
        help="with --executor ray: the Ray cluster to run on (e.g. ray://head:10001); default: a local Ray instance",
    )


def add_run_options(parser: argparse.ArgumentParser) -> None:
    add_override_options(parser)
    add_executor_options(parser)
    parser.add_argument("--no-cache", action="store_true", help="recompute every node")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the results")
    parser.add_argument(
        "--run-id",
        type=run_id_argument,
        default=None,
        metavar="ID",
        help="record the run under this id (for a program that polls the store for it)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="nodeloom",
        description="Visual pipelines for language models.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[verbosity_options(subcommand=False)],
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"nodeloom {installed_version('nodeloom')}",
        help="print the version and exit",
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="one of these; `nodeloom COMMAND --help` for its options"
    )
    common = [verbosity_options(subcommand=True)]

    def command(name: str, about: str, handler) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=about, description=about, parents=common)
        sub.set_defaults(handler=handler)
        return sub

    run = command("run", "run a pipeline (file, example:NAME, or saved NAME or NAME@VERSION), recording it", cmd_run)
    run.add_argument("pipeline", help="pipeline file, example:NAME (see `nodeloom examples`), NAME or NAME@VERSION")
    add_run_options(run)
    run.add_argument(
        "--no-version",
        action="store_true",
        help="record a FILE's pipeline with the run only, saving no version (what the app's Run does)",
    )
    run.add_argument(
        "--processes",
        type=processes_argument,
        default="1",
        metavar="N",
        help="run in N processes under PyTorch's launcher (torchrun): train.trainer trains with DDP, the rest runs "
        "once; auto: one per visible GPU (default 1; see docs/models.md)",
    )

    sweep = command("sweep", "run a pipeline over a grid of parameter values, recording and ranking runs", cmd_sweep)
    sweep.add_argument("pipeline", help="pipeline file, example:NAME, NAME or NAME@VERSION")
    sweep.add_argument(
        "--grid",
        action="append",
        required=True,
        metavar="NODE.PARAM=V1,V2,...",
        help="values to sweep, each read as `--set` reads a value (repeatable: one run per combination)",
    )
    sweep.add_argument(
        "--rank-by",
        metavar="NODE.METRIC[:asc]",
        help="order the table by this metric, highest first; :asc puts the lowest first (losses, perplexity)",
    )
    add_executor_options(sweep)
    add_override_options(sweep)
    sweep.add_argument("--json", action="store_true", help='print {"sweep_id", "runs": [...]}, best first')
    sweep.add_argument(
        "--no-version", action="store_true", help="record a FILE's pipeline with the runs only, saving no version"
    )

    rerun = command("rerun", "run a recorded run's exact pipeline and overrides again", cmd_rerun)
    rerun.add_argument("run", help="run id (or a unique prefix)")
    add_run_options(rerun)

    runs = command("runs", "run history, newest first", cmd_runs)
    runs.add_argument("pipeline", nargs="?", help="only this pipeline's runs")
    runs.add_argument(
        "--status",
        choices=["queued", "running", "succeeded", "failed", "cancelled", "interrupted"],
        help="only runs with this status",
    )
    runs.add_argument("--sweep", metavar="ID", help="only the runs of this sweep (`nodeloom sweep` prints its id)")
    runs.add_argument("--limit", type=int, default=50, help="at most this many runs (default 50)")
    runs.add_argument("--json", action="store_true", help='print {"runs": [...]}')

    show = command("show", "one run: nodes, metrics, curves and the nodes' log messages", cmd_show)
    show.add_argument("run", help="run id (or a unique prefix)")
    show.add_argument("--json", action="store_true", help="print the run, its curves and log as one JSON object")

    report = command("report", "one run as a self-contained HTML page: diagram, parameters, metrics…", cmd_report)
    report.add_argument("run", help="run id (or a unique prefix)")
    report.add_argument("-o", "--output", metavar="FILE", help="write it here (default: nodeloom-run-ID.html)")
    report.add_argument("--force", action="store_true", help="overwrite a file that exists")

    pipelines = command("pipelines", "saved pipelines; with NAME its versions, a diff or an export", cmd_pipelines)
    pipelines.add_argument("name", nargs="?", help="a saved pipeline: list its versions")
    what = pipelines.add_mutually_exclusive_group()
    what.add_argument(
        "--diff", type=int, nargs="+", metavar="VERSION", help="changes from VERSION to VERSION2 (default: latest)"
    )
    what.add_argument(
        "--export", type=int, nargs="?", const=0, metavar="VERSION", help="print a version's JSON (default: latest)"
    )
    pipelines.add_argument("--json", action="store_true", help="print the list, versions or diff as JSON")

    gc = command("gc", "delete caches and run folders of old runs (see docs/store.md)", cmd_gc)
    gc.add_argument(
        "--keep", type=int, default=5, help="runs kept per pipeline (default 5; the latest success is always kept)"
    )
    gc.add_argument("--dry-run", action="store_true", help="only report what would be freed")
    gc.add_argument("--json", action="store_true", help="print the report as JSON")

    validate = command("validate", "check pipelines (files, example:NAME, saved) and list every problem", cmd_validate)
    validate.add_argument("pipeline", nargs="+", help="pipeline file, example:NAME, NAME or NAME@VERSION")
    validate.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NODE.PARAM=VALUE",
        help="check with this override applied (one pipeline only; repeatable)",
    )

    nodes = command("nodes", "the node catalog", cmd_nodes)
    shape = nodes.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="ports, parameters (JSON Schema) and docs as JSON")
    shape.add_argument("--markdown", action="store_true", help="a Markdown table for the README")

    examples = command("examples", "the example pipelines shipped with NodeLoom (run as example:NAME)", cmd_examples)
    examples.add_argument("--copy", metavar="DIR", help="write the examples into DIR as NAME.json, to edit them")
    examples.add_argument("--force", action="store_true", help="with --copy: overwrite files that exist")
    examples.add_argument("--json", action="store_true", help='print {"examples": [...]}')

    app = command("app", "start the Streamlit app (localhost only unless --host says otherwise)", cmd_app)
    app.epilog = "Other --section.option VALUE options (e.g. --server.maxUploadSize 500) are passed on to Streamlit."
    app.add_argument("--port", type=int, default=8501, help="port to serve on (default 8501)")
    app.add_argument("--host", default="localhost", help="address to bind (default localhost)")

    serve = command(
        "serve",
        "the HTTP API: run pipelines and read run history from other programs (see "
        "docs/serve.md; OpenAPI docs at /docs)",
        cmd_serve,
    )
    serve.add_argument("--host", default="localhost", help="address to bind (default localhost)")
    serve.add_argument("--port", type=int, default=8765, help="port to serve on (default 8765; 0: any free port)")
    serve.add_argument(
        "--max-runs",
        type=positive_count,
        default=1,
        metavar="N",
        help="runs executing at once; the others wait in a queue (default 1)",
    )

    export = command(
        "export", "write a pipeline as a standalone Python script that calls the node functions", cmd_export
    )
    export.add_argument("pipeline", help="pipeline file, example:NAME, NAME or NAME@VERSION")
    export_format = export.add_mutually_exclusive_group(required=True)
    export_format.add_argument(
        "--python",
        action="store_true",
        help="a Python script: every parameter written out, no cache, metrics as JSON last",
    )
    export.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NODE.PARAM=VALUE",
        help="export with this override applied (repeatable), as `run --set`",
    )
    export.add_argument("--seed", type=int, default=None, metavar="N", help="the pipeline's seed in the script")
    export.add_argument("-o", "--output", metavar="FILE", help="write the script here (default: stdout)")
    export.add_argument("--force", action="store_true", help="with -o: overwrite a file that exists")
    return parser


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line; only `app` takes options it does not know (they are Streamlit's)."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command != "app":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.streamlit_options = unknown
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what `run --processes N` relaunches
    return args


def set_up_output(args: argparse.Namespace) -> None:
    level, complaint = chosen_level(args.verbose, args.quiet, os.environ)
    configure_logging(level, err)
    if complaint:
        logging.getLogger("nodeloom.cli").warning(complaint)
    # Our own progress display replaces the per-map bars that `datasets` would print, and the weight
    # loading/saving bars of transformers (they follow huggingface_hub's switch). Library warnings about
    # expected things (a new classifier head, an unset loss_type) would bury NodeLoom's own messages;
    # -v shows them again.
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    quiet_libraries(verbose=level <= logging.DEBUG)


def stdout_gone() -> int:
    """The reader of stdout went away (`| head`): point stdout at /dev/null, so that flushing it at exit
    cannot fail again, and exit quietly with 141, as a program stopped by SIGPIPE would."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_CLOSED_PIPE


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code (see the module docstring).

    A closed stdout (`nodeloom nodes --json | head -1`) exits with 141 (128 + SIGPIPE, what a shell reports
    for `cat` in the same place) and no traceback, so `set -o pipefail` scripts still see that the output
    was cut short.
    """
    from nodeloom.engine.device import DeviceUnavailable
    from nodeloom.engine.planner import TargetExists, UnknownTarget
    from nodeloom.engine.store import StoreError
    from nodeloom.engine.validation import PipelineInvalid

    try:
        args = parse(argv)
    except SystemExit as exc:  # --help, --version, or a usage mistake already reported
        return EXIT_INVALID if exc.code else EXIT_OK
    set_up_output(args)
    try:
        code = args.handler(args)
        sys.stdout.flush()  # a closed pipe shows up here for output still buffered
        return code
    except BrokenPipeError:
        return stdout_gone()
    except PipelineInvalid as exc:
        print_problems(getattr(args, "pipeline", None) or f"the pipeline of run {args.run}", exc.problems)
        return EXIT_INVALID
    except TargetExists as exc:  # one line per save that would replace what is there
        for refusal in exc.refusals:
            print_error(refusal)
        return EXIT_INVALID
    except (UsageError, DeviceUnavailable, UnknownTarget, StoreError) as exc:
        print_error(str(exc))
        return EXIT_INVALID
    except sqlite3.Error as exc:  # met after opening: a malformed page, a lock, a full disk, a read-only file
        from nodeloom.engine.paths import database_path
        from nodeloom.engine.store import explain_failure

        print_error(str(explain_failure(database_path(), exc)))
        return EXIT_INVALID
    except KeyboardInterrupt:
        say(("interrupted", "red"))
        return EXIT_INTERRUPTED
