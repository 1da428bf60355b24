"""Node parameters: the base model, the rules a parameter declares beside its type, and their problems
in plain words.

A parameter model is a pydantic model; besides types, bounds and Literal choices, a field may declare
(through `param_rules`, its `json_schema_extra`) when it applies, that it must be filled in when it
does, a fixed list of choices and its unit::

    path: str = Field("", description="…", json_schema_extra=param_rules(applies_when={"source": ["file"]},
                                                                          required=True))
    max_new_tokens: int = Field(64, ge=1, json_schema_extra=param_rules(unit="tokens"))
    path: str = Field("", description="…",
                      json_schema_extra=param_rules(writes="folder", overwrite_flag="overwrite"))

The rules are part of the JSON schema (`nodeloom nodes --json`), so the CLI's catalog, the inspector
and the canvas cards agree: a form hides what does not apply (`applicable_params`), and validation
refuses an empty required value or a value outside the choices, naming the parameter. A parameter that
`writes` a file or folder is checked by validation (`engine.files.writable`) before anything runs; with an
`overwrite_flag`, a run that will execute the save also refuses, when it is planned, what is already at the path
while that boolean parameter is off (`engine.planner.overwrite_refusals`), so a save that would refuse after the
training is refused before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

APPLIES_WHEN = "applies_when"  # {other parameter: [values for which this one applies]}
REQUIRED = "required_when_applies"  # an empty value ("", [], None) is refused while the parameter applies
CHOICES = "choices"  # a fixed list: a pick list in forms, checked by validation
CHOICES_WHEN = "choices_when"  # the choices hold only under this condition (else any value)
UNIT = "unit"  # what a number counts: tokens, steps, rows…
WRITES = "writes"  # "file" or "folder": the node writes its output to the path this parameter holds
OVERWRITE_FLAG = "overwrite_flag"  # the boolean parameter that lets the write replace what is at that path


def param_rules(
    *,
    applies_when: Mapping[str, Iterable[Any]] | None = None,
    required: bool = False,
    choices: Iterable[Any] | None = None,
    choices_when: Mapping[str, Iterable[Any]] | None = None,
    unit: str | None = None,
    writes: Literal["file", "folder"] | None = None,
    overwrite_flag: str | None = None,
) -> dict[str, Any]:
    """The `json_schema_extra` of a parameter's Field, declaring the rules above."""
    rules: dict[str, Any] = {}
    if applies_when:
        rules[APPLIES_WHEN] = {name: list(values) for name, values in applies_when.items()}
    if required:
        rules[REQUIRED] = True
    if choices is not None:
        rules[CHOICES] = list(choices)
    if choices_when:
        rules[CHOICES_WHEN] = {name: list(values) for name, values in choices_when.items()}
    if unit:
        rules[UNIT] = unit
    if writes:
        rules[WRITES] = writes
    if overwrite_flag:
        rules[OVERWRITE_FLAG] = overwrite_flag
    return rules


def rules_of(model: type[BaseModel], name: str) -> dict[str, Any]:
    extra = model.model_fields[name].json_schema_extra
    return extra if isinstance(extra, dict) else {}


def overwrite_flag(model: type[BaseModel], name: str) -> str | None:
    """The boolean parameter that must be on for parameter `name`'s write to replace what is there, if any."""
    return rules_of(model, name).get(OVERWRITE_FLAG)


