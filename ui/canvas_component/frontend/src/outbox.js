// One action per user gesture, delivered in order.
//
// A Streamlit component has a single value: a second setComponentValue before Python has read the
// first would overwrite it, and the first gesture would be lost. So one action is in flight at a
// time; Python's wrapper echoes the seq it has read as `ack` in the next props, which releases the
// next action. If no ack comes (the script failed before drawing the canvas) the action is
// treated as delivered after ACK_TIMEOUT_MS so the canvas never stalls.

const ACK_TIMEOUT_MS = 5000;
const MERGEABLE = new Set(["select", "view", "move"]);

export class Outbox {
  constructor(send, onIdle) {
    this.send = send;
    this.onIdle = onIdle;
    this.queue = [];
    this.inFlight = null;
    this.lastSeq = 0;
    this.timer = null;
  }

  busy() {
    return this.inFlight !== null || this.queue.length > 0;
  }

  push(revision, action) {
    const last = this.queue[this.queue.length - 1];
    if (last && last.action.kind === action.kind && MERGEABLE.has(action.kind)) {
      // Only the latest selection and viewport matter; moves of different nodes add up.
      last.action = action.kind === "move"
        ? { kind: "move", positions: { ...last.action.positions, ...action.positions } }
        : action;
      last.revision = revision;
    } else {
      this.queue.push({ revision, action });
    }
    this.flush();
  }

  acknowledge(ack) {
    if (this.inFlight !== null && Number(ack) >= this.inFlight.seq) this.release();
  }

  release() {
    clearTimeout(this.timer);
    this.inFlight = null;
    this.flush();
    if (!this.busy()) this.onIdle();
  }

  flush() {
    if (this.inFlight !== null || this.queue.length === 0) return;
    const next = this.queue.shift();
    // A clock-based seq keeps growing across remounts of the iframe, so Python never mistakes a
    // new gesture for one it has already applied.
    const seq = Math.max(Date.now(), this.lastSeq + 1);
    this.lastSeq = seq;
    this.inFlight = { seq, revision: next.revision, action: next.action };
    this.send(this.inFlight);
    this.timer = setTimeout(() => this.release(), ACK_TIMEOUT_MS);
  }

  dispose() {
    clearTimeout(this.timer);
  }
}
