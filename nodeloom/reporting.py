"""`nodeloom report RUN`: a recorded run as one self-contained HTML file (built by nodeloom.ui.report,
which the app's Download buttons use too), to share or to open offline."""

from __future__ import annotations

import argparse
from pathlib import Path

from nodeloom.output import EXIT_OK, UsageError, say
from nodeloom.sources import find_run, open_store


def cmd_report(args: argparse.Namespace) -> int:
    from nodeloom.engine.node import discover
    from nodeloom.ui.report import build_report, report_file_name

    with open_store() as store:
        run = find_run(store, args.run)
        target = Path(args.output or report_file_name(run.id))
        if target.exists() and not args.force:  # refused before the work of building the page
            raise UsageError(f"{target} already exists; use --force to overwrite it, or -o another file")
        page = build_report(store, run.id, discover())
    try:
        target.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    say(f"wrote the report of run {run.id} ({run.status}) to {target}")
    return EXIT_OK
