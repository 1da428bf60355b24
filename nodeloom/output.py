"""What every command shares about output: exit codes, the stderr console, one-line messages.

Messages and errors go to stderr, results (tables, JSON) to stdout. A message is never wrapped by rich:
in a log file a wrapped error breaks `grep`, and on a terminal the terminal wraps it anyway.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

EXIT_OK, EXIT_NODE_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_CLOSED_PIPE = 141  # 128 + SIGPIPE: what a shell reports for `cat`, `grep`… whose reader went away

err = Console(stderr=True)

STATUS_COLOURS = {
    "succeeded": "green",
    "failed": "red",
    "skipped": "yellow",
    "cancelled": "yellow",
    "interrupted": "magenta",
    "running": "cyan",
    "queued": "white",
}


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


def say(*parts: str | tuple[str, str]) -> None:
    """One line on stderr, never wrapped; parts are plain text or (text, style), printed verbatim (no markup)."""
    err.print(Text.assemble(*parts), highlight=False, soft_wrap=True)


def print_error(message: str) -> None:
    say(("error: ", "bold red"), message)


def print_problems(source: str, problems: list[Any]) -> None:
    count = f"{len(problems)} problem{'s' * (len(problems) != 1)}"
    say((f"{source} is not a valid pipeline", "bold red"), f" ({count}):")
    for problem in problems:
        say(f"  • {problem}")


def status_markup(status: str) -> str:
    return f"[{STATUS_COLOURS.get(status, 'white')}]{status}[/]"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"


class ResultConsole(Console):
    """stdout, where results go. A reader that went away (`| head`) is main()'s to handle, like any
    BrokenPipeError, instead of rich's own SystemExit(1)."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


def stdout_console() -> Console:
    """Where tables go; made per command so that tests capturing stdout see them."""
    return ResultConsole()
