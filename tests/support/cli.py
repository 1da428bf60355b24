"""Reading what `nodeloom … --json` prints."""

from __future__ import annotations

import json


def one_json_object(stdout: str) -> dict:
    """--json prints exactly one JSON object and nothing else."""
    decoder = json.JSONDecoder()
    value, end = decoder.raw_decode(stdout)
    assert isinstance(value, dict) and stdout[end:].strip() == ""
    return value
