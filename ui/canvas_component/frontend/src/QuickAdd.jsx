// Quick-add: a search box at a point of the canvas (double-click on empty canvas, or a link dropped
// on empty canvas, which offers only the node types that can take its other end).

import React, { useEffect, useMemo, useRef, useState } from "react";
import { searchPalette } from "./contract";

const MAX_SHOWN = 12;
const BOX_WIDTH = 290;
const BOX_HEIGHT = 340;

export default function QuickAdd({ at, palette, accepts, heading, onPick, onClose }) {
  const [query, setQuery] = useState("");
  const [active, setActive] = useState(0);
  const input = useRef(null);
  const matches = useMemo(() => searchPalette(palette, query, accepts).slice(0, MAX_SHOWN), [palette, query, accepts]);

  useEffect(() => input.current?.focus(), []);
  useEffect(() => setActive(0), [query]);

  const onKeyDown = (event) => {
    event.stopPropagation(); // typing here must not delete nodes or undo
    if (event.key === "Escape") onClose();
    else if (event.key === "ArrowDown") setActive((index) => Math.min(index + 1, matches.length - 1));
    else if (event.key === "ArrowUp") setActive((index) => Math.max(index - 1, 0));
    else if (event.key === "Enter" && matches[active]) onPick(matches[active]);
    else return;
    event.preventDefault();
  };

  const left = Math.max(8, Math.min(at.left, at.width - BOX_WIDTH - 8));
  const top = Math.max(8, Math.min(at.top, at.height - BOX_HEIGHT - 8));
  return (
    <div
      className="nl-quickadd"
      style={{ left, top, width: BOX_WIDTH }}
      onKeyDown={onKeyDown}
      role="dialog"
      aria-label="Add a node"
    >
      <div className="nl-quickadd-heading">
        <span>{heading}</span>
        <button className="nl-button" onClick={onClose} aria-label="Close">×</button>
      </div>
      <input
        ref={input}
        className="nl-input"
        type="search"
        placeholder="Type to search, Enter to add, Esc to close"
        value={query}
        onChange={(event) => setQuery(event.target.value)}
      />
      <div className="nl-quickadd-list">
        {matches.map((entry, index) => (
          <div
            key={entry.type_id}
            className={`nl-quickadd-item${index === active ? " nl-active" : ""}`}
            style={{ "--nl-category": entry.colour }}
            onMouseEnter={() => setActive(index)}
            onClick={() => onPick(entry)}
            data-typeid={entry.type_id}
          >
            <span className="nl-palette-title">{entry.title}</span>
            <span className="nl-palette-type">{entry.type_id}</span>
          </div>
        ))}
        {matches.length === 0 && <div className="nl-empty">No node type fits.</div>}
      </div>
    </div>
  );
}
