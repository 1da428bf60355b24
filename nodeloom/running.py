"""`nodeloom run`, `rerun` and `validate`: check a pipeline, run it recorded, show progress and results."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from rich.table import Table

from nodeloom.output import (
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_NODE_FAILED,
    EXIT_OK,
    UsageError,
    plural,
    print_problems,
    say,
    status_markup,
    stdout_console,
)
from nodeloom.progress import progress_view
from nodeloom.sources import Source, check_pipeline, find_run, open_store, read_pipeline, read_source


def run_overrides(args: argparse.Namespace, earlier: Sequence[str] = ()) -> list[str]:
    """The --set assignments of a run, --seed last so it wins; recorded with the run so a rerun repeats them."""
    seed = [] if args.seed is None else [f"settings.seed={args.seed}"]
    return [*earlier, *args.set, *seed]


def results_table(result: Any) -> Table:
    table = Table(title=f"run {result.run_id} — {result.status} on {result.device} in {result.seconds:.2f}s")
    for column in ("node", "status", "seconds", "cached", "metrics"):
        table.add_column(column, justify="right" if column == "seconds" else "left")
    for node_id, node_result in result.nodes.items():
        shown = result.metrics.get(node_id, {})
        table.add_row(
            node_id,
            status_markup(node_result.status),
            f"{node_result.seconds:.2f}",
            "yes" if node_result.cached else "",
            ", ".join(f"{name}={value:.4g}" for name, value in shown.items()),
        )
    return table


EXIT_CODES = {"succeeded": EXIT_OK, "failed": EXIT_NODE_FAILED, "cancelled": EXIT_INTERRUPTED}  # by run status


def run_with_progress(
    store: Any, pipeline: Any, version: Any, *, as_json: bool, listeners: Sequence[Any] = (), **options: Any
) -> Any:
    """`run_recorded` (its keyword `options`) with the CLI's progress display on stderr and its Ctrl-C: the first
    cancels the run at the node's next check (it returns, `cancelled`), a second raises KeyboardInterrupt at once
    (the run recorded as cancelled). With `as_json`, what libraries print goes to stderr, keeping stdout for the
    one JSON object. `listeners` hear the run's events too."""
    from nodeloom.engine.context import CancelToken
    from nodeloom.engine.recorder import run_recorded

    cancel = CancelToken()

    def interrupt(signum: int, frame: Any) -> None:
        if cancel.cancelled:
            raise KeyboardInterrupt
        say(("stopping after the current step… (Ctrl-C again to abort)", "yellow"))
        cancel.cancel()

    previous = signal.signal(signal.SIGINT, interrupt)
    view = progress_view()
    try:
        redirect = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
        with redirect, view:
            return run_recorded(store, pipeline, version, listeners=[view, *listeners], cancel=cancel, **options)
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def chosen_executor(args: argparse.Namespace) -> Iterator[Any]:
    """The executor that --executor names, for the runs of this block: None (the local one, in this process) or
    a Ray executor, started here (a local Ray instance, or the cluster at --address) and stopped after."""
    if args.executor == "local":
        if args.address:
            raise UsageError("--address is the Ray cluster to run on; it needs --executor ray")
        yield None
        return
    from nodeloom.engine.ray_executor import RayExecutor, RayUnavailable, import_ray

    if getattr(args, "processes", "1") != "1":
        raise UsageError("--processes N and --executor ray do not mix; run a multi-process training with one of them")
    try:
        import_ray()
        say(f"connecting to the Ray cluster at {args.address}…" if args.address else "starting a local Ray instance…")
        executor = RayExecutor(address=args.address).start()
    except RayUnavailable as exc:
        raise UsageError(str(exc)) from None
    try:
        yield executor
    finally:
        executor.stop()


def run_json(result: Any, recorded: Any) -> dict[str, Any]:
    """A finished run as `nodeloom run --json` prints it: the engine's result, the pipeline and its version."""
    return result.to_json() | {"pipeline": recorded.pipeline, "version": recorded.version}


