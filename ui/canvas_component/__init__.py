"""NodeLoom's pipeline canvas: a Streamlit component (a fork of streamlit-flow, see README.md).

Python draws the canvas from one plain-JSON `state` (the contract in README.md) and gets back one
action per user gesture (connect, add, delete, move, select, paste, undo, redo, view) as
`{"seq", "revision", "action": {"kind": ...}}`. The browser shows a gesture's effect at once and
takes Python's next state as the truth, so an action Python refuses simply disappears.

Read the action before drawing anything that depends on it, and apply it before drawing the canvas::

    envelope = take_action("canvas")          # None, or an action not handed out before
    if envelope:
        apply(envelope["action"])             # changes the pipeline; bump state["revision"]
    canvas(state_for(pipeline), key="canvas")

`NODELOOM_CANVAS_DEV_URL` (e.g. http://localhost:3001) serves the frontend from a Vite dev server.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import streamlit as st
import streamlit.components.v1 as components

BUILD_DIR = Path(__file__).resolve().parent / "frontend" / "build"
DEV_URL_VARIABLE = "NODELOOM_CANVAS_DEV_URL"
REQUIRED_KEYS = ("revision", "nodes", "edges")
_component_function: Any = None


class CanvasBundleMissing(RuntimeError):
    """The built frontend is not where the package expects it."""


def _component() -> Any:
    """The declared component, declared once (declaring again on every rerun would warn)."""
    global _component_function
    if _component_function is None:
        dev_url = os.environ.get(DEV_URL_VARIABLE)
        if dev_url:
            _component_function = components.declare_component("nodeloom_canvas", url=dev_url)
        elif (BUILD_DIR / "index.html").is_file():
            _component_function = components.declare_component("nodeloom_canvas", path=str(BUILD_DIR))
        else:
            raise CanvasBundleMissing(
                f"the canvas bundle is missing at {BUILD_DIR}; build it with "
                f"`npm ci && npm run build` in {BUILD_DIR.parent}, or set {DEV_URL_VARIABLE}"
            )
    return _component_function


def check_state(state: Any) -> None:
    """A one-line ValueError when `state` cannot be the canvas contract's props."""
    if not isinstance(state, dict):
        raise ValueError(f"canvas state must be a dict, got {type(state).__name__}")
    missing = [key for key in REQUIRED_KEYS if key not in state]
    if missing:
        raise ValueError(f"canvas state lacks {', '.join(missing)} (see ui/canvas_component/README.md)")


def _seen_key(key: str) -> str:
    return f"{key}:seen_seq"


def _envelope(key: str) -> dict[str, Any] | None:
    """The component's current value (the last gesture it sent), if it is a well-formed envelope."""
    value = st.session_state.get(key)
    if isinstance(value, dict) and isinstance(value.get("seq"), int) and isinstance(value.get("action"), dict):
        return value
    return None


def take_action(key: str) -> dict[str, Any] | None:
    """The canvas's latest gesture if it has not been handed out yet, else None.

    A component keeps its last value across reruns; this hands each gesture out once."""
    envelope = _envelope(key)
    if envelope is None or envelope["seq"] <= st.session_state.get(_seen_key(key), 0):
        return None
    st.session_state[_seen_key(key)] = envelope["seq"]
    return envelope


def canvas(state: dict[str, Any], *, key: str, height: int | None = None) -> dict[str, Any] | None:
    """Draw the canvas; returns its latest gesture as `{"seq", "revision", "action"}` when not yet
    taken (see `take_action`), else None.

    `height` fixes the height in pixels; by default the canvas takes 70% of the window, at least
    `state["min_height"]`."""
    check_state(state)
    envelope = _envelope(key)
    # `ack` tells the browser which gesture this state already answers: it sends the next one only
    # then, and drops its optimistic picture for Python's.
    _component()(state=state, ack=envelope["seq"] if envelope else 0, height=height, key=key, default=None)
    return take_action(key)
