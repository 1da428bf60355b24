// Pure helpers between the Python contract (plain JSON props) and React Flow's nodes and edges.
// Nothing here decides what may connect to what beyond looking the pair up in Python's table.

export const CARD_WIDTH = 220; // fixed, so fitting the view decides how readable a pipeline is
// Room at the top for the palette button and at the bottom for the legend strip, so fitting never
// tucks a card under them.
export const FIT_OPTIONS = {
  padding: { top: "48px", right: "24px", bottom: "56px", left: "24px" },
  minZoom: 0.1, // a big pipeline still fits whole (as an overview); the chatbot example fits at about 0.65
  maxZoom: 1.25,
};
export const PALETTE_MIME = "application/x-nodeloom-type";
export const PENDING_PREFIX = "pending:"; // ids of optimistic nodes that Python has not named yet
const FALLBACK_PORT_COLOUR = "#6b7280";

export function portColour(colours, type) {
  return (colours && colours[type]) || FALLBACK_PORT_COLOUR;
}

/** Whether an output of type `outputType` may feed an input of type `inputType` (Python's table). */
export function compatible(table, outputType, inputType) {
  const accepted = table && table[outputType];
  return Array.isArray(accepted) && accepted.includes(inputType);
}

/** The port types a drag from one handle may end on: inputs for an output, outputs for an input. */
export function compatibleTypes(table, fromSide, portType) {
  if (fromSide === "source") return new Set((table && table[portType]) || []);
  return new Set(Object.keys(table || {}).filter((output) => compatible(table, output, portType)));
}

/** CSS that lights up the handles a drag may end on, so no card re-renders while the pointer moves. */
export function connectingCss(table, connecting) {
  if (!connecting) return "";
  const endSide = connecting.side === "source" ? "in" : "out";
  const ports = [...compatibleTypes(table, connecting.side, connecting.portType)]
    .map((type) => `.nl-connecting .nl-port-${endSide}[data-porttype="${cssString(type)}"]`);
  if (ports.length === 0) return "";
  const handles = ports.map((port) => `${port} .react-flow__handle`);
  const grow = "transform: scale(1.45); box-shadow: 0 0 0 3px var(--nl-glow);";
  return `${ports.join(",\n")} { opacity: 1; }\n${handles.join(",\n")} { ${grow} }`;
}