def execute(
    pipeline: Any,
    args: argparse.Namespace,
    store: Any,
    version: Any,
    overrides: list[str],
    targets: list[str],
    device: str | None,
    rerun_of: str | None = None,
    pipeline_data: dict[str, Any] | None = None,
    listeners: Sequence[Any] = (),
) -> int:
    """Run a checked pipeline, recorded against the saved `version`, or with `version` None with its JSON
    `pipeline_data` (the store ties it to a saved version when the content is one), with the CLI's progress
    display and output contract."""
    from nodeloom.engine.paths import new_run_id

    run_id = args.run_id or new_run_id()
    try:
        with chosen_executor(args) as executor:
            result = run_with_progress(
                store,
                pipeline,
                version,
                as_json=args.json,
                pipeline_data=pipeline_data,
                run_id=run_id,
                targets=targets,
                device=device,
                use_cache=not args.no_cache,
                overrides=overrides,
                rerun_of=rerun_of,
                listeners=listeners,
                executor=executor,
            )
    except KeyboardInterrupt:
        say(("interrupted", "red"), f" (run {run_id})")
        return EXIT_INTERRUPTED
    recorded = store.get_run(result.run_id)
    if args.json:
        sys.stdout.write(json.dumps(run_json(result, recorded)) + "\n")
    else:
        stdout_console().print(results_table(result))
        say(f"recorded as run {result.run_id} of {recorded.pipeline} {recorded.version_label}")
    return EXIT_CODES[result.status]


def recorded_against(store: Any, source: Source, pipeline: Any, no_version: bool) -> tuple[Any, dict[str, Any] | None]:
    """What runs of `source` are recorded against: (its saved version, None), or for a file with `no_version`
    (None, its JSON), as the app's Run records a pipeline with the run only."""
    if source.version is not None:
        return source.version, None
    if no_version:
        return None, {**source.data, "name": pipeline.name or "untitled"}
    # a file: its content becomes (or matches) a version of the pipeline it names
    assert source.path is not None, "a source with no saved version is a file"
    message = f"run from {source.path.resolve()}"
    return store.ensure_version(pipeline.name or "untitled", source.data, message).version, None


def cmd_run(args: argparse.Namespace) -> int:
    """Run a pipeline here, or with --processes N in N processes of PyTorch's launcher (nodeloom/processes.py),
    where rank 0 records the run and the other ranks join its distributed nodes."""
    from nodeloom.engine.planner import plan_run
    from nodeloom.processes import follow, launched_group, leader_listeners, process_count, relaunch

    source = read_source(args.pipeline)
    overrides = run_overrides(args)
    pipeline = check_pipeline(source.data, overrides)
    plan = plan_run(pipeline, args.until, args.device)
    with launched_group(args, plan) as ranks:
        processes = 1 if ranks is not None else process_count(args.processes, plan.device)
        if processes > 1:
            if args.executor != "local":  # checked here: the relaunched command no longer says --processes
                raise UsageError(
                    "--processes N and --executor ray do not mix; run a multi-process training with one of them"
                )
            return relaunch(args.argv, processes)
        if ranks is not None and not ranks.leads:
            return follow(plan, args.run_id)
        with open_store() as store:
            version, data = recorded_against(store, source, pipeline, args.no_version)
            return execute(
                pipeline,
                args,
                store,
                version,
                overrides,
                args.until,
                args.device,
                pipeline_data=data,
                listeners=leader_listeners(plan, ranks),
            )


def cmd_rerun(args: argparse.Namespace) -> int:
    """The run's own pipeline JSON (a saved version's or a draft's) and overrides, run again; no version is made."""
    with open_store() as store:
        original = find_run(store, args.run)
        data = store.run_pipeline(original.id)
        overrides = run_overrides(args, original.overrides)
        pipeline = check_pipeline(data, overrides)
        targets = args.until or original.targets
        device = args.device or original.requested_device
        version = None if original.version_id is None else store.version_by_id(original.version_id)
        return execute(
            pipeline, args, store, version, overrides, targets, device, rerun_of=original.id, pipeline_data=data
        )


def cmd_validate(args: argparse.Namespace) -> int:
    """Check each pipeline, and list the saves a run of it would refuse up front (`plan_run`): validation
    itself lets them be, since exporting a pipeline or running part of it replaces nothing."""
    from nodeloom.engine.planner import overwrite_refusals
    from nodeloom.engine.validation import PipelineInvalid

    if args.set and len(args.pipeline) > 1:
        raise UsageError("--set applies to one pipeline at a time; validate the files one by one")
    status = EXIT_OK
    for source in args.pipeline:
        try:
            pipeline = read_pipeline(source, args.set)
        except PipelineInvalid as exc:  # report every file, not just the first bad one
            print_problems(source, exc.problems)
            status = EXIT_INVALID
            continue
        refusals = overwrite_refusals(pipeline)
        if refusals:
            heading = f"{source} is valid, but a run would be refused before it starts"
            say((heading, "bold red"), f" ({plural(len(refusals), 'problem')}):")
            for refusal in refusals:
                say(f"  • {refusal}")
            status = EXIT_INVALID
            continue
        say(("✓", "green"), f" {source}: {len(pipeline.nodes)} nodes, {len(pipeline.edges)} edges — valid")
    return status
