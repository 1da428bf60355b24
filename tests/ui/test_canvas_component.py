"""The canvas component's Python wrapper and its committed bundle (the browser side: test_canvas_browser.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from nodeloom.ui import canvas_component

COMPONENT = Path(canvas_component.__file__).resolve().parent
BUILD = COMPONENT / "frontend" / "build"
SOURCES = COMPONENT / "frontend" / "src"


def test_the_committed_bundle_loads_its_assets_relative_to_the_iframe():
    index = (BUILD / "index.html").read_text(encoding="utf-8")
    assets = re.findall(r'(?:src|href)="([^"]+)"', index)
    assert assets and all(asset.startswith("./assets/") for asset in assets), assets
    assert all((BUILD / asset).is_file() for asset in assets)


def test_the_bundle_is_small_and_ships_no_source_maps():
    files = [path for path in BUILD.rglob("*") if path.is_file()]
    assert not [path for path in files if path.suffix == ".map"]
    assert not any(b"sourceMappingURL" in path.read_bytes() for path in files if path.suffix == ".js")
    assert sum(path.stat().st_size for path in files) < 600_000


def test_cards_render_text_never_html():
    # Pipeline files are untrusted: nothing in the frontend may turn their text into markup.
    for path in SOURCES.rglob("*.js*"):
        source = path.read_text(encoding="utf-8")
        assert "dangerouslySetInnerHTML" not in source and "innerHTML" not in source, path.name


def test_the_fork_keeps_its_licence_notice():
    notice = (COMPONENT / "LICENSE-streamlit-flow").read_text(encoding="utf-8")
    assert "MIT License" in notice and "Copyright (c) 2024 Dhruv Kapur" in notice
    header = (SOURCES / "CanvasComponent.jsx").read_text(encoding="utf-8")[:600]
    assert "streamlit-flow" in header and "Dhruv Kapur" in header


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ([], "canvas state must be a dict, got list"),
        ({"revision": 1, "nodes": []}, "canvas state lacks edges (see ui/canvas_component/README.md)"),
    ],
)
def test_a_malformed_state_is_refused_in_one_line(state, message):
    with pytest.raises(ValueError) as raised:
        canvas_component.check_state(state)
    assert str(raised.value) == message


def hand_out_twice() -> None:
    import streamlit as st

    from nodeloom.ui.canvas_component import take_action

    st.session_state["canvas"] = st.session_state.get("next_value")
    st.session_state["handed_out"] = [take_action("canvas"), take_action("canvas")]


def test_take_action_hands_each_gesture_out_once_and_ignores_older_ones():
    app = AppTest.from_function(hand_out_twice)
    first = {"seq": 5, "revision": 1, "action": {"kind": "undo"}}
    app.session_state["next_value"] = first
    app.run()
    assert app.session_state["handed_out"] == [first, None]
    app.session_state["next_value"] = {"seq": 4, "revision": 1, "action": {"kind": "redo"}}  # older than seen
    app.run()
    assert app.session_state["handed_out"] == [None, None]
    later = {"seq": 9, "revision": 2, "action": {"kind": "redo"}}
    app.session_state["next_value"] = later
    app.run()
    assert app.session_state["handed_out"] == [later, None]
    app.session_state["next_value"] = "not an envelope"
    app.run()
    assert app.session_state["handed_out"] == [None, None]
