"""`nodeloom export PIPELINE --python [-o FILE]`: a pipeline as a standalone Python script that calls the
node functions in order with every parameter written out (engine.script writes it; the app offers the
same script for download)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from nodeloom.output import EXIT_OK, UsageError, say
from nodeloom.running import run_overrides
from nodeloom.sources import Source, check_pipeline, open_store, read_source


def provenance(store: Any, source: Source, name: str, overrides: list[str]) -> str:
    """Where the pipeline came from, for the script's header: the saved version, or the file and the saved
    version with the same content when there is one."""
    from nodeloom.engine.store import NotFound, content_hash

    if source.version is not None:
        found = f"version {source.version.version} of the saved pipeline '{source.version.pipeline}'"
    else:
        found = f"from {source.path}"
        wanted = content_hash({**source.data, "name": name})
        try:
            same = [v.version for v in store.versions(name) if v.content_hash == wanted]
        except NotFound:
            same = []
        found += f" (saved as version {same[0]})" if same else " (not saved in the store)"
    return found + (f", with {', '.join(overrides)}" if overrides else "")


def cmd_export(args: argparse.Namespace) -> int:
    from nodeloom.engine.script import NotExportable, python_script

    source = read_source(args.pipeline)
    overrides = run_overrides(args)
    pipeline = check_pipeline(source.data, overrides)
    with open_store() as store:
        origin = provenance(store, source, pipeline.name or "untitled", overrides)
    try:
        script = python_script(pipeline, origin, Path(args.output).name if args.output else None)
    except NotExportable as exc:
        raise UsageError(f"cannot export {args.pipeline} as Python: {exc}") from None
    if args.output is None:
        sys.stdout.write(script)
        return EXIT_OK
    target = Path(args.output)
    if target.exists() and not args.force:
        raise UsageError(f"{target} already exists; use --force to overwrite it, or -o another file")
    try:
        target.write_text(script, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    say(f"wrote {target}; run it with: python {target}")
    return EXIT_OK
