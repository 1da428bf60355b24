"""A checked pipeline as a standalone Python script: each node's function called in the order the runner
runs them, with every parameter written out as a literal, and no cache or run history. `nodeloom export
--python` and the app's export button write it; a person edits it from there.

The script imports the node functions and their parameter models from the modules that define them
(nodeloom.nodes, or a plug-in), builds the RunContext each function expects, and prints the metrics as
JSON on its last line, in the shape of `nodeloom run --json`'s "metrics".
"""

from __future__ import annotations

import builtins
import enum
import json
import keyword
import math
import re
import textwrap
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePath
from typing import Any

from nodeloom.engine import types as T
from nodeloom.engine.node import NodeType, Registry, discover
from nodeloom.engine.pipeline import NodeSpec, Pipeline
from nodeloom.engine.planner import plan

INDENT = "    "
# Names the script itself defines or imports: node variables never take them.
SCRIPT_NAMES = {
    "json",
    "logging",
    "sys",
    "contextlib",
    "Path",
    "Any",
    "CancelToken",
    "RunContext",
    "resolve_device",
    "SEED",
    "DEVICE",
    "WORKDIR",
    "context",
    "record",
    "run",
    "main",
    "metrics",
}


class NotExportable(ValueError):
    """A node the script cannot call (a function defined inside another, a parameter with no literal form)."""


