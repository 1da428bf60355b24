"""Logging for the command line, configured once by `main()`.

NodeLoom's own loggers (`nodeloom.*`: the engine, the recorder, nodes' `ctx.log`) log at WARNING by
default, at ERROR with `-q`, at DEBUG with `-v`, or at the level NODELOOM_LOG_LEVEL names. Other
libraries' log records and Python warnings are shown only with debug logging (from WARNING up): they are
about expected things (a new classifier head, a deprecated argument), or repeat in their own words an error
that NodeLoom reports in one line (`datasets` logs a CSV parse error before raising it).
On a terminal the lines go through rich; elsewhere (CI logs, files) they are plain, timestamped and
never wrapped: `2026-11-30 10:00:00 WARNING nodeloom.engine.cache: message`.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, MutableMapping

from rich.console import Console
from rich.logging import RichHandler

LEVEL_VARIABLE = "NODELOOM_LOG_LEVEL"
LEVEL_NAMES = ("debug", "info", "warning", "error", "critical")
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


class StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a record arrives (tests and redirections swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it; the property answers instead
        pass


def chosen_level(verbose: int, quiet: bool, environ: Mapping[str, str]) -> tuple[int, str | None]:
    """The level for NodeLoom's loggers, and a one-line complaint when NODELOOM_LOG_LEVEL is not a level."""
    if quiet:
        return logging.ERROR, None
    if verbose:
        return logging.DEBUG, None
    named = environ.get(LEVEL_VARIABLE, "").strip().lower()
    if not named:
        return logging.WARNING, None
    if named not in LEVEL_NAMES:
        return logging.WARNING, f"{LEVEL_VARIABLE}={named!r} is not a level; use one of {', '.join(LEVEL_NAMES)}"
    return logging.getLevelName(named.upper()), None


# Libraries with a stderr handler of their own, so our handler's filter never sees their records: each is quieted
# through its own switch (an environment variable read when it is imported, its setter once it is).
LIBRARY_SWITCHES = {"datasets": "DATASETS_VERBOSITY", "transformers": "TRANSFORMERS_VERBOSITY"}
_switched: dict[str, str] = {}  # the values we set, so that a value the user set is left alone


def quiet_libraries(verbose: bool, environ: MutableMapping[str, str] = os.environ) -> None:
    """Library log lines only with -v (from WARNING up): `datasets`, for one, logs a CSV parse error in its own
    words before raising it, which would come before, and bury, NodeLoom's one-line error."""
    chosen = "warning" if verbose else "critical"
    for library, variable in LIBRARY_SWITCHES.items():
        if environ.get(variable, _switched.get(variable)) != _switched.get(variable):
            continue  # the user's own setting
        environ[variable] = _switched[variable] = chosen
        library_logging = sys.modules.get(f"{library}.utils.logging")
        if library_logging is not None:  # imported already (an earlier command in this process): tell it directly
            library_logging.set_verbosity(logging.getLevelName(chosen.upper()))


def is_ours(logger_name: str) -> bool:
    return logger_name == "nodeloom" or logger_name.startswith("nodeloom.")


def configure_logging(level: int, console: Console) -> logging.Handler:
    """Route every log record and Python warning through one handler on the root logger."""
    if console.is_terminal:
        handler: logging.Handler = RichHandler(console=console, show_path=False, markup=False, log_time_format="[%X]")
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    else:
        handler = StderrHandler()
        handler.setFormatter(logging.Formatter(PLAIN_FORMAT, DATE_FORMAT))
    root = logging.getLogger()
    # main() may run more than once in a process (tests): replace our earlier handler, keep anyone else's.
    for old in [h for h in root.handlers if getattr(h, "nodeloom", False)]:
        root.removeHandler(old)
    handler.nodeloom = True  # type: ignore[attr-defined]
    libraries_shown = level <= logging.DEBUG
    handler.addFilter(lambda record: is_ours(record.name) or (libraries_shown and record.levelno >= logging.WARNING))
    root.addHandler(handler)
    logging.getLogger("nodeloom").setLevel(level)
    logging.captureWarnings(True)
    return handler
