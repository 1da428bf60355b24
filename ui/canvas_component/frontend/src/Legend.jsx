// The port-type legend: each type's colour, and what an optional input looks like.

import React, { memo, useState } from "react";

function Legend({ colours }) {
  const [open, setOpen] = useState(true);
  const types = Object.entries(colours || {});
  if (types.length === 0) return null;
  if (!open) {
    return <button className="nl-button" onClick={() => setOpen(true)} title="Show the port colours">Ports</button>;
  }
  return (
    <div className="nl-legend" aria-label="Port types">
      <span className="nl-legend-head">Ports</span>
      {types.map(([type, colour]) => (
        <span className="nl-legend-type" key={type}>
          <span className="nl-legend-dot" style={{ background: colour }} />
          {type}
        </span>
      ))}
      <span className="nl-legend-type nl-legend-note">
        <span className="nl-legend-dot nl-legend-optional" /> optional
      </span>
      <button className="nl-legend-close" onClick={() => setOpen(false)} aria-label="Hide the legend">×</button>
    </div>
  );
}

export default memo(Legend);
