"""The inspector: the selected node's parameter form, documentation, ports and problems, or the
selected link's port connections.

The form is generated from the node's pydantic parameter model (through its JSON schema): numbers
with their bounds, pick lists for choices, toggles for booleans, text, and JSON for anything
structured. Each field says its rules beside it (bounds, choices, unit, default); parameters that do
not apply with the other settings (declared with engine.params.param_rules) are hidden; problems,
those across parameters too, are shown in plain words at the parameters they concern. A change
applies to the pipeline at once and is checked by the engine.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import streamlit as st

from nodeloom.engine.connect import link_options
from nodeloom.engine.node import NodeType, Registry
from nodeloom.engine.params import CHOICES, CHOICES_WHEN, REQUIRED, UNIT, applicable_params, holds, param_errors
from nodeloom.ui.canvas import links, port_label
from nodeloom.ui.state import Editor
from nodeloom.ui.text import inline_code, plain, remote_code_warning

NOT_SET = "— not set —"


@dataclass(frozen=True)
class FieldForm:
    """How one parameter is edited, and the rules shown beside it."""

    kind: str  # choice, bool, int, float, text, json
    nullable: bool
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    rules: str = ""  # "≥ 1 and ≤ 8192 · tokens", "one of greedy, sampling, beam"


def _number(value: float) -> str:
    return f"{value:g}"


def bounds_text(base: dict[str, Any]) -> str:
    """A number's bounds as written in its schema: "> 0 and ≤ 10"."""
    parts = []
    for key, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<")):
        if key in base:
            parts.append(f"{sign} {_number(base[key])}")
    return " and ".join(parts)


def rules_text(prop: dict[str, Any], base: dict[str, Any], kind: str, choices: tuple[Any, ...]) -> str:
    """What a field allows, in a few words: bounds or choices, that it is required, its unit."""
    parts = []
    if kind == "choice":
        parts.append("one of " + ", ".join(str(choice) for choice in choices))
    elif kind in ("int", "float"):
        parts.append(bounds_text(base))
    elif base.get("minLength") or base.get("minItems") or prop.get(REQUIRED):
        parts.append("required")
    if prop.get(UNIT):
        parts.append(str(prop[UNIT]))
    return " · ".join(part for part in parts if part)


def field_form(prop: dict[str, Any], definitions: dict[str, Any], values: Mapping[str, Any] | None = None) -> FieldForm:
    """The widget for one parameter's schema; `values` (the node's parameters, defaults filled in) decide
    choices declared for some settings only."""

    def resolve(schema: dict[str, Any]) -> dict[str, Any]:
        reference = schema.get("$ref", "")
        return definitions.get(reference.rsplit("/", 1)[-1], schema) if reference else schema

    prop = resolve(prop)
    options = [resolve(option) for option in prop.get("anyOf", [prop])]
    concrete = [option for option in options if option.get("type") != "null"]
    nullable = len(concrete) < len(options)
    if len(concrete) != 1:
        return FieldForm("json", nullable)
    base = concrete[0]
    if "enum" in base or "const" in base:
        choices = tuple(base.get("enum", [base.get("const")]))
        return FieldForm("choice", nullable, choices, rules=rules_text(prop, base, "choice", choices))
    if CHOICES in prop and holds(prop.get(CHOICES_WHEN), values or {}):
        choices = tuple(prop[CHOICES])
        return FieldForm("choice", nullable, choices, rules=rules_text(prop, base, "choice", choices))
    kind = {"boolean": "bool", "integer": "int", "number": "float", "string": "text"}.get(base.get("type"), "json")
    minimum, maximum = base.get("minimum"), base.get("maximum")
    if minimum is None and "exclusiveMinimum" in base:  # a widget bound is inclusive: step just inside
        minimum = base["exclusiveMinimum"] + (1 if kind == "int" else 0)
    if maximum is None and "exclusiveMaximum" in base:
        maximum = base["exclusiveMaximum"] - (1 if kind == "int" else 0)
    return FieldForm(kind, nullable, (), minimum, maximum, rules_text(prop, base, kind, ()))


def float_step(value: float | None) -> float:
    """A step of one tenth of the value's order of magnitude: 3e-4 steps by 1e-5."""
    if not value:
        return 0.1
    return 10.0 ** (math.floor(math.log10(abs(value))) - 1)  # always a float: Streamlit refuses an int step for a float


