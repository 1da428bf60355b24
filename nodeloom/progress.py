"""Showing a run's progress on stderr: "node k of n", elapsed time and, where a node reports a
fraction, an estimate of the time left.

On a terminal a rich live display shows a bar per running node. Anywhere else (CI logs, files) a
live display would be noise, so `PlainProgress` writes at most one line every PLAIN_INTERVAL_SECONDS,
`[00:42] node 5/18 train: 37% step 120/320 loss=2.31 eta 1m10s`, plus a line per evaluation, so that a
long run is visibly alive in a log. Failures are printed as one line at once, in both views.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Column
from rich.text import Text

from nodeloom.output import err, say

PLAIN_INTERVAL_SECONDS = 10.0
HIDDEN_VALUES = ("step",)  # already in the trainer's message, "step 120/320"


def clock_text(seconds: float) -> str:
    """Elapsed time as a log prefix: 00:42, 12:03, 1:02:03."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def duration_text(seconds: float) -> str:
    """A time left, short: 42s, 1m10s, 2h05m."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def values_text(values: dict[str, Any]) -> str:
    return " ".join(
        f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}"
        for name, value in values.items()
        if value is not None and name not in HIDDEN_VALUES
    )


def remaining_seconds(fraction: float | None, elapsed: float) -> float | None:
    """Time left if the rest goes as fast as the part done; None before there is a part done."""
    if fraction is None or fraction <= 0 or fraction > 1:
        return None
    return elapsed * (1 - fraction) / fraction


@dataclass
class NodeState:
    started: float
    fraction: float | None = None
    message: str = ""
    values: dict[str, Any] = field(default_factory=dict)


class RunTracker:
    """What is running, where it stands in the plan, and since when."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.planned: list[str] = []
        self.running: dict[str, NodeState] = {}

    def update(self, event: Any) -> None:
        kind = event.kind
        if kind == "run_started":  # the clock starts with the run, not with the imports before it
            self.started, self.planned = time.monotonic(), list(event.planned)
        elif kind == "started":
            self.running[event.node_id] = NodeState(time.monotonic())
        elif kind == "progress" and event.node_id in self.running:
            state = self.running[event.node_id]
            state.fraction, state.message = event.fraction, event.message
            state.values.update(event.values)
        elif kind in ("finished", "failed", "cancelled"):
            self.running.pop(event.node_id, None)

    def position(self, node_id: str) -> str:
        """`node 5/18`, counting cached nodes too: the plan is what the user sees in the results."""
        if node_id not in self.planned:
            return "node"
        return f"node {self.planned.index(node_id) + 1}/{len(self.planned)}"

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def announce_failure(event: Any) -> None:
    say((f"✗ {event.node_id}", "red"), f": {event.error}")


class MessageColumn(ProgressColumn):
    """The node's message and values, cut short (never wrapped) where the terminal is too narrow."""

    def render(self, task: Any) -> Text:
        return Text(task.description, no_wrap=True, overflow="ellipsis")


class TerminalProgress:
    """A rich progress bar per running node (a run listener and a context manager)."""

    def __init__(self) -> None:
        self.tracker = RunTracker()
        # The times come before the node's message, so that a narrow terminal cuts the message, not them.
        self.progress = Progress(
            TextColumn("{task.fields[position]}", style="dim"),
            TextColumn("{task.fields[node]}", style="bold"),
            BarColumn(bar_width=20),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(table_column=Column(no_wrap=True)),
            TextColumn("eta", style="dim"),
            TimeRemainingColumn(table_column=Column(no_wrap=True)),
            MessageColumn(),
            console=err,
            transient=True,
        )
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> TerminalProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.progress.stop()

    def __call__(self, event: Any) -> None:
        self.tracker.update(event)
        kind, node_id = event.kind, getattr(event, "node_id", None)
        if kind == "started":
            position = self.tracker.position(node_id)
            self.tasks[node_id] = self.progress.add_task("", total=None, node=node_id, position=position)
        elif kind == "progress" and node_id in self.tasks:
            completed = None if event.fraction is None else event.fraction * 100
            self.progress.update(
                self.tasks[node_id],
                total=None if completed is None else 100,
                completed=completed or 0,
                description=f"{event.message} {values_text(event.values)}".strip(),
            )
        elif kind in ("finished", "failed", "cancelled") and node_id in self.tasks:
            self.progress.remove_task(self.tasks.pop(node_id))
        if kind == "failed":
            announce_failure(event)


class PlainProgress:
    """Plain progress lines for logs: a heartbeat every `interval` seconds while a node runs, evaluations
    as they come, failures at once."""

    def __init__(self, interval: float) -> None:
        self.tracker = RunTracker()
        self.interval = interval
        self._stop = threading.Event()
        self._lock = threading.Lock()  # events arrive on the run's thread(s), heartbeats on ours
        self._thread = threading.Thread(target=self._beat, name="nodeloom-progress", daemon=True)

    def __enter__(self) -> PlainProgress:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stop.set()
        self._thread.join()

    def __call__(self, event: Any) -> None:
        with self._lock:
            self.tracker.update(event)
            if event.kind == "failed":
                announce_failure(event)
            elif event.kind == "progress" and any(name.startswith("eval_") for name in event.values):
                say(
                    f"[{clock_text(self.tracker.elapsed())}] {self.tracker.position(event.node_id)} {event.node_id}: "
                    f"{event.message} {values_text(event.values)}".rstrip()
                )

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                for line in self.status_lines():
                    say(line)

    def status_lines(self) -> list[str]:
        """One line per running node: `[00:42] node 5/18 train: 37% step 120/320 loss=2.31 eta 1m10s`."""
        lines = []
        now = time.monotonic()
        for node_id, state in self.tracker.running.items():
            parts = [f"[{clock_text(self.tracker.elapsed())}] {self.tracker.position(node_id)} {node_id}:"]
            if state.fraction is not None:
                parts.append(f"{state.fraction:.0%}")
            parts += [text for text in (state.message, values_text(state.values)) if text]
            left = remaining_seconds(state.fraction, now - state.started)
            # No fraction, no estimate: say how long the node has been at it instead.
            running = now - state.started
            parts.append(f"eta {duration_text(left)}" if left is not None else f"running {duration_text(running)}")
            lines.append(" ".join(parts))
        return lines


def progress_view() -> TerminalProgress | PlainProgress:
    """The view that suits stderr: live bars on a terminal, plain lines anywhere else."""
    return TerminalProgress() if err.is_terminal else PlainProgress(PLAIN_INTERVAL_SECONDS)
