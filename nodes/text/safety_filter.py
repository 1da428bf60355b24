"""text.safety_filter: flag, redact or drop rows with offensive language, personal data or blocklisted phrases.

The checks themselves are pure functions in nodes/text/safety.py, shared with the app's chat guard.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from nodeloom.engine import Input, NodeError, NodeParams, Output, RunContext, node
from nodeloom.engine.params import ParamsConflict
from nodeloom.engine.types import DATASET, METRICS
from nodeloom.nodes.data import column_values, dataset_preview
from nodeloom.nodes.text.common import MAP_BATCH, map_fingerprint, require_text_column
from nodeloom.nodes.text.safety import (
    CHECKS,
    DEFAULT_PHONE_REGION,
    DEFAULT_THRESHOLD,
    PII_KINDS,
    SafetySettings,
    redact,
    screen,
)

Check = Literal["offensive", "pii", "blocklist"]


class SafetyFilterParams(NodeParams):
    text_column: str = Field("text", min_length=1, description="Column holding the text to check")
    mode: Literal["flag", "redact", "drop"] = Field(
        "flag",
        description="flag: only mark rows; redact: replace personal data and blocklisted phrases with "
        "placeholders ([EMAIL], [PHONE], [CARD], [IP], [BLOCKED]) and an offensive text with [WITHHELD]; "
        "drop: remove flagged rows",
    )
    checks: list[Check] = Field(
        ["offensive", "pii"],
        min_length=1,
        description="offensive (a packaged model's score), pii (e-mails, phone numbers, card numbers, "
        "IP addresses), blocklist (the words in `blocklist`)",
    )
    blocklist: list[str] = Field(
        [], description="Words or phrases to catch when checks include blocklist (whole words, any case)"
    )
    threshold: float = Field(
        DEFAULT_THRESHOLD,
        gt=0,
        le=1,
        description="A text is offensive when the model's probability reaches this (0–1; higher flags less)",
    )
    phone_region: str = Field(
        DEFAULT_PHONE_REGION,
        description="Two-letter region for phone numbers written without a country code (US, GB, DE, …)",
    )

    @field_validator("phone_region")
    @classmethod
    def _known_region(cls, region: str) -> str:
        import phonenumbers

        if region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"must be a two-letter region code such as US, GB or DE, not {region!r}")
        return region.upper()

    @model_validator(mode="after")
    def _blocklist_when_checked(self) -> SafetyFilterParams:
        if "blocklist" in self.checks and not any(phrase.strip() for phrase in self.blocklist):
            raise ParamsConflict(
                "blocklist is empty while checks include blocklist: add words or phrases, "
                "or remove blocklist from checks",
                "blocklist",
            )
        return self


def settings_of(params: SafetyFilterParams) -> SafetySettings:
    """The node's parameters as the checks' settings (what the chat guard also takes)."""
    return SafetySettings(
        checks=tuple(check for check in CHECKS if check in params.checks),
        blocklist=tuple(params.blocklist),
        threshold=params.threshold,
        phone_region=params.phone_region,
    )


def safety_metrics(flags: list[list[str]], checks: tuple[str, ...]) -> dict[str, float]:
    """flagged_fraction and, per check (and per kind of personal data), how many rows it flagged."""
    rows = len(flags)
    flagged = sum(1 for row in flags if row)
    metrics: dict[str, float] = {
        "rows": rows,
        "flagged_rows": flagged,
        "flagged_fraction": round(flagged / rows, 4) if rows else 0.0,
    }
    for check in checks:
        kinds = PII_KINDS if check == "pii" else (check,)
        metrics[f"{check}_rows"] = sum(1 for row in flags if any(kind in row for kind in kinds))
    if "pii" in checks:
        for kind in PII_KINDS:
            metrics[f"{kind}_rows"] = sum(1 for row in flags if kind in row)
    return metrics


def _summary(outputs: dict) -> dict:
    return dataset_preview(outputs["dataset"]) | {"metrics": outputs["metrics"]}


@node(
    "text.safety_filter",
    title="Safety filter",
    category="text",
    inputs=[Input("dataset", DATASET, description="Rows with generated or user text")],
    outputs=[
        Output("dataset", DATASET, "The rows with `flagged` and `flags` columns (redacted or without flagged rows)"),
        Output("metrics", METRICS, "flagged_fraction and the rows each check flagged"),
    ],
    params=SafetyFilterParams,
    version=1,
    key_params=("text_column", "mode", "checks"),
    summarize=_summary,
)
def safety_filter(ctx: RunContext, inputs: dict, params: SafetyFilterParams) -> dict:
    """Flag, redact or drop rows with offensive language, personal data or blocklisted phrases.

    Adds `flagged` (true when any check fired) and `flags` (what fired: offensive, blocklist, email,
    phone, card, ip) and, with the offensive check, `offensive_score` (the model's probability).
    Offensive language is scored by alt-profanity-check's packaged model (offline); phone numbers
    are found by `phonenumbers`; card numbers must pass the Luhn check; IP addresses must parse.
    It catches explicit abuse and well-formed personal data only: not false or misleading claims
    (fake news), paraphrased or context-dependent harm, names or street addresses.
    """
    import datasets

    dataset, column = inputs["dataset"], params.text_column
    require_text_column(dataset, column, "text.safety_filter: parameter 'text_column'")
    settings = settings_of(params)
    scored = "offensive" in settings.checks
    features = dataset.features.copy()
    features["flagged"] = datasets.Value("bool")
    features["flags"] = datasets.Sequence(datasets.Value("string"))
    if scored:
        features["offensive_score"] = datasets.Value("float64")

    def screen_batch(batch: dict) -> dict:
        ctx.check_cancelled()
        values = batch[column]
        screenings = screen([value or "" for value in values], settings)
        screened: dict[str, list[Any]] = {
            "flagged": [screening.flagged for screening in screenings],
            "flags": [list(screening.flags) for screening in screenings],
        }
        if scored:
            screened["offensive_score"] = [screening.offensive_score for screening in screenings]
        if params.mode == "redact":
            screened[column] = [
                redact(value or "", screening) if screening.flagged else value
                for value, screening in zip(values, screenings, strict=True)
            ]
        return screened

    screened = dataset.map(
        screen_batch,
        batched=True,
        batch_size=MAP_BATCH,
        features=features,
        keep_in_memory=True,
        load_from_cache_file=False,
        new_fingerprint=map_fingerprint(dataset, params, *([_model_version()] if scored else [])),
        desc="text.safety_filter",
    )
    flags = column_values(screened, "flags")
    metrics = safety_metrics(flags, settings.checks)
    if params.mode == "drop":
        kept = [row for row, found in enumerate(flags) if not found]
        if flags and not kept:
            raise NodeError(
                f"text.safety_filter: mode 'drop' removed all {len(flags)} rows of '{column}'; use mode 'flag' "
                "to see what each check found, or raise 'threshold' / trim 'blocklist'"
            )
        screened = screened.select(kept, keep_in_memory=True)
        metrics["rows_out"] = screened.num_rows
    ctx.log(
        f"{metrics['rows']} rows, {metrics['flagged_rows']} flagged ("
        + ", ".join(f"{check} {metrics[f'{check}_rows']}" for check in settings.checks)
        + f"); mode {params.mode}"
    )
    return {"dataset": screened, "metrics": metrics}


def _model_version() -> str:
    """The offensive model's package version: part of the map fingerprint, since the scores come with it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("alt-profanity-check")
    except PackageNotFoundError:
        raise NodeError(
            "text.safety_filter: check 'offensive' needs the alt-profanity-check package "
            "(pip install alt-profanity-check), or remove offensive from 'checks'"
        ) from None
