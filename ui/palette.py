"""The node palette: every registered node type, grouped by category, searchable."""

from __future__ import annotations

from itertools import groupby

import streamlit as st

from nodeloom.engine.node import NodeType, Registry
from nodeloom.ui.canvas import category_colour
from nodeloom.ui.state import Editor


def matches(node_type: NodeType, query: str) -> bool:
    haystack = f"{node_type.type_id} {node_type.title} {node_type.category} {node_type.doc}".lower()
    return all(word in haystack for word in query.lower().split())


def draw_palette(editor: Editor, registry: Registry) -> None:
    st.subheader("Add a node")
    query = st.text_input("Search nodes", key="palette_search", placeholder="e.g. tokenizer, bleu, lora",
                          label_visibility="collapsed")
    found = [node_type for node_type in registry if matches(node_type, query)]
    if not found:
        st.caption(f"No node type matches '{query}'.")
    for category, members in groupby(found, key=lambda node_type: node_type.category):
        members = list(members)
        with st.expander(f":material/circle: {category} ({len(members)})", expanded=bool(query)):
            st.markdown(
                f"<div style='height:4px;background:{category_colour(category)};border-radius:2px'></div>",
                unsafe_allow_html=True,
            )
            for node_type in members:
                if st.button(
                    node_type.title,
                    key=f"add:{node_type.type_id}",
                    help=f"{node_type.type_id} — {node_type.summary_line}",
                    width="stretch",
                ):
                    node_id = editor.add_node(node_type)
                    editor.notify("success", f"Added '{node_id}' ({node_type.type_id}); drag from its right handle to connect it.")
                st.caption(node_type.summary_line)
