// The peer of benchmarks/bench_canvas.py: the same nodes and edges as the NodeLoom canvas (from ./data.json, which
// the benchmark writes), drawn by plain @xyflow/react with its default nodes and edges. Only the gestures are set
// as NodeLoom sets them (wheel pans, Ctrl+wheel zooms), so the same mouse input does the same thing on both.

import React, { useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { Background, Controls, MiniMap, ReactFlow } from "@xyflow/react";
import "@xyflow/react/dist/style.css";

function flowNodes(nodes) {
  return nodes.map((node) => ({ id: node.id, position: node.position, data: { label: node.title } }));
}

function flowEdges(edges) {
  return edges.map((edge) => ({ id: edge.id, source: edge.source, target: edge.target }));
}

function Peer() {
  const [data, setData] = useState(null);
  useEffect(() => {
    fetch("./data.json").then((answer) => answer.json()).then(setData);
  }, []);
  if (!data) return null;
  const size = new URLSearchParams(window.location.search);
  return (
    <div style={{ width: Number(size.get("width")) || 1500, height: Number(size.get("height")) || 700 }}>
      <ReactFlow
        defaultNodes={flowNodes(data.nodes)}
        defaultEdges={flowEdges(data.edges)}
        fitView
        minZoom={0.1}
        maxZoom={2}
        panOnScroll
        zoomOnScroll={false}
        zoomActivationKeyCode={["Meta", "Control"]}
        zoomOnDoubleClick={false}
        proOptions={{ hideAttribution: true }}
      >
        <Background gap={20} size={1} />
        <Controls />
        <MiniMap pannable zoomable />
      </ReactFlow>
    </div>
  );
}

createRoot(document.getElementById("root")).render(<Peer />);
