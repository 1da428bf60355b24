"""Small pipelines that several test modules build on."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def bleu_pipeline(name: str, path: str = "pairs.jsonl") -> dict:
    """A JSONL file of prediction/reference pairs scored by sacreBLEU, with canvas positions."""
    return {
        "schema_version": 1,
        "name": name,
        "nodes": [
            {"id": "load", "type": "data.load_dataset", "params": {"path": path}, "position": {"x": 0, "y": 0}},
            {"id": "bleu", "type": "metric.sacrebleu", "params": {}, "position": {"x": 300, "y": 0}},
        ],
        "edges": [{"source": "load", "target": "bleu", "source_port": "dataset", "target_port": "dataset"}],
    }


def copy_pipeline(source: Path, target: Path, overwrite: bool = False) -> dict:
    """A file's rows loaded and saved to `target` (io.save_dataset): the pipeline the save-target checks run on."""
    return {
        "schema_version": 1,
        "name": "copy",
        "nodes": [
            {"id": "load", "type": "data.load_dataset", "params": {"source": "file", "path": str(source)}},
            {"id": "save", "type": "io.save_dataset", "params": {"path": str(target), "overwrite": overwrite}},
        ],
        "edges": [{"source": "load", "target": "save"}],
    }


def metrics_pipeline() -> dict[str, Any]:
    """Built-in data, cleaned, split at random (so the seed matters), with ROUGE and data-quality metrics."""
    return {
        "schema_version": 1,
        "name": "metrics_demo",
        "settings": {"seed": 3, "device": "cpu"},
        "nodes": [
            {
                "id": "load",
                "type": "data.load_dataset",
                "params": {"source": "builtin", "name": "chat_support", "max_rows": 80},
            },
            {"id": "clean", "type": "text.clean", "params": {"columns": ["question", "answer"]}},
            {
                "id": "split",
                "type": "data.split",
                "params": {
                    "train_fraction": 0.5,
                    "validation_fraction": 0.25,
                    "test_fraction": 0.25,
                    "stratify_column": "",
                },
            },
            {
                "id": "rouge",
                "type": "metric.rouge",
                "params": {"prediction_column": "question", "reference_column": "answer"},
            },
            {"id": "quality", "type": "data.quality", "params": {"text_column": "question"}},
        ],
        "edges": [
            {"source": "load", "target": "clean"},
            {"source": "clean", "target": "split", "source_port": "dataset"},
            {"source": "split", "target": "rouge", "source_port": "test"},
            {"source": "split", "target": "quality", "source_port": "train"},
        ],
    }
