"""The sections of a presentation and how a run moves through them. Plain Python (no Streamlit).

A pipeline gets the sections it has something for: its canvas always; training when it trains; results when a
node records metrics; samples when it generates, classifies or embeds; "try it" when it has a model to talk to
or a classifier to type into. "Run and present" follows a run through them (`followed_section`).
"""

from __future__ import annotations

from collections.abc import Iterable

from nodeloom.engine.events import ACTIVE, RunStatus

PIPELINE, TRAINING, RESULTS, SAMPLES, TRY_IT = "Pipeline", "Training", "Results", "Samples", "Try it"
TRAINING_PREFIX = "train."
SAMPLE_TYPES = ("infer.generate", "infer.classify", "text.embed")
TRY_TYPES = ("infer.generate", "infer.classify")


def sections_for(node_types: Iterable[str | None], metric_types: set[str]) -> list[str]:
    """The sections a pipeline of these node types has, in order; `metric_types`: the types that record metrics."""
    types = {type_id for type_id in node_types if type_id}
    wanted = {
        PIPELINE: True,
        TRAINING: any(type_id.startswith(TRAINING_PREFIX) for type_id in types),
        RESULTS: bool(types & metric_types),
        SAMPLES: bool(types & set(SAMPLE_TYPES)),
        TRY_IT: bool(types & set(TRY_TYPES)),
    }
    return [section for section, present in wanted.items() if present]


def moved(sections: list[str], current: str, offset: int) -> str:
    """The section `offset` steps from `current`, staying within the first and the last."""
    if current not in sections:
        return sections[0]
    index = sections.index(current) + offset
    return sections[min(max(index, 0), len(sections) - 1)]


def followed_section(sections: list[str], run_status: str | None, nodes: Iterable[tuple[str | None, str]]) -> str:
    """Where a followed run is, from its status and its nodes' (type, status): the canvas while data is prepared,
    training from the moment a trainer starts until the run ends, then results (else samples) when it has
    succeeded, and the canvas, with the failing node marked on it, when it has not."""
    if run_status in ACTIVE:
        trainer_started = any(
            (type_id or "").startswith(TRAINING_PREFIX) and status not in (RunStatus.QUEUED, RunStatus.SKIPPED)
            for type_id, status in nodes
        )
        return TRAINING if trainer_started and TRAINING in sections else PIPELINE
    if run_status == RunStatus.SUCCEEDED:
        return next((section for section in (RESULTS, SAMPLES) if section in sections), PIPELINE)
    return PIPELINE


CONTEXT_COLUMNS = ("prompt", "question", "text", "sentence", "input")  # what the model was given
SAMPLE_COLUMNS = ("prediction", "probabilities", "reference")  # what it answered, and what was expected


def sample_columns(columns: list[str]) -> list[str]:
    """The columns a sample table shows: what the model was given (the first context column found), what it
    answered, its probabilities and the expected answer; tokens and the other columns stay out."""
    context = next((name for name in CONTEXT_COLUMNS if name in columns), None)
    return ([context] if context else []) + [name for name in SAMPLE_COLUMNS if name in columns]
