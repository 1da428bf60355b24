"""One way for every benchmark to report a figure: NodeLoom's value beside the plain library's, from the same run.

    from _report import figure
    figure("text.tokenize, classification", nodeloom=9100, peer=9800, unit="texts/s",
           peer_name="datasets.map + tokenizer", goal="ratio >= 0.9")

prints one line for a person and, when NODELOOM_BENCH_JSON names a file, appends the figure to it as one JSON line,
which benchmarks/run.py turns into benchmarks/RESULTS.md (so no figure there is ever copied by hand).

The ratio is always nodeloom / peer. A goal is `SUBJECT OP NUMBER`, SUBJECT being `ratio`, `nodeloom` (its value
in `unit`) or `overhead` (nodeloom - peer, in `unit`), OP one of < <= > >=.
"""

from __future__ import annotations

import json
import operator
import os
import re
import sys
from pathlib import Path

JSON_ENV = "NODELOOM_BENCH_JSON"
GOAL_PATTERN = re.compile(r"^\s*(ratio|nodeloom|overhead)\s*(<=|>=|<|>)\s*(-?[0-9.]+(?:e-?[0-9]+)?)\s*$")
COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def ratio_of(nodeloom: float, peer: float | None) -> float | None:
    """nodeloom / peer, or None where there is no peer (or it measured zero)."""
    if peer is None or peer == 0:
        return None
    return nodeloom / peer


def goal_met(goal: str, nodeloom: float, peer: float | None) -> bool | None:
    """Whether the figure meets its goal; None where the goal needs a peer that is missing."""
    match = GOAL_PATTERN.match(goal)
    if match is None:
        raise ValueError(f"goal {goal!r}: write it as `ratio|nodeloom|overhead <|<=|>|>= NUMBER`, e.g. 'ratio <= 1.1'")
    subject, sign, bound = match.group(1), match.group(2), float(match.group(3))
    values = {"nodeloom": nodeloom, "ratio": ratio_of(nodeloom, peer)}
    values["overhead"] = None if peer is None else nodeloom - peer
    value = values[subject]
    return None if value is None else COMPARE[sign](value, bound)


def format_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "—"
    # three decimals near 1, where goals sit (1.105x must not read as 1.1x against a goal of <= 1.1)
    return f"{ratio:,.0f}x" if ratio >= 100 else f"{ratio:.1f}x" if ratio >= 10 else f"{ratio:.3f}x"


def describe(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    return f"{value:,.4g} {unit}".strip()


def figure(
    name: str,
    *,
    nodeloom: float,
    peer: float | None,
    unit: str,
    peer_name: str = "",
    goal: str | None = None,
) -> dict:
    """Print the figure and record it for benchmarks/run.py; returns what was recorded."""
    ratio = ratio_of(nodeloom, peer)
    met = None if goal is None else goal_met(goal, nodeloom, peer)
    record = {
        "benchmark": Path(sys.argv[0]).stem,
        "name": name,
        "nodeloom": nodeloom,
        "peer": peer,
        "peer_name": peer_name,
        "unit": unit,
        "ratio": ratio,
        "goal": goal,
        "met": met,
    }
    verdict = "" if goal is None else f"   goal {goal}: {'met' if met else 'NOT met' if met is False else 'n/a'}"
    ratio_text = "" if ratio is None else f"   ratio {format_ratio(ratio)}"
    print(
        f"[figure] {name}: NodeLoom {describe(nodeloom, unit)} | {peer_name or 'peer'} {describe(peer, unit)}"
        f"{ratio_text}{verdict}",
        flush=True,
    )
    path = os.environ.get(JSON_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as sink:
            sink.write(json.dumps(record) + "\n")
    return record
