// NodeLoom's pipeline canvas, a Streamlit component.
//
// Lineage: forked from streamlit-flow 1.6.1 (https://github.com/dkapur17/streamlit-flow,
// MIT licence, Copyright (c) 2024 Dhruv Kapur; see ../../LICENSE-streamlit-flow). Kept from it: the
// shape of a Streamlit Components v1 app wrapping React Flow (withStreamlitConnection, a
// ReactFlowProvider around the component, node and edge state hooks fed from Python's props,
// controls and minimap, and the idea of answering Python through setComponentValue).
// Changed: React Flow 11 -> @xyflow/react 12 and Create React App -> Vite; the markdown node (which
// rendered raw HTML) is replaced by a text-only card with one typed handle per port; the
// timestamp/whole-state round trip is replaced by a revision-based contract in which the browser
// sends one action per gesture (outbox.js) and Python's next props are the truth; added the palette,
// quick-add, the compatibility-table highlighting and refusal toasts, the legend, the keyboard
// shortcuts and the read-only mode; the ELK layout and the context menus (and their modal edit
// dialog) are gone.

import React, { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Streamlit } from "streamlit-component-lib";
import {
  Background,
  Controls,
  MiniMap,
  Panel,
  ReactFlow,
  ReactFlowProvider,
  useEdgesState,
  useNodesInitialized,
  useNodesState,
  useReactFlow,
  useStore,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import "./style.css";

import CardNode from "./CardNode";
import PortEdge from "./PortEdge";
import Palette from "./Palette";
import QuickAdd from "./QuickAdd";
import Legend from "./Legend";
import { Outbox } from "./outbox";
import {
  FIT_OPTIONS,
  PALETTE_MIME,
  PENDING_PREFIX,
  cardCorner,
  cardData,
  compatible,
  connectingCss,
  edgeId,
  fittingPort,
  portOf,
  refusal,
  sameView,
  toFlowEdges,
  toFlowNodes,
} from "./contract";

const NODE_TYPES = { card: CardNode };
const EDGE_TYPES = { port: PortEdge };
const VIEW_DEBOUNCE_MS = 350;
const SELECT_DEBOUNCE_MS = 120;
const TOAST_MS = 4000;
const PASTE_STEP = 40;
// Below this zoom a card's 11-13 px text is under 5 px high: unreadable, yet redrawing it on every pan and zoom frame
// is a large part of what a 200-card overview costs. So far out the cards show their colours, frames and handles only.
const FAR_ZOOM = 0.4;
const isFar = (store) => store.transform[2] < FAR_ZOOM;

// Stable, so a re-render of the canvas (each Streamlit rerun) does not re-render the minimap's node list.
const minimapColour = (node) => node.data?.colour || "#999";

function frameHeight(fixed, minHeight) {
  if (fixed) return fixed;
  try {
    // The iframe is same-origin with the Streamlit page, so the page's height is readable.
    return Math.max(minHeight, Math.round(0.7 * window.top.innerHeight));
  } catch {
    return minHeight;
  }
}

function pointerOf(event) {
  const touch = event.changedTouches?.[0];
  return touch ? { x: touch.clientX, y: touch.clientY } : { x: event.clientX, y: event.clientY };
}

function useFrameHeight(fixed, minHeight) {
  const [height, setHeight] = useState(() => frameHeight(fixed, minHeight));
  useEffect(() => {
    const update = () => setHeight(frameHeight(fixed, minHeight));
    update();
    let top = null;
    try {
      top = window.top;
      top.addEventListener("resize", update);
    } catch {
      top = null;
    }
    return () => top?.removeEventListener("resize", update);
  }, [fixed, minHeight]);
  useEffect(() => Streamlit.setFrameHeight(height), [height]);
  return height;
}

function Canvas({ args, theme }) {
  const state = args.state || {};
  const ack = Number(args.ack) || 0;
  const readOnly = !!state.read_only;
  const table = state.compatibility || {};
  const colours = state.port_colours || {};
  const palette = state.palette || [];
  const colourMode = theme?.base === "dark" || (!theme && state.theme === "dark") ? "dark" : "light";
  const height = useFrameHeight(Number(args.height) || 0, Number(state.min_height) || 600);

  const flow = useReactFlow();
  const far = useStore(isFar); // re-renders the canvas only when the zoom crosses FAR_ZOOM
  const wrapper = useRef(null);
  const [nodes, setNodes, onNodesChange] = useNodesState(
    () => toFlowNodes(state.nodes, colours, readOnly, []),
  );
  const [edges, setEdges, onEdgesChange] = useEdgesState(
    () => toFlowEdges(state.edges, state.nodes, colours, readOnly, []),
  );
  const [paletteOpen, setPaletteOpen] = useState(() => (state.nodes || []).length === 0);
  const [quickAdd, setQuickAdd] = useState(null);
  const [connecting, setConnecting] = useState(null);
  const [toast, setToast] = useState(null);
  const [idleTick, setIdleTick] = useState(0);

  // Python's latest props, readable from callbacks without re-creating them.
  const latest = useRef({ state, readOnly, table, colours, palette });
  latest.current = { state, readOnly, table, colours, palette };

  const outbox = useRef(null);
  if (outbox.current === null) {
    outbox.current = new Outbox(
      (envelope) => Streamlit.setComponentValue(envelope),
      () => setIdleTick((tick) => tick + 1),
    );
  }
  useEffect(() => () => outbox.current.dispose(), []);
  const send = useCallback((action) => outbox.current.push(latest.current.state.revision ?? 0, action), []);

  // --- taking Python's props ---------------------------------------------------------------

  const dragging = useRef(false);
  const applied = useRef(null);
  const signature = useMemo(
    () => JSON.stringify([state.revision, state.nodes, state.edges, colours, readOnly]),
    [state.revision, state.nodes, state.edges, colours, readOnly],
  );

  // Declared before the reconciliation below, so an ack releases the outbox first.
  useEffect(() => outbox.current.acknowledge(ack), [ack]);

  useEffect(() => {
    // Optimistic changes stand until Python has seen every gesture; then its props are the truth
    // (a refused gesture simply disappears). A drag in progress is never yanked away.
    if (outbox.current.busy() || dragging.current) return;
    const key = `${ack}|${signature}`;
    if (applied.current === key) return;
    applied.current = key;
    const { state: props, colours: portColours, readOnly: locked } = latest.current;
    setNodes((current) => toFlowNodes(props.nodes, portColours, locked, current));
    setEdges((current) => toFlowEdges(props.edges, props.nodes, portColours, locked, current));
  }, [ack, signature, idleTick, setNodes, setEdges]);

  // --- the viewport ------------------------------------------------------------------------

  const nodesInitialized = useNodesInitialized();
  const placed = useRef(false);
  const lastSentView = useRef(null);
  const lastPropsView = useRef(null);
  useEffect(() => {
    if (!nodesInitialized && (state.nodes || []).length > 0) return;
    const view = state.view;
    if (!placed.current) {
      placed.current = true;
      lastPropsView.current = view || null;
      if (view) flow.setViewport(view);
      else flow.fitView(FIT_OPTIONS);
      return;
    }
    // A view Python sets later (not the echo of one we sent) moves the canvas there.
    if (view && !sameView(view, lastPropsView.current) && !sameView(view, lastSentView.current)
        && !outbox.current.busy() && !sameView(view, flow.getViewport())) {
      flow.setViewport(view);
    }
    lastPropsView.current = view || null;
  }, [nodesInitialized, state.view, flow, state.nodes]);

  const viewTimer = useRef(null);
  const onMoveEnd = useCallback((_event, viewport) => {
    clearTimeout(viewTimer.current);
    viewTimer.current = setTimeout(() => {
      const view = {
        x: Math.round(viewport.x * 10) / 10,
        y: Math.round(viewport.y * 10) / 10,
        zoom: Math.round(viewport.zoom * 1000) / 1000,
      };
      if (sameView(view, lastSentView.current) || sameView(view, latest.current.state.view)) return;
      lastSentView.current = view;
      send({ kind: "view", ...view });
    }, VIEW_DEBOUNCE_MS);
  }, [send]);

  // --- toasts ------------------------------------------------------------------------------

  const toastTimer = useRef(null);
  const say = useCallback((text) => {
    clearTimeout(toastTimer.current);
    setToast(text);
    toastTimer.current = setTimeout(() => setToast(null), TOAST_MS);
  }, []);

  // --- links -------------------------------------------------------------------------------

  const isValidConnection = useCallback((link) => {
    if (link.source === link.target) return false;
    const output = portOf(flow.getNode(link.source), "source", link.sourceHandle);
    const input = portOf(flow.getNode(link.target), "target", link.targetHandle);
    return !!output && !!input && compatible(latest.current.table, output.type, input.type);
  }, [flow]);

  const onConnect = useCallback((link) => {
    const { source, sourceHandle, target, targetHandle } = link;
    const output = portOf(flow.getNode(source), "source", sourceHandle);
    setEdges((current) => [
      // One input takes one link: the new one replaces whatever fed it.
      ...current.filter((edge) => !(edge.target === target && edge.targetHandle === targetHandle)),
      {
        id: edgeId(source, sourceHandle, target, targetHandle),
        type: "port",
        source,
        sourceHandle,
        target,
        targetHandle,
        data: { sourcePort: sourceHandle, targetPort: targetHandle, colour: latest.current.colours[output?.type] },
      },
    ]);
    send({ kind: "connect", source, source_port: sourceHandle, target, target_port: targetHandle });
  }, [flow, send, setEdges]);

  const onConnectStart = useCallback((_event, { nodeId, handleId, handleType }) => {
    setQuickAdd(null);
    const port = portOf(flow.getNode(nodeId), handleType, handleId);
    if (port) setConnecting({ nodeId, handleId, side: handleType, portType: port.type });
  }, [flow]);

  const openQuickAdd = useCallback((clientPoint, from) => {
    const box = wrapper.current.getBoundingClientRect();
    setQuickAdd({
      at: { left: clientPoint.x - box.left, top: clientPoint.y - box.top, width: box.width, height: box.height },
      flowPoint: flow.screenToFlowPosition(clientPoint),
      from,
    });
  }, [flow]);

  const onConnectEnd = useCallback((event, connection) => {
    setConnecting(null);
    if (connection.isValid || latest.current.readOnly) return;
    const fromNode = connection.fromNode;
    const fromSide = connection.fromHandle?.type;
    const fromPort = portOf(fromNode, fromSide, connection.fromHandle?.id);
    if (connection.toHandle) {
      const toNode = connection.toNode;
      const toSide = connection.toHandle.type;
      say(refusal(fromNode, fromSide, fromPort, toNode, toSide, portOf(toNode, toSide, connection.toHandle.id)));
      return;
    }
    // Only a drop on empty canvas asks what to add (not one on a card, a panel or outside).
    const point = pointerOf(event);
    const below = document.elementFromPoint(point.x, point.y);
    if (fromPort && below?.closest(".react-flow") && !below.closest(".react-flow__node, .react-flow__panel")) {
      openQuickAdd(point, { node: fromNode.id, port: fromPort.name, side: fromSide, portType: fromPort.type });
    }
  }, [openQuickAdd, say]);

  // --- adding nodes ------------------------------------------------------------------------

  const pendingCount = useRef(0);
  const addNode = useCallback((entry, flowPoint, from) => {
    const { colours: portColours, table: rule } = latest.current;
    const position = cardCorner(flowPoint, from);
    pendingCount.current += 1;
    const tempId = `${PENDING_PREFIX}${pendingCount.current}`;
    // Shown at once, greyed, until Python names the node and sends it back.
    setNodes((current) => [
      ...current.map((node) => (node.selected ? { ...node, selected: false } : node)),
      { id: tempId, type: "card", position, data: cardData({ ...entry, pending: true }, portColours, false) },
    ]);
    let connect = null;
    if (from) {
      const port = fittingPort(rule, entry, from);
      connect = { node: from.node, port: from.port, direction: from.side === "source" ? "from_output" : "to_input" };
      if (port) {
        const [source, sourceHandle, target, targetHandle] = from.side === "source"
          ? [from.node, from.port, tempId, port.name]
          : [tempId, port.name, from.node, from.port];
        setEdges((current) => [
          ...current.filter((edge) => !(edge.target === target && edge.targetHandle === targetHandle)),
          {
            id: edgeId(source, sourceHandle, target, targetHandle),
            type: "port",
            source,
            sourceHandle,
            target,
            targetHandle,
            data: { sourcePort: sourceHandle, targetPort: targetHandle, colour: portColours[from.portType] },
          },
        ]);
      }
    }
    send({ kind: "add", type_id: entry.type_id, position, connect });
  }, [send, setNodes, setEdges]);

  const pickFromPalette = useCallback((entry) => {
    const box = wrapper.current.getBoundingClientRect();
    addNode(entry, flow.screenToFlowPosition({ x: box.left + box.width / 2, y: box.top + box.height / 2 }), null);
  }, [addNode, flow]);

  const onDragOver = useCallback((event) => {
    if (!event.dataTransfer.types.includes(PALETTE_MIME)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  }, []);

  const onDrop = useCallback((event) => {
    const typeId = event.dataTransfer.getData(PALETTE_MIME);
    const entry = latest.current.palette.find((candidate) => candidate.type_id === typeId);
    if (!entry || latest.current.readOnly) return;
    event.preventDefault();
    addNode(entry, flow.screenToFlowPosition({ x: event.clientX, y: event.clientY }), null);
  }, [addNode, flow]);

  const onDoubleClick = useCallback((event) => {
    const onPane = event.target instanceof Element && event.target.classList.contains("react-flow__pane");
    if (latest.current.readOnly || !onPane) return;
    openQuickAdd({ x: event.clientX, y: event.clientY }, null);
  }, [openQuickAdd]);

  const closeQuickAdd = useCallback(() => setQuickAdd(null), []);

  const quickAddAccepts = useMemo(() => {
    const from = quickAdd?.from;
    return from ? (entry) => fittingPort(table, entry, from) !== null : null;
  }, [quickAdd, table]);

  const pickQuickAdd = useCallback((entry) => {
    const { flowPoint, from } = quickAdd;
    setQuickAdd(null);
    addNode(entry, flowPoint, from);
  }, [quickAdd, addNode]);

  // --- moving, selecting, deleting ---------------------------------------------------------

  const dragStart = useRef(new Map());
  const onNodeDragStart = useCallback((_event, _node, dragged) => {
    dragging.current = true;
    setQuickAdd(null);
    dragStart.current = new Map(dragged.map((node) => [node.id, { ...node.position }]));
  }, []);

  const onNodeDragStop = useCallback((_event, _node, dragged) => {
    dragging.current = false;
    const positions = {};
    for (const node of dragged) {
      const start = dragStart.current.get(node.id);
      const moved = !start || Math.abs(start.x - node.position.x) > 0.5 || Math.abs(start.y - node.position.y) > 0.5;
      if (moved && !node.id.startsWith(PENDING_PREFIX)) {
        positions[node.id] = { x: Math.round(node.position.x * 10) / 10, y: Math.round(node.position.y * 10) / 10 };
      }
    }
    if (Object.keys(positions).length) send({ kind: "move", positions });
    setIdleTick((tick) => tick + 1); // props that waited for the drag may apply now
  }, [send]);

  const selectTimer = useRef(null);
  const lastSelection = useRef("[[],[]]");
  const onSelectionChange = useCallback(({ nodes: chosenNodes, edges: chosenEdges }) => {
    clearTimeout(selectTimer.current);
    selectTimer.current = setTimeout(() => {
      const selection = {
        nodes: chosenNodes.map((node) => node.id).filter((id) => !id.startsWith(PENDING_PREFIX)),
        edges: chosenEdges.map((edge) => edge.id),
      };
      const text = JSON.stringify([selection.nodes, selection.edges]);
      if (text === lastSelection.current) return;
      lastSelection.current = text;
      send({ kind: "select", ...selection });
    }, SELECT_DEBOUNCE_MS);
  }, [send]);

  const onDelete = useCallback(({ nodes: goneNodes, edges: goneEdges }) => {
    const nodeIds = goneNodes.map((node) => node.id).filter((id) => !id.startsWith(PENDING_PREFIX));
    const gone = new Set(goneNodes.map((node) => node.id));
    // Links of deleted nodes go with them; only the other links are named.
    const edgeIds = goneEdges.filter((edge) => !gone.has(edge.source) && !gone.has(edge.target)).map((edge) => edge.id);
    if (nodeIds.length || edgeIds.length) send({ kind: "delete", nodes: nodeIds, edges: edgeIds });
  }, [send]);

  // --- keyboard ----------------------------------------------------------------------------

  const clipboard = useRef({ ids: [], pastes: 0 });
  useEffect(() => {
    const onKeyDown = (event) => {
      const target = event.target;
      if (target instanceof Element && target.closest("input, textarea, select, [contenteditable='true']")) return;
      const key = event.key.toLowerCase();
      const mod = event.ctrlKey || event.metaKey;
      if (key === "escape") {
        setQuickAdd(null);
        return;
      }
      if (mod && key === "a") {
        event.preventDefault();
        setNodes((current) => current.map((node) => (node.selected ? node : { ...node, selected: true })));
        return;
      }
      if (!mod && !event.altKey && key === "f") {
        event.preventDefault();
        flow.fitView(FIT_OPTIONS);
        return;
      }
      if (latest.current.readOnly || !mod) return;
      if (key === "z") {
        event.preventDefault();
        send({ kind: event.shiftKey ? "redo" : "undo" });
      } else if (key === "c") {
        const ids = flow.getNodes()
          .filter((node) => node.selected && !node.id.startsWith(PENDING_PREFIX))
          .map((node) => node.id);
        if (ids.length) clipboard.current = { ids, pastes: 0 };
      } else if (key === "v" && clipboard.current.ids.length) {
        event.preventDefault();
        pasteCopies(clipboard.current);
      }
    };
    const pasteCopies = (copied) => {
      copied.pastes += 1;
      const offset = { x: PASTE_STEP * copied.pastes, y: PASTE_STEP * copied.pastes };
      const originals = flow.getNodes().filter((node) => copied.ids.includes(node.id));
      setNodes((current) => [
        ...current.map((node) => (node.selected ? { ...node, selected: false } : node)),
        ...originals.map((node) => {
          pendingCount.current += 1;
          return {
            id: `${PENDING_PREFIX}${pendingCount.current}`,
            type: "card",
            position: { x: node.position.x + offset.x, y: node.position.y + offset.y },
            data: { ...node.data, pending: true, status: null },
          };
        }),
      ]);
      send({ kind: "paste", nodes: copied.ids, offset });
    };
    window.addEventListener("keydown", onKeyDown);
    return () => window.removeEventListener("keydown", onKeyDown);
  }, [flow, send, setNodes]);

  // --- drawing -----------------------------------------------------------------------------

  const highlight = useMemo(() => connectingCss(table, connecting), [table, connecting]);
  const rootClasses = [
    `nl-root nl-${colourMode}`,
    connecting && "nl-connecting",
    readOnly && "nl-read-only",
    far && "nl-far",
  ].filter(Boolean).join(" ");
  const from = quickAdd?.from;
  const quickAddHeading = from
    ? `Add a node ${from.side === "source" ? "fed by" : "feeding"} ${from.node}.${from.port} (${from.portType})`
    : "Add a node here";

  return (
    <div
      ref={wrapper}
      className={rootClasses}
      style={{ height }}
      onDragOver={readOnly ? undefined : onDragOver}
      onDrop={readOnly ? undefined : onDrop}
      onDoubleClick={onDoubleClick}
    >
      {highlight && <style>{highlight}</style>}
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={NODE_TYPES}
        edgeTypes={EDGE_TYPES}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onConnect={onConnect}
        onConnectStart={onConnectStart}
        onConnectEnd={onConnectEnd}
        isValidConnection={isValidConnection}
        onNodeDragStart={onNodeDragStart}
        onNodeDragStop={onNodeDragStop}
        onSelectionChange={onSelectionChange}
        onDelete={onDelete}
        onMoveEnd={onMoveEnd}
        onPaneClick={closeQuickAdd}
        colorMode={colourMode}
        nodesDraggable={!readOnly}
        nodesConnectable={!readOnly}
        edgesReconnectable={false}
        deleteKeyCode={readOnly ? null : ["Delete", "Backspace"]}
        selectionKeyCode="Shift"
        multiSelectionKeyCode={["Meta", "Control"]}
        panOnScroll
        zoomOnScroll={false}
        zoomActivationKeyCode={["Meta", "Control"]}
        zoomOnDoubleClick={false}
        minZoom={FIT_OPTIONS.minZoom}
        maxZoom={2}
        connectionRadius={24}
        connectionLineStyle={connecting ? { stroke: colours[connecting.portType], strokeWidth: 2.5 } : undefined}
        proOptions={{ hideAttribution: true }}
      >
        <Background gap={20} size={1} />
        <Controls showInteractive={false} fitViewOptions={FIT_OPTIONS} />
        <MiniMap pannable zoomable nodeColor={minimapColour} nodeStrokeWidth={2} />
        {!readOnly && (
          <Panel position="top-left">
            <Palette
              palette={palette}
              open={paletteOpen}
              onToggle={() => setPaletteOpen((open) => !open)}
              onPick={pickFromPalette}
            />
          </Panel>
        )}
        <Panel position="bottom-center">
          <Legend colours={colours} />
        </Panel>
      </ReactFlow>
      {quickAdd && (
        <QuickAdd
          at={quickAdd.at}
          palette={palette}
          accepts={quickAddAccepts}
          heading={quickAddHeading}
          onPick={pickQuickAdd}
          onClose={() => setQuickAdd(null)}
        />
      )}
      {toast && <div className="nl-toast" role="status">{toast}</div>}
    </div>
  );
}

export default function CanvasComponent(props) {
  return (
    <ReactFlowProvider>
      <Canvas {...props} />
    </ReactFlowProvider>
  );
}
