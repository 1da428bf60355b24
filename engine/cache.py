"""Cache keys and the two-level output cache (process memory, then disk under NODELOOM_HOME).

A node's key is a hash of its type id, its version, its canonical parameters, the run seed,
the keys of the outputs feeding it, and a fingerprint of every file it reads. Keys never
depend on output values, so a whole run's keys are known before anything executes, and a
cached node's outputs are only read from disk when something downstream needs them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nodeloom.engine.codecs import CODECS_BY_NAME, NotStorable, codec_for
from nodeloom.engine.node import NodeType
from nodeloom.engine.paths import cache_folder

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"
STAGING = "tmp"  # under the cache root: entries being written, renamed into place when complete


_content_hashes: dict[tuple[str, int, int], str] = {}


def file_fingerprint(path: str) -> str:
    """Size, modification time and content hash: an edited file never matches an old key."""
    resolved = Path(path).expanduser().resolve()
    try:
        stat = resolved.stat()
    except OSError:
        return f"missing:{resolved}"
    if resolved.is_dir():
        entries = sorted(p for p in resolved.rglob("*") if p.is_file())
        return "dir:" + hashlib.sha256("|".join(file_fingerprint(str(p)) for p in entries).encode()).hexdigest()
    identity = (str(resolved), stat.st_size, stat.st_mtime_ns)
    digest = _content_hashes.get(identity)
    if digest is None:
        hasher = hashlib.sha256()
        with resolved.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                hasher.update(block)
        digest = _content_hashes[identity] = hasher.hexdigest()
    return f"{resolved}:{stat.st_size}:{stat.st_mtime_ns}:{digest}"


def node_key(
    node_type: NodeType,
    canonical_params: Mapping[str, Any],
    input_keys: Mapping[str, str],
    seed: int,
) -> str:
    files: Iterable[str] = ()
    if node_type.external_files is not None:
        files = node_type.external_files(node_type.params.model_validate(canonical_params))
    material = {
        "type": node_type.type_id,
        "version": node_type.version,
        "params": canonical_params,
        "inputs": dict(sorted(input_keys.items())),
        "seed": seed,
        "files": [file_fingerprint(path) for path in files],
    }
    text = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class OutputCache:
    """Outputs by key: an in-process LRU in front of a folder per key on disk."""

    def __init__(self, root: Path | None = None, memory_entries: int = 64):
        self.root = root if root is not None else cache_folder()
        self.memory_entries = memory_entries
        self._memory: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def entry_folder(self, key: str) -> Path:
        """Where the entry for `key` lives on disk (whether or not it has been written)."""
        return self.root / key[:2] / key

    def has(self, key: str) -> bool:
        return key in self._memory or (self.entry_folder(key) / MANIFEST).is_file()

    def get(self, key: str) -> dict[str, Any] | None:
        """The outputs stored under key, loading them from disk if needed; None when absent or unreadable."""
        if key in self._memory:
            self._memory.move_to_end(key)
            return self._memory[key]
        folder = self.entry_folder(key)
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            outputs = {
                port: CODECS_BY_NAME[entry["codec"]].load(folder / port, entry.get("meta", {}))
                for port, entry in manifest["outputs"].items()
            }
        except FileNotFoundError:
            return None
        except Exception as exc:  # a damaged entry is a miss, never a crash
            log.warning("ignoring unreadable cache entry %s: %s", folder, exc)
            return None
        self.remember(key, outputs)
        return outputs

    def remember(self, key: str, outputs: dict[str, Any]) -> None:
        self._memory[key] = outputs
        self._memory.move_to_end(key)
        while len(self._memory) > self.memory_entries:
            self._memory.popitem(last=False)

    def put(self, key: str, node_type: NodeType, outputs: dict[str, Any]) -> bool:
        """Keep outputs in memory and, when every output can be stored safely, on disk.

        The entry is written into a temporary folder and renamed into place, so a crash or a
        failing codec never leaves a half-written entry behind. Returns True if written to disk.
        """
        self.remember(key, outputs)
        final = self.entry_folder(key)
        if (final / MANIFEST).is_file():
            return True
        staging = self.root / STAGING / f"{key}-{uuid.uuid4().hex[:8]}"
        try:
            staging.mkdir(parents=True)
            manifest: dict[str, Any] = {"key": key, "node_type": node_type.type_id, "outputs": {}}
            for port in node_type.outputs:
                codec = codec_for(port.type)
                if codec is None:
                    raise NotStorable(f"no codec for port type {port.type}")
                (staging / port.name).mkdir()
                meta = codec.save(outputs[port.name], staging / port.name)
                manifest["outputs"][port.name] = {"type": port.type.name, "codec": codec.name, "meta": meta}
            (staging / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging, final)
            return True
        except NotStorable as exc:
            log.debug("%s: outputs kept in memory only (%s)", node_type.type_id, exc)
        except OSError as exc:
            if not (final / MANIFEST).is_file():  # losing a race to an identical entry is fine
                log.warning("could not write cache entry for %s: %s", node_type.type_id, exc)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return (final / MANIFEST).is_file()

    def clear_memory(self) -> None:
        self._memory.clear()


_default_cache: OutputCache | None = None


def default_cache() -> OutputCache:
    """The process-wide cache under the current NODELOOM_HOME."""
    global _default_cache
    root = cache_folder()
    if _default_cache is None or _default_cache.root != root:
        _default_cache = OutputCache(root)
    return _default_cache
