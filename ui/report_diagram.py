"""The pipeline of a run report as inline SVG: nodes in columns by how far they sit from the sources,
links as curves, each card coloured by how its node ended.

Node ids and types come from the pipeline file: they reach the SVG only as escaped text, and the
geometry is computed here, so nothing from the file ever lands in an attribute.
"""

from __future__ import annotations

from html import escape
from typing import Any

CARD_WIDTH, CARD_HEIGHT = 196, 54
COLUMN_GAP, ROW_GAP, MARGIN = 64, 22, 12
CARD_CHARACTERS = 24  # what fits on a card in the report's font; the whole text is in the card's tooltip
STATUS_STYLES = {  # status -> CSS class of the card
    "succeeded": "ok",
    "cached": "cached",
    "failed": "failed",
    "running": "running",
    "queued": "waiting",
    "skipped": "waiting",
    "cancelled": "waiting",
    "interrupted": "failed",
}


def columns_of(node_ids: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Each node's column: the length of the longest chain of links leading to it (sources in column 0).

    Nodes on a cycle (a file the run refused) stay where a chain last put them, so this always ends."""
    column = dict.fromkeys(node_ids, 0)
    for _ in range(len(node_ids)):
        moved = False
        for source, target in edges:
            if column[target] < column[source] + 1 <= len(node_ids):
                column[target] = column[source] + 1
                moved = True
        if not moved:
            break
    return column


def card_text(text: str) -> str:
    return text if len(text) <= CARD_CHARACTERS else text[: CARD_CHARACTERS - 1] + "…"


def pipeline_svg(pipeline: dict[str, Any], statuses: dict[str, str]) -> str:
    """The pipeline JSON's nodes and links as an <svg> element; `statuses`: node id -> status to colour by."""
    nodes = [raw for raw in pipeline.get("nodes", []) if isinstance(raw, dict) and isinstance(raw.get("id"), str)]
    if not nodes:
        return '<p class="note">The pipeline has no nodes.</p>'
    ids = [raw["id"] for raw in nodes]
    edges = [
        (raw["source"], raw["target"])
        for raw in pipeline.get("edges", [])
        if isinstance(raw, dict) and raw.get("source") in ids and raw.get("target") in ids
    ]
    column = columns_of(ids, edges)

    def height_on_canvas(raw: dict[str, Any]) -> float:  # keeps the author's top-to-bottom order in a column
        position = raw.get("position")
        y = position.get("y") if isinstance(position, dict) else None
        return float(y) if isinstance(y, (int, float)) else 0.0

    place: dict[str, tuple[int, int]] = {}
    for index in range(max(column.values()) + 1):
        in_column = sorted((raw for raw in nodes if column[raw["id"]] == index), key=height_on_canvas)
        for row, raw in enumerate(in_column):
            place[raw["id"]] = (
                MARGIN + index * (CARD_WIDTH + COLUMN_GAP),
                MARGIN + row * (CARD_HEIGHT + ROW_GAP),
            )
    width = max(x for x, _ in place.values()) + CARD_WIDTH + MARGIN
    height = max(y for _, y in place.values()) + CARD_HEIGHT + MARGIN
    parts = [
        f'<svg class="diagram" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="pipeline diagram">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead"/></marker></defs>',
    ]
    for source, target in edges:
        (sx, sy), (tx, ty) = place[source], place[target]
        start_x, start_y, end_x, end_y = sx + CARD_WIDTH, sy + CARD_HEIGHT / 2, tx, ty + CARD_HEIGHT / 2
        bend = max(COLUMN_GAP / 2, (end_x - start_x) / 2)
        parts.append(
            f'<path class="link" d="M {start_x} {start_y} C {start_x + bend} {start_y}, {end_x - bend} {end_y}, '
            f'{end_x} {end_y}" marker-end="url(#arrow)"/>'
        )
    for raw in nodes:
        node_id, node_type = raw["id"], str(raw.get("type", ""))
        x, y = place[node_id]
        status = statuses.get(node_id, "not run")
        style = STATUS_STYLES.get(status, "waiting")
        parts.append(
            f'<g class="card {style}"><title>{escape(node_id)} ({escape(node_type)}): {escape(status)}</title>'
            f'<rect x="{x}" y="{y}" width="{CARD_WIDTH}" height="{CARD_HEIGHT}" rx="8"/>'
            f'<text x="{x + 12}" y="{y + 22}" class="card-id">{escape(card_text(node_id))}</text>'
            f'<text x="{x + 12}" y="{y + 41}" class="card-type">{escape(card_text(node_type))}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
