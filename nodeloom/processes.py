"""`nodeloom run PIPELINE --processes N`: the run relaunched under PyTorch's launcher (torchrun), and each launched
process's part in it (engine/distributed.py says who does what).

`--processes N` starts `torch.distributed.run --standalone --nproc_per_node N -m nodeloom ARGS` with this command's
own arguments less `--processes`, through the launcher's Python API in this process, so that a process that fails
ends in one line of ours rather than the launcher's traceback. `torchrun --nproc_per_node N -m nodeloom run PIPELINE`
run by hand gives the same run: a process started by a launcher never relaunches itself.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from nodeloom.output import EXIT_INTERRUPTED, EXIT_NODE_FAILED, EXIT_OK, UsageError, print_error

AUTO = "auto"  # one process per visible CUDA device (one on a machine without)
MOST_PROCESSES = 1024


def processes_argument(text: str) -> str:
    """--processes N (a whole number from 1) or auto."""
    if text == AUTO or (text.isdigit() and 1 <= int(text) <= MOST_PROCESSES):
        return text
    raise argparse.ArgumentTypeError(
        f"invalid process count {text!r}: use a whole number from 1 to {MOST_PROCESSES}, or auto (one per visible GPU)"
    )


def process_count(requested: str, device: str) -> int:
    """How many processes `--processes` asks for on the run's resolved device; more than the visible GPUs of a
    CUDA run is refused (each process takes the GPU of its local rank)."""
    gpus = 0
    if device.startswith("cuda"):
        import torch

        gpus = torch.cuda.device_count()
    if requested == AUTO:
        return max(gpus, 1)
    count = int(requested)
    if gpus and count > gpus:
        raise UsageError(
            f"--processes {count}: only {gpus} CUDA device(s) are visible and each process takes one; "
            f"use --processes auto (or at most {gpus}), or --device cpu"
        )
    return count


def without_processes(argv: Sequence[str]) -> list[str]:
    """The command line less its --processes option (`--processes N` or `--processes=N`; what follows `--` is
    positional and kept)."""
    kept: list[str] = []
    tokens = iter(argv)
    for token in tokens:
        if token == "--":
            kept += [token, *tokens]
        elif token == "--processes":
            next(tokens, None)
        elif not token.startswith("--processes="):
            kept.append(token)
    return kept


def launcher_arguments(argv: Sequence[str], processes: int) -> list[str]:
    """torch.distributed.run's arguments for running `nodeloom ARGV` (less --processes) in `processes` processes."""
    return ["--standalone", "--nproc_per_node", str(processes), "-m", "nodeloom", *without_processes(argv)]


def relaunch(argv: Sequence[str], processes: int) -> int:
    """Run `nodeloom ARGV` under torch.distributed.run in `processes` processes and wait for them; rank 0's exit
    code (it printed the results), or a one-line reason when another process failed or the launcher was stopped."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    # The launcher would set 1 with a banner; this shares the cores between the processes instead.
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))
    quiet_launcher()
    try:
        run(parse_args(launcher_arguments(argv, processes)))
    except ChildFailedError as exc:
        return failed_exit_code(exc.failures, processes)
    except SignalException:  # Ctrl-C or a stop: the launcher passed the signal on and waited for the processes
        return EXIT_INTERRUPTED
    return EXIT_OK


def quiet_launcher() -> None:
    """The launcher's own log lines (a stop signal received, a failed process) are said here in one line instead.
    Its loggers set their own levels, and print through the handler of `torch.distributed`: filtered there."""
    for handler in logging.getLogger("torch.distributed").handlers:
        handler.addFilter(lambda record: not record.name.startswith("torch.distributed.elastic"))


def failed_exit_code(failures: dict[int, Any], processes: int) -> int:
    """Rank 0's exit code when it ended by itself (it told why, and recorded the run); else one line on the process
    that failed first (the launcher then stopped the others)."""
    leader = failures.get(0)
    if leader is not None and leader.exitcode > 0:
        return leader.exitcode
    rank = min(failures, key=lambda rank: (failures[rank].timestamp, rank))
    code = failures[rank].exitcode
    how = f"was stopped by signal {-code}" if code < 0 else f"ended with exit code {code}"
    print_error(f"process {rank} of {processes} {how}; its message, if any, is above")
    return EXIT_NODE_FAILED


@contextlib.contextmanager
def launched_group(args: argparse.Namespace, plan: Any) -> Iterator[Any]:
    """Under a launcher: this process joins the group, all agree on rank 0's run id (`args.run_id`), and the
    `Ranks` are given (None when not launched, or in a group of one). Rank 0 records a stop by the launcher as a
    failure (engine.distributed.stop_on_sigterm); the others leave Ctrl-C to rank 0, which stops the run."""
    from nodeloom.engine import distributed
    from nodeloom.engine.paths import new_run_id

    try:
        ranks = distributed.launched_ranks()
        timeout = distributed.group_timeout()
    except distributed.DistributedSetupError as exc:
        raise UsageError(str(exc)) from None
    if ranks is None:
        yield None
        return
    try:
        distributed.join_group(ranks, plan.device, timeout)
    except (RuntimeError, ValueError) as exc:  # WORLD_SIZE set, but no launcher's MASTER_ADDR, or it is unreachable
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"cannot join the process group of ranks 0-{ranks.world_size - 1}: {reason}; start the run "
            "with torchrun (or nodeloom run --processes N), or unset WORLD_SIZE"
        ) from None
    args.run_id = distributed.from_leader(args.run_id or new_run_id())
    if ranks.leads:
        distributed.stop_on_sigterm()
    else:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    yield ranks
    distributed.leave_group()


def follow(plan: Any, run_id: str) -> int:
    """A follower's part (a rank other than 0): the distributed nodes alongside rank 0, nothing printed on stdout
    (it belongs to rank 0's JSON), a failure in one line."""
    from nodeloom.engine.context import NodeError
    from nodeloom.engine.distributed import Follower

    follower = Follower(plan, run_id)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            follower.follow()
    except NodeError as exc:
        print_error(f"process {os.environ.get('RANK')}: {exc}")
        return EXIT_NODE_FAILED
    except Exception as exc:  # a crash: rank 0 meets it too, and records its traceback
        print_error(f"process {os.environ.get('RANK')}: {type(exc).__name__}: {exc}".splitlines()[0])
        return EXIT_NODE_FAILED
    return EXIT_OK


def leader_listeners(plan: Any, ranks: Any) -> list[Any]:
    """Rank 0's extra run listener: the followers' word (none outside a launched group)."""
    from nodeloom.engine.distributed import Leader, distributed_nodes
    from nodeloom.engine.node import discover

    return [Leader(distributed_nodes(plan, discover()))] if ranks is not None else []
