// A node card: title, id, typed port handles, key parameters and run status.
// Everything is rendered as React text: pipeline files are untrusted, so no HTML and no markdown.

import React, { memo } from "react";
import { Handle, Position } from "@xyflow/react";
import { CARD_WIDTH } from "./contract";

// Plain symbols (not emoji), so the badges read the same on machines without an emoji font.
const BADGES = {
  queued: "◷ queued",
  running: "▶ running",
  succeeded: "✓ done",
  cached: "↻ cached",
  failed: "✗ failed",
  skipped: "↷ skipped",
  cancelled: "■ stopped",
  interrupted: "⚠ interrupted",
  stale: "○ stale",
};

function InputPort({ port, connectable }) {
  const optional = !port.required;
  return (
    <div
      className={`nl-port nl-port-in${optional ? " nl-optional" : ""}`}
      data-porttype={port.type}
      title={`input ${port.name}: ${port.type}${optional ? " (optional)" : ""}`}
    >
      <Handle
        type="target"
        position={Position.Left}
        id={port.name}
        isConnectable={connectable}
        className="nl-handle"
        style={{ "--nl-port": port.colour }}
      />
      <span className="nl-port-name">{port.name}</span>
    </div>
  );
}

function OutputPort({ port, connectable }) {
  return (
    <div className="nl-port nl-port-out" data-porttype={port.type} title={`output ${port.name}: ${port.type}`}>
      <span className="nl-port-name">{port.name}</span>
      <Handle
        type="source"
        position={Position.Right}
        id={port.name}
        isConnectable={connectable}
        className="nl-handle"
        style={{ "--nl-port": port.colour }}
      />
    </div>
  );
}

function Ports({ inputs, outputs, connectable }) {
  const rows = Math.max(inputs.length, outputs.length);
  if (rows === 0) return null;
  return (
    <div className="nl-ports">
      {Array.from({ length: rows }, (_, index) => (
        <div className="nl-port-row" key={index}>
          {inputs[index]
            ? <InputPort port={inputs[index]} connectable={connectable} />
            : <div className="nl-port" />}
          {outputs[index]
            ? <OutputPort port={outputs[index]} connectable={connectable} />
            : <div className="nl-port" />}
        </div>
      ))}
    </div>
  );
}

function Params({ params }) {
  if (!params.length) return null;
  return (
    <div className="nl-params">
      {params.map(([name, value]) => (
        <div className="nl-param" key={name} title={`${name}: ${value}`}>
          <span className="nl-param-name">{String(name)}</span>
          <span className="nl-param-value">{String(value)}</span>
        </div>
      ))}
    </div>
  );
}

function Status({ status }) {
  if (!status) return null;
  const state = status.state || "";
  const progress = typeof status.progress === "number" ? Math.min(1, Math.max(0, status.progress)) : null;
  let badge = BADGES[state] || state;
  if (state === "running" && progress !== null) badge += ` ${Math.round(progress * 100)}%`;
  return (
    <div className="nl-status">
      <span className={`nl-badge nl-badge-${state}`}>{badge}</span>
      {state === "running" && progress !== null && (
        <div className="nl-progress" role="progressbar" aria-valuenow={Math.round(progress * 100)}>
          <div style={{ width: `${progress * 100}%` }} />
        </div>
      )}
      {status.message && <div className="nl-status-message" title={status.message}>{status.message}</div>}
      {status.error && <div className="nl-error" title={status.error}>{status.error}</div>}
    </div>
  );
}

function CardNode({ id, data, selected }) {
  const state = data.status?.state;
  const classes = [
    "nl-card",
    state ? `nl-state-${state}` : "",
    data.problem ? "nl-has-problem" : "",
    data.pending ? "nl-pending" : "",
    selected ? "nl-selected" : "",
  ].filter(Boolean).join(" ");
  const connectable = !data.readOnly;
  return (
    <div className={classes} style={{ "--nl-category": data.colour, width: CARD_WIDTH }}>
      <div className="nl-card-head">
        <div className="nl-card-title" title={data.title}>{data.title}</div>
        <div className="nl-card-id" title={`${id} · ${data.typeId}`}>
          {data.pending ? "adding…" : id} <span className="nl-card-type">{data.typeId}</span>
        </div>
      </div>
      <Ports inputs={data.inputs} outputs={data.outputs} connectable={connectable} />
      <Params params={data.params} />
      <Status status={data.status} />
      {data.problem && <div className="nl-problem" title={data.problem}>⚠ {data.problem}</div>}
      {data.warning && <div className="nl-warning" title={data.warning}>⚠ {data.warning}</div>}
    </div>
  );
}

export default memo(CardNode);