def parameter_widget(
    editor: Editor, node_id: str, name: str, prop: dict, form: FieldForm, current: Any, default: Any
) -> None:
    key = f"param:{editor.form_generation}:{node_id}:{name}"
    label = name.replace("_", " ")
    help_text = prop.get("description") or None

    def apply(value: Any) -> None:
        editor.set_param(node_id, name, value, default)

    if form.kind == "choice":
        options = ([None] if form.nullable else []) + list(form.choices)
        if current not in options:  # a value from elsewhere (a file, the CLI) stays visible, and refused
            options.append(current)
        index = options.index(current)
        st.selectbox(
            label,
            options,
            index=index,
            key=key,
            help=help_text,
            format_func=lambda option: NOT_SET if option is None else str(option),
            on_change=lambda: apply(st.session_state[key]),
        )
    elif form.kind == "bool":
        st.toggle(label, value=bool(current), key=key, help=help_text, on_change=lambda: apply(st.session_state[key]))
    elif form.kind in ("int", "float"):
        cast = int if form.kind == "int" else float
        bounds = {
            "min_value": None if form.minimum is None else cast(form.minimum),
            "max_value": None if form.maximum is None else cast(form.maximum),
        }
        value = None if current is None else cast(current)
        if form.kind == "float":
            bounds |= {"step": float_step(value if value is not None else default), "format": "%g"}
        st.number_input(
            label,
            value=value,
            key=key,
            help=help_text,
            placeholder="not set" if form.nullable else None,
            on_change=lambda: apply(st.session_state[key]),
            **bounds,
        )
    elif form.kind == "text":
        widget = st.text_area if "\n" in str(current or "") or "template" in name or "prompt" in name else st.text_input
        widget(label, value=current or "", key=key, help=help_text, on_change=lambda: apply(st.session_state[key]))
    else:
        error_key = f"json-error:{node_id}:{name}"

        def apply_json() -> None:
            try:
                apply(json.loads(st.session_state[key]))
                st.session_state.pop(error_key, None)
            except json.JSONDecodeError as exc:
                st.session_state[error_key] = (
                    f"{name}: not valid JSON ({exc.msg}, column {exc.colno}); the last valid value is kept"
                )

        st.text_area(
            f"{label} (JSON)", value=json.dumps(current), key=key, help=help_text, on_change=apply_json, height=68
        )
        if error_key in st.session_state:
            st.error(plain(st.session_state[error_key]))


def default_text(default: Any) -> str:
    return "default " + ("empty" if default in ("", None, [], {}) else json.dumps(default, ensure_ascii=False))


def draw_parameters(editor: Editor, node_type: NodeType, node_id: str) -> None:
    schema = node_type.params.model_json_schema()
    definitions = schema.get("$defs", {})
    properties = schema.get("properties", {})
    params = editor.pipeline.node(node_id).params
    errors = param_errors(node_type, params)
    for message in errors.get("", []):
        st.error(plain(message), icon=":material/error:")
    shown = applicable_params(node_type, params)
    fields = node_type.params.model_fields
    values = {
        name: field.get_default(call_default_factory=True) for name, field in fields.items() if not field.is_required()
    } | params
    for name in shown:
        field = fields[name]
        default = None if field.is_required() else field.get_default(call_default_factory=True)
        form = field_form(properties[name], definitions, values)
        parameter_widget(editor, node_id, name, properties[name], form, params.get(name, default), default)
        about = [form.rules] if form.rules else []
        if not field.is_required():
            about.append(default_text(default))
        if about:
            st.caption(" · ".join(about))
        for message in errors.get(name, []):
            st.error(plain(message), icon=":material/error:")
    hidden = [name for name in fields if name not in shown]
    if hidden:
        st.caption("Not shown, as they do not apply with these settings: " + ", ".join(hidden))
    unknown = [name for name in params if name not in properties]
    for name in unknown:
        col_text, col_button = st.columns([4, 1])
        col_text.warning(plain(f"unknown parameter '{name}' = {params[name]!r}"))
        if col_button.button("Remove", key=f"drop:{node_id}:{name}"):
            editor.set_param(node_id, name, None, None)
            st.rerun()