def python_literal(value: Any, depth: int = 1) -> str:
    """Python source for a parameter value, as readable as the value allows; lists and dicts that do not fit on
    a line get one item a line."""
    if value is None or isinstance(value, (bool, int)):
        return repr(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f'float("{value}")'
    if isinstance(value, enum.Enum):
        return python_literal(value.value, depth)
    if isinstance(value, (str, PurePath)):
        return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a Python string literal
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [python_literal(item, depth + 1) for item in value]
        return _bracketed("[", items, "]", depth)
    if isinstance(value, dict):
        items = [f"{python_literal(key, depth + 1)}: {python_literal(item, depth + 1)}" for key, item in value.items()]
        return _bracketed("{", items, "}", depth)
    raise NotExportable(f"a {type(value).__name__} value has no literal form")


def _bracketed(opening: str, items: list[str], closing: str, depth: int) -> str:
    flat = f"{opening}{', '.join(items)}{closing}"
    if len(flat) <= 80 and "\n" not in flat:
        return flat
    inside = INDENT * (depth + 1)
    return opening + "\n" + "".join(f"{inside}{item},\n" for item in items) + INDENT * depth + closing


@dataclass
class Names:
    """Python names for the script: imported functions and models (aliased on a clash) and node variables."""

    taken: set[str] = field(default_factory=lambda: set(SCRIPT_NAMES) | set(dir(builtins)))
    imports: dict[tuple[str, str], str] = field(default_factory=dict)  # (module, name) -> name in the script

    def imported(self, obj: Any) -> str:
        module, name = obj.__module__, obj.__qualname__
        if "." in name or name.startswith("<") or module == "__main__":
            raise NotExportable(
                f"{module}.{name} cannot be imported by a script (defined inside a function or in a script of its own)"
            )
        if (module, name) not in self.imports:
            local = name if name not in self.taken else self.fresh(f"{module.rpartition('.')[2]}_{name}")
            self.taken.add(local)
            self.imports[(module, name)] = local
        return self.imports[(module, name)]

    def fresh(self, wanted: str) -> str:
        name = re.sub(r"\W", "_", wanted)
        name = f"node_{name}" if not name or name[0].isdigit() else name
        if keyword.iskeyword(name) or name in self.taken:
            name += "_out"
        candidate, number = name, 2
        while candidate in self.taken:
            candidate, number = f"{name}_{number}", number + 1
        self.taken.add(candidate)
        return candidate

    def import_lines(self) -> list[str]:
        by_module: dict[str, list[str]] = {}
        for (module, name), local in sorted(self.imports.items()):
            by_module.setdefault(module, []).append(name if local == name else f"{name} as {local}")
        lines = []
        for module, imported in sorted(by_module.items()):
            line = f"from {module} import {', '.join(imported)}"
            if len(line) > 120:
                line = f"from {module} import (\n" + "".join(f"{INDENT}{name},\n" for name in imported) + ")"
            lines.append(line)
        return lines


def readable_params(node_type: NodeType, params: Any, where: Path) -> tuple[dict[str, Any], list[str]]:
    """Every parameter's value, in the model's order. Relative paths of files the node reads that exist here
    become absolute, so the script runs from any folder; returns the values and what was made absolute."""
    values = {name: getattr(params, name) for name in type(params).model_fields}
    reads = set(node_type.external_files(params)) if node_type.external_files else set()
    resolved = []
    for name, value in values.items():
        if isinstance(value, str) and value in reads and value and not Path(value).expanduser().is_absolute():
            if (where / value).exists():
                values[name] = str((where / value).resolve())
                resolved.append(name)
    return values, resolved


def _step(
    spec: NodeSpec, node_type: NodeType, variable: str, inputs: dict[str, str], names: Names, where: Path
) -> list[str]:
    """The lines that run one node: a comment naming it, the call, and its metrics recorded."""
    params = node_type.params.model_validate(spec.params)
    values, resolved = readable_params(node_type, params, where)
    try:
        arguments = [f"{INDENT * 2}{name}={python_literal(value, 2)}," for name, value in values.items()]
    except NotExportable as exc:
        raise NotExportable(f"node '{spec.id}' ({spec.type}): {exc}") from None
    function, model = names.imported(node_type.run), names.imported(node_type.params)
    about = f"{spec.id}: {node_type.title} ({node_type.type_id}). {node_type.summary_line}"
    if resolved:
        about += f" ({', '.join(resolved)}: made absolute when exported, to run from any folder)"
    lines = _comment(about, INDENT).splitlines()
    given = "{" + ", ".join(f'"{port}": {source}' for port, source in inputs.items()) + "}"
    head = f'{INDENT}{variable} = {function}(context("{spec.id}"), {given}, {model}('
    if len(head) > 120:  # many inputs: one a line
        given = "{\n" + "".join(f'{INDENT * 2}"{port}": {source},\n' for port, source in inputs.items()) + INDENT + "}"
        head = f'{INDENT}{variable} = {function}(context("{spec.id}"), {given}, {model}('
    lines.append(head)
    lines += arguments
    lines.append(f"{INDENT}))")
    metric_ports = [port.name for port in node_type.outputs if port.type == T.METRICS]
    if metric_ports:
        reported = ", ".join(f'{variable}["{port}"]' for port in metric_ports)
        lines.append(f'{INDENT}record(metrics, "{spec.id}", {reported})')
    return [*lines, ""]


def python_script(
    pipeline: Pipeline, provenance: str, file_name: str | None = None, registry: Registry | None = None
) -> str:
    """The script for a checked pipeline (`load_pipeline`), to be saved as `file_name` (default: named after the
    pipeline). `provenance` says in its header where the pipeline came from (a saved version, a file);
    NotExportable names a node the script could not call."""
    registry = discover() if registry is None else registry
    names = Names()
    variables: dict[str, str] = {}
    body: list[str] = []
    where = Path.cwd()
    order = plan(pipeline)
    node_types = {node_id: registry.types[pipeline.node(node_id).type] for node_id in order}
    for node_type in node_types.values():  # the functions keep their own names; node variables give way
        names.imported(node_type.run)
        names.imported(node_type.params)
    for node_id in order:
        inputs: dict[str, str] = {}
        for edge in pipeline.incoming(node_id):
            assert edge.target_port is not None, "load_pipeline resolves every port"
            inputs[edge.target_port] = f'{variables[edge.source]}["{edge.source_port}"]'
        variables[node_id] = names.fresh(node_id)
        body += _step(pipeline.node(node_id), node_types[node_id], variables[node_id], inputs, names, where)
    stem = re.sub(r"[^\w.-]", "_", pipeline.name or "pipeline")
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    script = TEMPLATE.format(
        headline=_comment(f"{pipeline.name or 'untitled'}: {provenance}, exported by NodeLoom on {when}."),
        description=_comment(pipeline.description, "#   "),
        stem=stem,
        file_name=file_name or f"{stem}.py",
        imports="\n".join(names.import_lines()),
        seed=pipeline.settings.seed,
        device=json.dumps(pipeline.settings.device),
        body="\n".join(body).rstrip(),
    )
    compile(script, file_name or f"{stem}.py", "exec")  # a generator bug shows here, not in the user's hands
    return script


def _comment(text: str, indent: str = "") -> str:
    """Text as comment lines within the line length, one paragraph per line of the text."""
    prefix = f"{indent}# " if not indent.endswith("#   ") else indent
    width = 116 - len(prefix)
    lines = [wrapped for line in text.strip().splitlines() for wrapped in textwrap.wrap(line, width) or [""]]
    return "".join(f"{prefix}{line}".rstrip() + "\n" for line in lines) if text.strip() else ""


TEMPLATE = '''\
#!/usr/bin/env python3
{headline}{description}#
# Run it from any folder:   python {file_name}
#
# Each step is one node of the pipeline, in the order NodeLoom runs them, calling the node's own function
# with every parameter written out: edit anything. There is no cache and no run history here: every step
# is computed on each run. Nodes that write working files (checkpoints) write them under ./{stem}-work/.
# The last line printed is the metrics as JSON, {{node: {{metric: value}}}}, as `nodeloom run --json`
# reports them; everything else goes to stderr.

from __future__ import annotations

import contextlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

from nodeloom.engine.context import CancelToken, RunContext
from nodeloom.engine.device import resolve_device
{imports}

SEED = {seed}  # the pipeline's seed: nodes with randomness derive theirs from it
DEVICE = resolve_device({device})  # the pipeline's device setting; auto: CUDA, then MPS, then the CPU
WORKDIR = Path("{stem}-work")


def context(node_id: str) -> RunContext:
    """What a node's function receives besides its inputs and parameters."""
    return RunContext(
        run_id="script", node_id=node_id, device=DEVICE, seed=SEED, workdir=WORKDIR / node_id,
        cancel=CancelToken(), emit=lambda event: None,
    )


def record(metrics: dict[str, dict[str, float]], node_id: str, *outputs: dict[str, Any]) -> None:
    """A node's metrics as `nodeloom run` reports them: the top-level numbers of its metrics outputs."""
    found = {{
        name: float(value) for output in outputs for name, value in output.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }}
    if found:
        metrics[node_id] = found


def run() -> dict[str, dict[str, float]]:
    metrics: dict[str, dict[str, float]] = {{}}

{body}
    return metrics


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logging.getLogger("nodeloom").setLevel(logging.INFO)  # the nodes' own messages: "[clean] 80 rows in…"
    with contextlib.redirect_stdout(sys.stderr):  # libraries that print keep stdout for the result
        metrics = run()
    print(json.dumps(metrics))


if __name__ == "__main__":
    main()
'''
