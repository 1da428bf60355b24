"""The vocabulary of port types.

A port type says what travels along an edge. Types form a small hierarchy: a value of a
type may go wherever its parent type is expected (a tokenized dataset is still a dataset),
never the other way round. Type names are part of the saved node catalog, so keep them stable.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PortType:
    name: str  # stable id shown in the UI and in messages
    description: str  # one line for the catalog
    parent: PortType | None = None  # the more general type this one can stand in for

    def accepts(self, offered: PortType) -> bool:
        """True when a value of type `offered` may be connected to a port of this type."""
        current: PortType | None = offered
        while current is not None:
            if current == self:
                return True
            current = current.parent
        return False

    def __str__(self) -> str:
        return self.name


ANY = PortType("any", "Any value; accepts every type")
DATASET = PortType("dataset", "A table of examples (datasets.Dataset)", ANY)
TOKENIZED_DATASET = PortType("tokenized_dataset", "A dataset of token ids ready for a model", DATASET)
EMBEDDINGS = PortType("embeddings", "A dataset with an embedding vector per row", DATASET)
TOKENIZER = PortType("tokenizer", "A transformers fast tokenizer", ANY)
MODEL = PortType("model", "A transformers model (PyTorch)", ANY)
OPTIMIZER_SPEC = PortType("optimizer_spec", "Which optimizer to build, with its settings", ANY)
SCHEDULE_SPEC = PortType("schedule_spec", "A learning-rate schedule description", ANY)
REGULARIZATION_SPEC = PortType(
    "regularization_spec", "Dropout, weight decay, clipping and early-stopping settings", ANY
)
METRICS = PortType("metrics", "Named numeric results (a metric node's or a trainer's)", ANY)
HISTORY = PortType("history", "A training history: per-step losses and learning rates", ANY)
REPORT = PortType("report", "A JSON summary of what a node did (counts, statistics)", ANY)
TEXT = PortType("text", "Plain text", ANY)

VOCABULARY: tuple[PortType, ...] = (
    ANY,
    DATASET,
    TOKENIZED_DATASET,
    EMBEDDINGS,
    TOKENIZER,
    MODEL,
    OPTIMIZER_SPEC,
    SCHEDULE_SPEC,
    REGULARIZATION_SPEC,
    METRICS,
    HISTORY,
    REPORT,
    TEXT,
)

# Types whose values are plain JSON (dicts, lists, strings, numbers).
JSON_TYPES = frozenset({OPTIMIZER_SPEC, SCHEDULE_SPEC, REGULARIZATION_SPEC, METRICS, HISTORY, REPORT, TEXT})
