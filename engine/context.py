"""What a node's `run` function receives besides its inputs and parameters."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nodeloom.engine.events import Event, NodeLog, NodeProgress


class Cancelled(Exception):
    """Raised inside a node when the run was asked to stop."""


class CancelToken:
    """A flag shared by a run and whoever may stop it (a signal handler, the app, a test)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("the run was cancelled")


class NodeError(Exception):
    """A failure a node explains to the user: the message is shown without a traceback."""


@dataclass
class RunContext:
    run_id: str
    node_id: str
    device: str  # "cpu", "cuda", "cuda:1" or "mps": where tensors should go
    seed: int  # the pipeline's seed; nodes with randomness derive from it unless told otherwise
    workdir: Path  # a folder of this node's own for this run (checkpoints, logs)
    cancel: CancelToken
    emit: Callable[[Event], None]  # delivers events to the run's listeners
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("nodeloom.node"))

    def progress(
        self,
        fraction: float | None = None,
        message: str = "",
        **values: Any,
    ) -> None:
        """Report progress (0..1, or None when unknown) and any numbers worth plotting."""
        self.emit(NodeProgress(self.run_id, self.node_id, fraction, message, dict(values)))

    def log(self, message: str, level: str = "info") -> None:
        getattr(self.logger, level, self.logger.info)("[%s] %s", self.node_id, message)
        self.emit(NodeLog(self.run_id, self.node_id, level, message))

    def check_cancelled(self) -> None:
        self.cancel.raise_if_cancelled()
