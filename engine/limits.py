"""The limits NodeLoom puts on pipeline files it is handed, and the pure checks behind them.

A pipeline file may come from anyone (a download, an upload to the app, a colleague's store), so it is
read within fixed bounds: documented in docs/security.md, and enforced by `engine.validation` (files and
uploads), the store (imports and saves) and the runner (node working folders).
"""

from __future__ import annotations

import re
from typing import Any

MAX_PIPELINE_BYTES = 20 * 2**20  # 20 MB: the largest shipped example is a few kB
MAX_NESTING_DEPTH = 64  # lists and objects inside each other; Python's own recursion gives out near 1000
MAX_NODE_ID_LENGTH = 64
# A node id names the node's working folder, so it must be a plain name: never a path.
NODE_ID_PATTERN = re.compile(rf"^[A-Za-z0-9_.-]{{1,{MAX_NODE_ID_LENGTH}}}$")
NODE_ID_RULE = f"1-{MAX_NODE_ID_LENGTH} letters, digits, '_', '-' or '.', not '..'"


def is_node_id(text: object) -> bool:
    """True for a node id that is a plain name (NODE_ID_RULE): no separators, no '..', not '.'."""
    return isinstance(text, str) and bool(NODE_ID_PATTERN.match(text)) and ".." not in text and text != "."


def shown(text: str, width: int = 40) -> str:
    """`text` quoted for a one-line message, shortened so a hostile 5000-character value stays readable."""
    return repr(text if len(text) <= width else text[:width] + "…")


def describe_node(node_id: str, type_id: str) -> str:
    # A valid id shows as written; a hostile one (5000 characters, control characters) shortened and escaped.
    return f"node '{node_id}' ({type_id})" if is_node_id(node_id) else f"node {shown(node_id)} ({type_id})"


def megabytes(count: int) -> str:
    return f"{count / 2**20:.1f} MB" if count % 2**20 else f"{count // 2**20} MB"


def too_large(size: int) -> str | None:
    """Why a pipeline of `size` bytes is refused, or None when it is within MAX_PIPELINE_BYTES."""
    if size <= MAX_PIPELINE_BYTES:
        return None
    return f"the pipeline is {megabytes(size)}; the limit is {megabytes(MAX_PIPELINE_BYTES)}"


def too_deep(value: Any, limit: int = MAX_NESTING_DEPTH) -> str | None:
    """Why parsed JSON nested deeper than `limit` is refused, or None. Iterative: no recursion to run out of,
    and it stops at the first branch past the limit (even in a dict that contains itself)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > limit:
            return nested_too_deeply()
        stack.extend((child, depth + 1) for child in children)
    return None


def nested_too_deeply() -> str:
    return (
        f"the pipeline is nested more than {MAX_NESTING_DEPTH} levels deep (lists and objects inside each other); "
        "a pipeline needs a few levels"
    )