def written_paths(model: type[BaseModel], params: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(parameter, path, "file" | "folder") for every parameter declared with `writes` that applies and holds
    a path, with `params` checked (`model_validate`) already."""
    values = defaults_of(model) | dict(params)
    found = []
    for name in model.model_fields:
        kind = rules_of(model, name).get(WRITES)
        value = values.get(name)
        if kind and isinstance(value, str) and value.strip() and applies(model, name, values):
            found.append((name, value, kind))
    return found


def condition_text(condition: Mapping[str, Iterable[Any]]) -> str:
    """{"source": ["builtin", "hub"]} -> "source is builtin or hub"."""
    return " and ".join(
        f"{name} is {' or '.join(str(value) for value in values)}" for name, values in condition.items()
    )


def holds(condition: Mapping[str, Iterable[Any]] | None, values: Mapping[str, Any]) -> bool:
    return not condition or all(values.get(name) in list(allowed) for name, allowed in condition.items())


def _is_empty(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, (list, dict)) and not value)


class NodeParams(BaseModel):
    """Base class of parameter models: unknown keys are an error, values are checked on assignment, and
    the rules declared with `param_rules` are checked with the rest."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

    @model_validator(mode="after")
    def _declared_rules(self) -> NodeParams:
        values = dict(self)
        for name in type(self).model_fields:
            rules = rules_of(type(self), name)
            condition = rules.get(APPLIES_WHEN)
            if not holds(condition, values):
                continue  # a parameter that does not apply is never in the way
            when = f" when {condition_text(condition)}" if condition else ""
            if rules.get(REQUIRED) and _is_empty(values[name]):
                raise ParamsConflict(f"{name} is required{when}", name)
            choices = rules.get(CHOICES)
            if choices is not None and holds(rules.get(CHOICES_WHEN), values) and values[name] not in choices:
                listed = ", ".join(str(choice) for choice in choices)
                when = f" when {condition_text(rules[CHOICES_WHEN])}" if rules.get(CHOICES_WHEN) else when
                raise ParamsConflict(f"{name} must be one of {listed}{when}, not {values[name]!r}", name)
        return self


class ParamsConflict(ValueError):
    """A rule across parameters is broken. Raised by a parameter model's validator; `fields` names the
    parameters to show it at (by default, every parameter the message names)."""

    def __init__(self, message: str, *fields: str):
        super().__init__(message)
        self.fields = fields


def defaults_of(model: type[BaseModel]) -> dict[str, Any]:
    return {
        name: field.get_default(call_default_factory=True)
        for name, field in model.model_fields.items()
        if not field.is_required()
    }


def applies(model: type[BaseModel], name: str, params: Mapping[str, Any]) -> bool:
    """Whether parameter `name` matters with these (raw, partial) parameters, defaults filling the rest."""
    values = defaults_of(model) | dict(params)
    return holds(rules_of(model, name).get(APPLIES_WHEN), values)


def applicable_params(node_type: Any, params: Mapping[str, Any]) -> list[str]:
    """The parameters of a node (a NodeType, or its parameter model) that apply with `params`, in the
    model's order: what a form shows and what a canvas card may list."""
    model = getattr(node_type, "params", node_type)
    return [name for name in model.model_fields if applies(model, name, params)]


# -- problems in plain words ------------------------------------------------------------------

_PLAIN = {
    "greater_than": "must be more than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be at most {le}",
    "string_too_short": "must not be empty",
    "too_short": "needs at least {min_length} item(s)",
    "too_long": "takes at most {max_length} item(s)",
    "string_too_long": "must be at most {max_length} characters",
    "literal_error": "must be one of {expected}",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be text",
    "list_type": "must be a list",
    "dict_type": "must be an object ({name: value})",
    "missing": "is required",
}


def plain_error(error: Mapping[str, Any]) -> str:
    """One pydantic error (an entry of `ValidationError.errors()`) in plain words, without the parameter
    name: "must be at least 1", "nesterov needs momentum > 0"."""
    context = error.get("ctx") or {}
    if error["type"] == "value_error" and isinstance(context.get("error"), Exception):
        return str(context["error"])  # a validator's own words, without pydantic's "Value error, "
    template = _PLAIN.get(error["type"])
    if template is not None:
        try:
            return template.format(**{key: _shown(value) for key, value in context.items()})
        except (KeyError, IndexError):
            pass
    return str(error["msg"])


def _shown(value: Any) -> Any:
    return f"{value:g}" if isinstance(value, float) else value


def _named_in(message: str, names: Iterable[str]) -> list[str]:
    """The parameters a message names as words ("nesterov needs momentum > 0" -> nesterov, momentum)."""
    words = set(message.replace("+", " ").replace("(", " ").replace(")", " ").replace(",", " ").split())
    return [name for name in names if name in words]


def param_errors(node_type: Any, params: Mapping[str, Any]) -> dict[str, list[str]]:
    """A node's parameter problems as plain sentences ("max_new_tokens must be at least 1"), by parameter;
    "" holds those about no one parameter. Unknown parameters are left to the caller.

    A rule across parameters (a model validator) is shown at every parameter it names, e.g. data.split's
    "train_fraction + validation_fraction + test_fraction must be 1, got 1.1" at all three fractions."""
    model = getattr(node_type, "params", node_type)
    try:
        model.model_validate(dict(params))
    except ValidationError as exc:
        found: dict[str, list[str]] = {}
        for error in exc.errors():
            message = plain_error(error)
            if error["loc"]:
                name = str(error["loc"][0])
                if error["type"] == "extra_forbidden":
                    continue  # an unknown key has no field to show at; the form lists it apart
                targets = [name]
                item = f" item {'.'.join(str(part) for part in error['loc'][1:])}" if len(error["loc"]) > 1 else ""
                message = f"{name}{item} {message}"
            else:
                cause = (error.get("ctx") or {}).get("error")
                targets = list(getattr(cause, "fields", ())) or _named_in(message, model.model_fields) or [""]
            for target in targets:
                found.setdefault(target, []).append(message)
        return found
    return {}
