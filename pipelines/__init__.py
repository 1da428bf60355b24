"""The example pipelines that ship with NodeLoom (installed as `nodeloom.pipelines`).

Every room may name an example as `example:NAME`; this module is the one place that knows where
the files are.
"""

from __future__ import annotations

import json
from pathlib import Path

FOLDER = Path(__file__).resolve().parent
PREFIX = "example:"


class UnknownExample(LookupError):
    """`example:NAME` names no shipped example."""


def example_files() -> list[Path]:
    """The shipped example files, sorted by name."""
    return sorted(FOLDER.glob("*.json"))


def example_names() -> list[str]:
    return [path.stem for path in example_files()]


def example_path(name: str) -> Path:
    """The file of a shipped example, by name (`gpt2_chatbot`) or reference (`example:gpt2_chatbot`)."""
    name = name.removeprefix(PREFIX)
    for path in example_files():
        if path.stem == name:
            return path
    raise UnknownExample(f"no example called '{name}'; the examples are: {', '.join(example_names())}")


def summary(path: Path) -> str:
    """The first sentence of an example's description, for one-line listings."""
    try:
        description = str(json.loads(path.read_text(encoding="utf-8")).get("description", ""))
    except (OSError, ValueError, AttributeError):
        return ""
    first, _, _ = description.partition(": ")
    return first if len(first) < 100 else description.split(". ")[0]
