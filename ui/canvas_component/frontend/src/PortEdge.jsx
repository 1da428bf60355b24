// A link between two ports, coloured by the type it carries; its port names show on hover.

import React, { memo, useState } from "react";
import { BaseEdge, EdgeLabelRenderer, getBezierPath } from "@xyflow/react";

function PortEdge({ id, source, target, data, selected, ...geometry }) {
  const [hovered, setHovered] = useState(false);
  const [path, labelX, labelY] = getBezierPath(geometry);
  const style = {
    stroke: data?.colour,
    strokeWidth: selected ? 3.5 : hovered ? 3 : 2,
    strokeDasharray: data?.running ? "6 4" : undefined,
  };
  return (
    <g onMouseEnter={() => setHovered(true)} onMouseLeave={() => setHovered(false)}>
      <BaseEdge id={id} path={path} style={style} interactionWidth={18} />
      {(hovered || selected) && (
        <EdgeLabelRenderer>
          <div
            className="nl-edge-label"
            style={{ transform: `translate(-50%, -50%) translate(${labelX}px, ${labelY}px)` }}
          >
            {`${source}.${data?.sourcePort ?? "?"} → ${target}.${data?.targetPort ?? "?"}`}
          </div>
        </EdgeLabelRenderer>
      )}
    </g>
  );
}

export default memo(PortEdge);
