"""Trainer checkpoints that are whole or absent.

transformers' Trainer writes `checkpoint-N` in place, file by file: the weights, the optimizer and scheduler
states, the random states, and `trainer_state.json` last. A crash or a kill midway leaves a folder named like a
checkpoint, and `get_last_checkpoint` (what `resume_from_checkpoint=True` uses) picks the newest such folder
whether or not it is whole. train.trainer therefore has the Trainer write each checkpoint under
`<checkpoints>/.incomplete/checkpoint-N` and renames it to `<checkpoints>/checkpoint-N` once every file is in,
so a folder of that name is always a whole checkpoint. `resumable_checkpoint` refuses what the rename never
published, and checkpoints written elsewhere (plain transformers) whose `trainer_state.json`, the file written
last, is missing or cut short.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from pathlib import Path

from nodeloom.engine import NodeError

INCOMPLETE = ".incomplete"  # beside the checkpoint-N folders; transformers' checkpoint-* globs never match it
STATE_FILE = "trainer_state.json"  # transformers writes it last: whole only when the save finished


def staging_folder(checkpoints: str) -> str:
    """Where checkpoints of `checkpoints` are written before they are published."""
    return os.path.join(checkpoints, INCOMPLETE)


def publish(staged: Path, final: Path) -> None:
    """Rename a whole checkpoint into place; one of the same name (a node computed again in the same run) is
    replaced, moved out of the way first so that `final` never names a half-removed folder. The staging folder
    goes when nothing else is in it, so the checkpoints folder holds checkpoint-N folders alone."""
    if final.exists():
        retired = final.with_name(f"{INCOMPLETE}-replaced-{uuid.uuid4().hex[:8]}")
        os.rename(final, retired)
        os.rename(staged, final)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.rename(staged, final)
    with contextlib.suppress(OSError):  # not empty: another save's leftovers, left for gc with the run folder
        staged.parent.rmdir()


def resumable_checkpoint(text: str) -> Path:
    """The checkpoint folder `text` names, when a save finished writing it; NodeError naming what is wrong
    otherwise."""
    folder = Path(text).expanduser()
    where = f"train.trainer: parameter 'resume_from': '{text}'"
    if folder.parent.name == INCOMPLETE:
        raise NodeError(
            f"{where} is a checkpoint whose save did not finish; pick a checkpoint-N folder of {folder.parent.parent}"
        )
    state_file = folder / STATE_FILE
    if not state_file.is_file():
        raise NodeError(f"{where} is not a checkpoint folder (no {STATE_FILE}); pick a checkpoint-N folder")
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        state = None
    if not isinstance(state, dict) or "global_step" not in state:
        raise NodeError(
            f"{where} is an incomplete checkpoint: its {STATE_FILE} is cut short or damaged (the save did not "
            "finish); pick an earlier checkpoint-N folder"
        )
    return folder
