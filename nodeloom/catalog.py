"""`nodeloom nodes` and `nodeloom examples`: what NodeLoom offers, from the node catalog to the shipped
example pipelines (runnable as `example:NAME`, or copied out to edit)."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from rich.table import Table

from nodeloom.output import EXIT_OK, UsageError, plural, say, stdout_console


def catalog_markdown(registry: Any) -> str:
    lines = ["| type | title | inputs | outputs | parameters | description |", "|---|---|---|---|---|---|"]
    for node_type in registry:
        inputs = ", ".join(f"{p.name}: {p.type}{'' if p.required else '?'}" for p in node_type.inputs) or "—"
        outputs = ", ".join(f"{p.name}: {p.type}" for p in node_type.outputs) or "—"
        params = ", ".join(f"`{name}`" for name in node_type.params.model_fields) or "—"
        cells = [f"`{node_type.type_id}`", node_type.title, inputs, outputs, params, node_type.summary_line]
        lines.append(f"| {' | '.join(cells)} |")
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
        stdout_console().print(table)
    return EXIT_OK


def copy_examples(folder: Path, force: bool) -> list[Path]:
    """Write every shipped example into `folder`; refuse (writing nothing) where a file exists, unless `force`."""
    from nodeloom.pipelines import example_files

    copies = [(path, folder / path.name) for path in example_files()]
    existing = [str(target) for _, target in copies if target.exists()]
    if existing and not force:
        raise UsageError(f"{', '.join(existing)} already exist{'s' * (len(existing) == 1)}; add --force to overwrite")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for source, target in copies:
            shutil.copyfile(source, target)
    except OSError as exc:
        raise UsageError(f"cannot write the examples into '{folder}': {exc.strerror or exc}") from None
    return [target for _, target in copies]


def cmd_examples(args: argparse.Namespace) -> int:
    from nodeloom.pipelines import example_files, summary

    if args.copy is not None:
        written = copy_examples(Path(args.copy), args.force)
        for path in written:
            print(path)
        say(
            f"wrote {plural(len(written), 'example')} into {args.copy}; "
            f"run one with: nodeloom run {Path(args.copy) / 'NAME.json'}"
        )
        return EXIT_OK
    examples = [(path.stem, summary(path)) for path in example_files()]
    if args.json:
        listed = [{"name": name, "reference": f"example:{name}", "summary": text} for name, text in examples]
        print(json.dumps({"examples": listed}))
        return EXIT_OK
    width = max((len(name) for name, _ in examples), default=0)
    for name, text in examples:
        print(f"{name:<{width}}  {text}")
    say("run one with: nodeloom run example:NAME; copy them out to edit with: nodeloom examples --copy DIR")
    return EXIT_OK