function cssString(text) {
  return String(text).replace(/["\\]/g, "\\$&");
}

function portsOf(node, colours) {
  return {
    inputs: (node.inputs || []).map((port) => ({
      name: port.name,
      type: port.type,
      required: port.required !== false,
      colour: portColour(colours, port.type),
    })),
    outputs: (node.outputs || []).map((port) => ({
      name: port.name,
      type: port.type,
      colour: portColour(colours, port.type),
    })),
  };
}

/** What a card shows, from a contract node (or a palette entry for a node Python has not added yet). */
export function cardData(node, colours, readOnly) {
  return {
    title: node.title || node.type || node.type_id || node.id,
    typeId: node.type || node.type_id || "",
    category: node.category || "",
    colour: node.colour || FALLBACK_PORT_COLOUR,
    ...portsOf(node, colours),
    params: Array.isArray(node.params) ? node.params : [],
    status: node.status || null,
    problem: node.problem || null,
    warning: node.warning || null,
    readOnly: !!readOnly,
    pending: !!node.pending,
  };
}

function portSignature(data) {
  return JSON.stringify([data.inputs, data.outputs]);
}

/**
 * React Flow nodes for the contract's nodes. A node whose card and place are unchanged keeps its
 * object, so React Flow skips it; selection stays as the user left it.
 */
export function toFlowNodes(contractNodes, colours, readOnly, current) {
  const previous = new Map(current.map((node) => [node.id, node]));
  return (contractNodes || []).map((node) => {
    const signature = JSON.stringify([node, colours, readOnly]);
    const before = previous.get(node.id);
    if (before && before.signature === signature) return before;
    const data = cardData(node, colours, readOnly);
    const samePorts = before && portSignature(before.data) === portSignature(data);
    return {
      id: node.id,
      type: "card",
      position: { x: Number(node.position?.x) || 0, y: Number(node.position?.y) || 0 },
      data,
      signature,
      selected: before ? !!before.selected : false,
      connectable: !readOnly,
      draggable: !readOnly,
      deletable: !readOnly,
      // Kept sizes keep the measured handles; new ports must be measured again.
      ...(samePorts && before.measured ? { measured: before.measured } : {}),
    };
  });
}

export function edgeId(source, sourcePort, target, targetPort) {
  return `${source}.${sourcePort}->${target}.${targetPort}`;
}

export function flowEdge(edge, nodesById, colours) {
  const source = nodesById.get(edge.source);
  const target = nodesById.get(edge.target);
  const output = source?.outputs?.find((port) => port.name === edge.source_port);
  const running = target?.status?.state === "running";
  return {
    id: edge.id || edgeId(edge.source, edge.source_port, edge.target, edge.target_port),
    type: "port",
    source: edge.source,
    target: edge.target,
    sourceHandle: edge.source_port ?? null,
    targetHandle: edge.target_port ?? null,
    animated: running,
    data: {
      sourcePort: edge.source_port,
      targetPort: edge.target_port,
      colour: portColour(colours, output?.type),
      running,
    },
  };
}

/** React Flow edges for the contract's edges; unchanged edges keep their objects. */
export function toFlowEdges(contractEdges, contractNodes, colours, readOnly, current) {
  const nodesById = new Map((contractNodes || []).map((node) => [node.id, node]));
  const previous = new Map(current.map((edge) => [edge.id, edge]));
  return (contractEdges || []).map((edge) => {
    const fresh = flowEdge(edge, nodesById, colours);
    fresh.deletable = !readOnly;
    const signature = JSON.stringify(
      [fresh.source, fresh.sourceHandle, fresh.target, fresh.targetHandle, fresh.data, readOnly],
    );
    const before = previous.get(fresh.id);
    if (before && before.signature === signature) return before;
    return { ...fresh, signature, selected: before ? !!before.selected : false };
  });
}

/** The port a handle stands for, with its side ("source" = output, "target" = input). */
export function portOf(node, side, name) {
  const ports = side === "source" ? node?.data?.outputs : node?.data?.inputs;
  return ports?.find((port) => port.name === name) || null;
}

/**
 * Why a drop on a handle was refused, in the words the toast shows
 * ("train.optimizer takes optimizer_spec, not dataset").
 */
export function refusal(fromNode, fromSide, fromPort, toNode, toSide, toPort) {
  if (!fromPort || !toPort) return "That handle is not a port of this node.";
  if (fromSide === toSide) {
    const both = fromSide === "source" ? "outputs" : "inputs";
    const ends = `${fromNode.id}.${fromPort.name} and ${toNode.id}.${toPort.name}`;
    return `Link an output to an input: ${ends} are both ${both}.`;
  }
  if (fromNode.id === toNode.id) return `${fromNode.id} cannot feed itself.`;
  const [output, input, inputNode] = fromSide === "source" ? [fromPort, toPort, toNode] : [toPort, fromPort, fromNode];
  return `${inputNode.id}.${input.name} takes ${input.type}, not ${output.type}`;
}

/** Palette entries matching every word of the query (in title, type id, category or description). */
export function searchPalette(palette, query, accepts) {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  return (palette || []).filter((entry) => {
    if (accepts && !accepts(entry)) return false;
    const haystack = `${entry.title} ${entry.type_id} ${entry.category} ${entry.description || ""}`.toLowerCase();
    return words.every((word) => haystack.includes(word));
  });
}

/**
 * For a drag from a handle onto empty canvas: which palette entries can take the other end, and
 * the port of the new node the link would use (the first that fits, as the engine's rule picks).
 */
export function fittingPort(table, entry, from) {
  if (from.side === "source") {
    return (entry.inputs || []).find((port) => compatible(table, from.portType, port.type)) || null;
  }
  return (entry.outputs || []).find((port) => compatible(table, port.type, from.portType)) || null;
}

/** Where a new card's top-left corner goes so the card lands under the pointer (or beside a handle). */
export function cardCorner(point, from) {
  if (!from) return { x: Math.round(point.x - CARD_WIDTH / 2), y: Math.round(point.y - 18) };
  const x = from.side === "source" ? point.x + 8 : point.x - CARD_WIDTH - 8;
  return { x: Math.round(x), y: Math.round(point.y - 30) };
}

export function sameView(a, b) {
  if (!a || !b) return false;
  return Math.abs(a.x - b.x) < 1 && Math.abs(a.y - b.y) < 1 && Math.abs(a.zoom - b.zoom) < 0.005;
}
