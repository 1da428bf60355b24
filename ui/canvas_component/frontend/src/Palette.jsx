// The node palette: search the node types, drag one onto the canvas (or click it to add it in the
// middle of the view). Collapsed by default so it never hides the pipeline that fit view shows.

import React, { memo, useMemo, useState } from "react";
import { PALETTE_MIME, searchPalette } from "./contract";

function PaletteItem({ entry, onPick }) {
  const startDrag = (event) => {
    event.dataTransfer.setData(PALETTE_MIME, entry.type_id);
    event.dataTransfer.effectAllowed = "copy";
  };
  return (
    <div
      className="nl-palette-item"
      draggable
      onDragStart={startDrag}
      onClick={() => onPick(entry)}
      style={{ "--nl-category": entry.colour }}
      title={`${entry.description || entry.title}\nDrag onto the canvas, or click to add it in the middle.`}
      data-typeid={entry.type_id}
    >
      <div className="nl-palette-title">{entry.title}</div>
      <div className="nl-palette-type">{entry.type_id}</div>
      {entry.description && <div className="nl-palette-description">{entry.description}</div>}
    </div>
  );
}

function Palette({ palette, open, onToggle, onPick }) {
  const [query, setQuery] = useState("");
  const matches = useMemo(() => searchPalette(palette, query), [palette, query]);
  if (!open) {
    return (
      <button className="nl-button nl-palette-toggle" onClick={onToggle} title="Show the node palette">
        + Nodes
      </button>
    );
  }
  return (
    <div className="nl-palette" onKeyDown={(event) => event.stopPropagation()}>
      <div className="nl-palette-bar">
        <input
          className="nl-input"
          type="search"
          placeholder="Search nodes…"
          value={query}
          onChange={(event) => setQuery(event.target.value)}
          aria-label="Search nodes"
        />
        <button className="nl-button" onClick={onToggle} aria-label="Hide the palette">×</button>
      </div>
      <div className="nl-palette-list">
        {matches.map((entry) => <PaletteItem key={entry.type_id} entry={entry} onPick={onPick} />)}
        {matches.length === 0 && <div className="nl-empty">No node type matches “{query}”.</div>}
      </div>
    </div>
  );
}

export default memo(Palette);
