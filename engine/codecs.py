"""How node outputs are stored on disk for the cache: never pickle.

Datasets are written as Arrow (`save_to_disk`), models and tokenizers with `save_pretrained`
(safetensors), JSON-typed values as JSON. A value no codec can store stays in the memory
cache only. Loading never executes code from the cache folder.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodeloom.engine import types as T


class NotStorable(Exception):
    """This value cannot be written by its port type's codec; keep it in memory only."""


@dataclass(frozen=True)
class Codec:
    name: str
    save: Callable[[Any, Path], dict[str, Any]]  # writes into an empty folder; returns metadata
    load: Callable[[Path, dict[str, Any]], Any]  # reads it back, given that metadata


def _save_json(value: Any, folder: Path) -> dict[str, Any]:
    try:
        text = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise NotStorable(str(exc)) from exc
    (folder / "value.json").write_text(text, encoding="utf-8")
    return {}


def _load_json(folder: Path, meta: dict[str, Any]) -> Any:
    return json.loads((folder / "value.json").read_text(encoding="utf-8"))


def _save_dataset(value: Any, folder: Path) -> dict[str, Any]:
    import datasets

    if not isinstance(value, datasets.Dataset):
        raise NotStorable(f"expected a datasets.Dataset, got {type(value).__name__}")
    # datasets writes no shard for an empty dataset and then cannot load it back; one empty shard loads
    value.save_to_disk(str(folder), num_shards=1 if value.num_rows == 0 else None)
    return {"rows": value.num_rows}


def _load_dataset(folder: Path, meta: dict[str, Any]) -> Any:
    import datasets

    return datasets.load_from_disk(str(folder))


def _save_tokenizer(value: Any, folder: Path) -> dict[str, Any]:
    from transformers import PreTrainedTokenizerBase

    if not isinstance(value, PreTrainedTokenizerBase):
        raise NotStorable(f"expected a transformers tokenizer, got {type(value).__name__}")
    value.save_pretrained(str(folder))
    return {}


def _load_tokenizer(folder: Path, meta: dict[str, Any]) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)


def _save_model(value: Any, folder: Path) -> dict[str, Any]:
    from transformers import PreTrainedModel

    if hasattr(value, "peft_config") and hasattr(value, "unload"):
        # A LoRA (peft) model: its base weights without the adapter layers, then the adapter.
        base = copy.deepcopy(value).unload()  # unload() changes the model it is called on
        base.save_pretrained(str(folder / "base"), safe_serialization=True)
        value.save_pretrained(str(folder / "adapter"), safe_serialization=True)
        return {"class": type(base).__name__, "peft": True}
    if not isinstance(value, PreTrainedModel):
        raise NotStorable(f"expected a transformers model, got {type(value).__name__}")
    value.save_pretrained(str(folder), safe_serialization=True)
    return {"class": type(value).__name__}


def _load_model(folder: Path, meta: dict[str, Any]) -> Any:
    import transformers

    found = getattr(transformers, str(meta.get("class")), None)
    if not (isinstance(found, type) and issubclass(found, transformers.PreTrainedModel)):
        raise NotStorable(f"cached model class {meta.get('class')!r} is not a transformers model")
    model_class: Any = found  # a PreTrainedModel subclass, checked above; transformers' own types are not analysed
    if meta.get("peft"):
        from peft import PeftModel

        base = model_class.from_pretrained(str(folder / "base"), use_safetensors=True, trust_remote_code=False)
        return PeftModel.from_pretrained(base, str(folder / "adapter"), is_trainable=True)
    return model_class.from_pretrained(str(folder), use_safetensors=True, trust_remote_code=False)


JSON_CODEC = Codec("json", _save_json, _load_json)
DATASET_CODEC = Codec("arrow", _save_dataset, _load_dataset)
CODECS: dict[str, Codec] = {
    T.DATASET.name: DATASET_CODEC,
    T.TOKENIZED_DATASET.name: DATASET_CODEC,
    T.EMBEDDINGS.name: DATASET_CODEC,
    T.TOKENIZER.name: Codec("tokenizer", _save_tokenizer, _load_tokenizer),
    T.MODEL.name: Codec("model", _save_model, _load_model),
    **{port_type.name: JSON_CODEC for port_type in T.JSON_TYPES},
}
CODECS_BY_NAME = {codec.name: codec for codec in CODECS.values()}


def register_codec(port_type: T.PortType, codec: Codec) -> None:
    """Let a plug-in store values of its own port type."""
    CODECS[port_type.name] = codec
    CODECS_BY_NAME[codec.name] = codec


def codec_for(port_type: T.PortType) -> Codec | None:
    return CODECS.get(port_type.name)


def describe_value(value: Any) -> dict[str, Any]:
    """A small JSON summary of an output for tables and the store."""
    num_rows = getattr(value, "num_rows", None)
    if isinstance(num_rows, int):
        return {"rows": num_rows, "columns": list(getattr(value, "column_names", []))}
    if hasattr(value, "num_parameters") and callable(value.num_parameters):
        return {"class": type(value).__name__, "parameters": int(value.num_parameters())}
    if hasattr(value, "vocab_size") and hasattr(value, "save_pretrained"):
        return {"class": type(value).__name__, "vocab_size": len(value)}
    if isinstance(value, dict):
        return {key: item for key, item in value.items() if isinstance(item, (int, float, str, bool)) or item is None}
    if isinstance(value, (int, float, str, bool)):
        return {"value": value if not isinstance(value, str) else value[:200]}
    return {"type": type(value).__name__}