def draw_ports(editor: Editor, node_type: NodeType, node_id: str) -> None:
    incoming = {edge.target_port: edge for edge in editor.pipeline.incoming(node_id)}
    outgoing = [edge for edge in editor.pipeline.edges if edge.source == node_id]
    rows = []
    for port in node_type.inputs:
        edge = incoming.get(port.name)
        link = (
            f"← {edge.source}.{edge.source_port}"
            if edge
            else ("required, not connected" if port.required else "optional")
        )
        rows.append({"port": f"in: {port.name}", "type": str(port.type), "connection": link})
    for port in node_type.outputs:
        targets = ", ".join(f"{edge.target}.{edge.target_port}" for edge in outgoing if edge.source_port == port.name)
        rows.append(
            {"port": f"out: {port.name}", "type": str(port.type), "connection": f"→ {targets}" if targets else ""}
        )
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch")


def draw_node(editor: Editor, registry: Registry, node_id: str) -> None:
    spec = editor.pipeline.node(node_id)
    node_type = registry.get(spec.type)
    if node_type is None:
        st.error(
            plain(
                f"Node '{node_id}' has an unknown type '{spec.type}'; "
                "delete it or install the plug-in that provides it."
            )
        )
        if st.button("Delete node", key="delete-unknown"):
            editor.delete_node(node_id)
            st.rerun()
        return
    st.markdown(f"#### {node_type.title}")
    st.caption(
        f"`{node_type.type_id}` · {node_type.category} · v{node_type.version}"
        + (" · uses the accelerator" if node_type.wants_accelerator else "")
    )
    st.write(node_type.summary_line)
    new_id = st.text_input("Node id", value=node_id, key=f"rename:{editor.form_generation}:{node_id}")
    if new_id != node_id:
        problem = editor.rename_node(node_id, new_id)
        if problem:
            st.error(plain(problem))
        else:
            st.rerun()
    structural = [problem for problem in editor.problems_of(node_id) if problem.code != "params"]
    for problem in structural:
        st.warning(plain(problem.message), icon=":material/warning:")
    remote_code = remote_code_warning(spec)
    if remote_code:
        st.warning(plain(remote_code), icon=":material/gpp_maybe:")
    with st.container(border=True):
        draw_parameters(editor, node_type, node_id)
    with st.expander("Ports"):
        draw_ports(editor, node_type, node_id)
    with st.expander("Documentation"):
        st.markdown(node_type.doc or "_No documentation._")


def draw_link(editor: Editor, registry: Registry, source: str, target: str) -> None:
    joined = links(editor.pipeline).get((source, target), [])
    st.markdown(f"#### Link {plain(source)} → {plain(target)}")
    st.caption(plain(port_label(joined) or "no ports"))
    for edge in joined:
        col_text, col_button = st.columns([4, 1])
        col_text.markdown(
            f"{inline_code(f'{edge.source}.{edge.source_port}')} → {inline_code(f'{edge.target}.{edge.target_port}')}"
        )
        if col_button.button("Remove", key=f"unlink:{source}:{target}:{edge.target_port}"):
            editor.disconnect(source, target, edge.target_port)
            st.rerun()
    # The canvas draws one link per pair of nodes, so further ports between them are added here.
    more = link_options(editor.pipeline, registry, source, target).choices
    if more:
        choice = st.selectbox(
            "Also connect", more, format_func=lambda pair: f"{pair[0]} → {pair[1]}", key=f"more:{source}:{target}"
        )
        if st.button("Connect", key=f"more-connect:{source}:{target}"):
            editor.connect(source, target, [choice])
            st.rerun()


def draw_inspector(editor: Editor, registry: Registry) -> None:
    ids = [spec.id for spec in editor.pipeline.nodes]
    chosen = st.selectbox(
        "Selected node",
        [None, *ids],
        index=ids.index(editor.selected) + 1 if editor.selected in ids else 0,
        format_func=lambda node_id: "— click a node on the canvas —" if node_id is None else node_id,
        key=f"inspector-select:{editor.form_generation}",
    )
    if chosen != editor.selected:
        editor.select(chosen)
        editor.selected_link = None
        st.rerun()
    if editor.selected_link and editor.selected is None:
        if editor.selected_link in links(editor.pipeline):
            draw_link(editor, registry, *editor.selected_link)
        return
    if editor.selected is None:
        st.caption("Select a node to edit its parameters; drag between the handles of two cards to connect them.")
        return
    draw_node(editor, registry, editor.selected)
