"""Cache keys and the two-level output cache (process memory, then disk under NODELOOM_HOME).

A node's key is a hash of its type id, its version, its canonical parameters, the run seed,
the keys of the outputs feeding it, and a fingerprint of every file it reads. Keys never
depend on output values, so a whole run's keys are known before anything executes, and a
cached node's outputs are only read from disk when something downstream needs them.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import shutil
import uuid
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from nodeloom.engine.codecs import CODECS_BY_NAME, NotStorable, codec_for
from nodeloom.engine.files import folder_files, readable
from nodeloom.engine.node import NodeType
from nodeloom.engine.paths import cache_folder

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"
STAGING = "tmp"  # under the cache root: entries being written, renamed into place when complete
MANIFEST_FORMAT = 2  # 2: every file listed with its size and SHA-256, so damage is found before decoding


_content_hashes: dict[tuple[str, int, int], str] = {}


def _content_hash(path: Path, info: os.stat_result) -> str:
    identity = (str(path), info.st_size, info.st_mtime_ns)
    digest = _content_hashes.get(identity)
    if digest is None:
        digest = _content_hashes[identity] = sha256_of(path)
    return digest


def sha256_of(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def file_fingerprint(path: str) -> str:
    """Size, modification time and content hash: an edited file never matches an old key. A path that does not
    exist yet fingerprints as missing; one NodeLoom will not read (a device, a FIFO, see `engine.files`)
    raises RefusedPath instead of being opened."""
    kind, expanded_path = readable(path)
    resolved = expanded_path.resolve()
    if kind == "missing":
        return f"missing:{resolved}"
    if kind == "folder":
        parts = [file_fingerprint(str(found)) for found in folder_files(resolved)]
        return "dir:" + hashlib.sha256("|".join(parts).encode()).hexdigest()
    info = resolved.stat()
    return f"{resolved}:{info.st_size}:{info.st_mtime_ns}:{_content_hash(resolved, info)}"


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
    """Outputs by key: an in-process LRU in front of a folder per key on disk.

    An entry on disk heals itself: its manifest lists every file with its size and SHA-256, checked before
    anything is decoded (sizes whenever the entry is looked up, checksums when it is loaded). A damaged entry
    is moved aside, logged once as a warning, and reads as absent, so the node is computed again.
    """

    def __init__(self, root: Path | None = None, memory_entries: int = 64):
        self.root = root if root is not None else cache_folder()
        self.memory_entries = memory_entries
        self._memory: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def entry_folder(self, key: str) -> Path:
        """Where the entry for `key` lives on disk (whether or not it has been written)."""
        return self.root / key[:2] / key

    def has(self, key: str) -> bool:
        """Whether outputs for key are in memory or whole on disk (every file there at its recorded size)."""
        return key in self._memory or self._whole_manifest(key, check_contents=False) is not None

    def get(self, key: str, ports: Collection[str] | None = None) -> dict[str, Any] | None:
        """The outputs stored under key, loading them from disk if needed; None when absent or damaged.

        With `ports`, only those outputs: a cached node's metrics are read without decoding the model or
        dataset beside them (and without hashing their files), and such a partial read is not remembered."""
        if key in self._memory:
            self._memory.move_to_end(key)
            outputs = self._memory[key]
            return outputs if ports is None else {port: outputs[port] for port in ports if port in outputs}
        manifest = self._whole_manifest(key, check_contents=True, ports=ports)
        if manifest is None:
            return None
        folder = self.entry_folder(key)
        try:
            outputs = {
                port: CODECS_BY_NAME[entry["codec"]].load(folder / port, entry.get("meta", {}))
                for port, entry in manifest["outputs"].items()
                if ports is None or port in ports
            }
        except Exception as exc:  # whole files that still do not load: damaged all the same, never a crash
            self._discard(key, manifest, f"it could not be loaded ({first_line(exc)})")
            return None
        if ports is None:
            self.remember(key, outputs)
        return outputs

    def remember(self, key: str, outputs: dict[str, Any]) -> None:
        self._memory[key] = outputs
        self._memory.move_to_end(key)
        while len(self._memory) > self.memory_entries:
            self._memory.popitem(last=False)

    def put(self, key: str, node_type: NodeType, outputs: dict[str, Any], *, replace: bool = False) -> bool:
        """Keep outputs in memory and, when every output can be stored safely, on disk; `replace` writes over a
        whole entry too (`--no-cache`: the user asked for fresh outputs). Returns True if the entry is on disk.

        The entry is written into a temporary folder and renamed into place, so a crash or a failing codec
        never leaves a half-written entry behind.
        """
        self.remember(key, outputs)
        final = self.entry_folder(key)
        if not replace and self._whole_manifest(key, check_contents=False) is not None:
            return True
        staging = self.root / STAGING / f"{key}-{uuid.uuid4().hex[:8]}"
        try:
            staging.mkdir(parents=True)
            manifest: dict[str, Any] = {
                "format": MANIFEST_FORMAT,
                "key": key,
                "node_type": node_type.type_id,
                "outputs": {},
            }
            for port in node_type.outputs:
                codec = codec_for(port.type)
                if codec is None:
                    raise NotStorable(f"no codec for port type {port.type}")
                (staging / port.name).mkdir()
                meta = codec.save(outputs[port.name], staging / port.name)
                manifest["outputs"][port.name] = {"type": port.type.name, "codec": codec.name, "meta": meta}
            manifest["files"] = {
                path.relative_to(staging).as_posix(): {"size": path.stat().st_size, "sha256": sha256_of(path)}
                for path in sorted(staging.rglob("*"))
                if path.is_file()
            }
            (staging / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
            self._move_into_place(staging, final)
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

    def _move_into_place(self, staging: Path, final: Path) -> None:
        """Rename a complete entry into place. An entry already there is renamed away first (one rename each:
        a reader sees the old entry, none, or the new one, never a mixture)."""
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(staging, final)
            return
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        replaced = self.root / STAGING / f"replaced-{final.name}-{uuid.uuid4().hex[:8]}"
        with contextlib.suppress(FileNotFoundError):  # another process moved it meanwhile
            os.replace(final, replaced)
        try:
            os.replace(staging, final)
        finally:
            shutil.rmtree(replaced, ignore_errors=True)

    def _whole_manifest(
        self, key: str, *, check_contents: bool, ports: Collection[str] | None = None
    ) -> dict[str, Any] | None:
        """The entry's manifest when the entry is whole (the contents checked of `ports`' files only, when given);
        None when there is none, or it was damaged (then it is moved aside)."""
        try:
            manifest = json.loads((self.entry_folder(key) / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            self._discard(key, None, f"its manifest is unreadable ({first_line(exc)})")
            return None
        damage = entry_damage(self.entry_folder(key), key, manifest, check_contents=check_contents, ports=ports)
        if damage is not None:
            self._discard(key, manifest, damage)
            return None
        return manifest

    def _discard(self, key: str, manifest: Any, reason: str) -> None:
        """Move a damaged entry out of sight (one rename), say so once, and delete it."""
        node_type = manifest.get("node_type", "?") if isinstance(manifest, dict) else "?"
        if isinstance(manifest, dict) and manifest.get("format") != MANIFEST_FORMAT:
            log.debug("cache entry %s (%s) was written by an older NodeLoom; it will be recomputed", key, node_type)
        else:
            log.warning(
                "damaged cache entry for %s (%s): %s; moved aside, it will be recomputed", node_type, key, reason
            )
        self._memory.pop(key, None)
        aside = self.root / STAGING / f"damaged-{key}-{uuid.uuid4().hex[:8]}"
        try:
            aside.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.entry_folder(key), aside)
        except OSError:
            return  # gone already (another process healed it), or the cache is read-only: a miss either way
        shutil.rmtree(aside, ignore_errors=True)


def entry_damage(
    folder: Path, key: str, manifest: Any, *, check_contents: bool, ports: Collection[str] | None = None
) -> str | None:
    """What is wrong with a cache entry on disk, or None when it is whole: the manifest is for this key, lists
    only decodable outputs, and every file it lists is there at its size (and, with `check_contents`, hash; only
    the files of `ports` when given, the outputs about to be decoded)."""
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        return "its manifest is from an older NodeLoom"
    if manifest.get("key") != key:
        return "its manifest belongs to another entry"
    outputs, files = manifest.get("outputs"), manifest.get("files")
    if not isinstance(outputs, dict) or not isinstance(files, dict):
        return "its manifest lists no outputs"
    if any(not isinstance(entry, dict) or entry.get("codec") not in CODECS_BY_NAME for entry in outputs.values()):
        return "its manifest names a codec this NodeLoom does not have"
    for name, expected in files.items():
        if not isinstance(expected, dict) or ".." in Path(name).parts or Path(name).is_absolute():
            return f"its manifest lists a file outside the entry ({name!r})"
        path = folder / name
        try:
            size = path.stat().st_size
        except OSError:
            return f"file {name} is missing"
        if size != expected.get("size"):
            return f"file {name} is {size} bytes, {expected.get('size')} expected"
        hashed = check_contents and (ports is None or Path(name).parts[0] in ports)
        if hashed and sha256_of(path) != expected.get("sha256"):
            return f"file {name} does not match its checksum"
    return None


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


_default_cache: OutputCache | None = None


def default_cache() -> OutputCache:
    """The process-wide cache under the current NODELOOM_HOME."""
    global _default_cache
    root = cache_folder()
    if _default_cache is None or _default_cache.root != root:
        _default_cache = OutputCache(root)
    return _default_cache
