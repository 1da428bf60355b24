"""Which paths NodeLoom will read (regular files and folders, nothing else) and write (`writable`).

A path in a pipeline may name anything: a device (/dev/zero never ends), a FIFO (opening it blocks until
someone writes), a kernel pseudo-file under /proc (the environment of the process), a folder holding the
whole disk. `readable` decides from `os.stat` alone, which never opens, blocks or reads the file, so
validation can refuse such paths before anything runs, and the cache fingerprints only what it may read.
Output paths get the same treatment: a save that could only fail, or would replace NodeLoom's own files, is
refused by validation rather than when the node runs, perhaps after an hour of training. A save that would
replace what is there while its overwrite parameter is off (`overwrite_refusal`) is refused when a run that
executes it is planned (`engine.planner`), and by the saving nodes again when they run.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from nodeloom.engine.paths import own_entries

# Kernel and device file systems: their "files" are not data, even where stat calls them regular.
PSEUDO_ROOTS = ("/proc", "/sys", "/dev")
MAX_FOLDER_FILES = 10_000  # a folder a node reads (a model, a checkpoint) holds a few dozen
MAX_NAME_BYTES, MAX_PATH_BYTES = 255, 4096  # Linux's NAME_MAX and PATH_MAX; macOS and Windows allow less
SAVE_SUFFIX_BYTES = 24  # what a save adds to a name for its temporary sibling (".NAME.replaced-1234abcd")
MARKER = ".nodeloom-saved"  # in every folder a save writes: {"files": [the names it wrote]}
MAX_MARKER_BYTES = 1 << 20  # a marker lists a few dozen names; a bigger one is not NodeLoom's
KIND_NAMES = {
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFSOCK: "a socket",
}


class RefusedPath(ValueError):
    """A path NodeLoom will not read; the message says why, in words that follow the path."""


def expanded(text: str) -> Path:
    """`text` with a leading ~ or ~user expanded; RefusedPath for a NUL byte or a user that does not exist."""
    if "\x00" in text:
        raise RefusedPath("contains a NUL byte")
    result = os.path.expanduser(text)
    if result.startswith("~"):  # os.path.expanduser leaves what it cannot expand
        raise RefusedPath(f"starts with '{result.split(os.sep, 1)[0]}', which names no user's home folder")
    return Path(result)


def _under_pseudo_root(path: Path) -> str | None:
    real = os.path.realpath(path)
    return next((root for root in PSEUDO_ROOTS if real == root or real.startswith(root + os.sep)), None)


def readable(text: str) -> tuple[str, Path]:
    """("file" | "folder" | "missing", the expanded path) for a path NodeLoom may read; RefusedPath otherwise.

    Symbolic links are followed (a link to a data file is fine) and judged by what they point to, so a link
    to /dev/zero is refused like /dev/zero."""
    path = expanded(text)
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return "missing", path
    except PermissionError:
        raise RefusedPath("cannot be reached (permission denied on a folder on the way)") from None
    except (OSError, ValueError) as exc:
        raise RefusedPath(f"cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        kind = "folder"
    elif stat.S_ISREG(info.st_mode):
        kind = "file"
    else:
        raise RefusedPath(f"is not a regular file but {KIND_NAMES.get(stat.S_IFMT(info.st_mode), 'a special file')}")
    pseudo = _under_pseudo_root(path)
    if pseudo is not None:
        raise RefusedPath(f"is not a regular file: it is under {pseudo}, where the system keeps its pseudo-files")
    if not os.access(path, os.R_OK | (os.X_OK if kind == "folder" else 0)):
        raise RefusedPath(f"is a {kind} that cannot be read (permission denied)")
    return kind, path


def folder_files(folder: Path, limit: int = MAX_FOLDER_FILES) -> list[Path]:
    """The regular files under `folder`, sorted, without following links to folders; links to anything but a
    regular file are left out (never opened). RefusedPath when there are more than `limit`: fingerprinting
    a home folder would take minutes, and no node reads one."""
    found: list[Path] = []
    pending = [folder]
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except OSError:
            continue  # removed or unreadable meanwhile: what can be read is what counts
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=True) and _under_pseudo_root(Path(entry.path)) is None:
                    found.append(Path(entry.path))
            except OSError:
                continue
            if len(found) > limit:
                raise RefusedPath(f"is a folder with more than {limit} files, more than any node reads")
    return sorted(found)


def writable(text: str, kind: str, home: Path) -> Path:
    """The path a node will write `kind` ("file" or "folder") to, resolved; RefusedPath when the write could
    only fail or do harm, decided from `os.stat` and `os.access` alone (nothing is created or opened):

    - under /proc, /sys or /dev; a NUL byte, ~user for no user (as `expanded`); a name or path too long for
      the file system, or text that is no file name at all;
    - NODELOOM_HOME itself, a folder holding it, or one of the entries NodeLoom keeps in it (`own_entries`):
      the save would replace the store or caches, or gc would delete what was saved;
    - an existing path of the other kind, or a device, FIFO or socket;
    - a parent folder that cannot be created (a file is in the way) or cannot be written to. A save writes a
      sibling first and renames it, so the parent must be writable even when the target exists.
    """
    try:
        return _writable(expanded(text), kind, home)
    except (OSError, ValueError) as exc:  # RefusedPath is a ValueError with its own words
        if isinstance(exc, RefusedPath):
            raise
        raise RefusedPath(f"cannot be used as a path ({getattr(exc, 'strerror', None) or exc})") from None


def _writable(path: Path, kind: str, home: Path) -> Path:
    target = Path(os.path.abspath(path)).resolve()  # resolve(): links in the part that exists
    longest = max(len(os.fsencode(part)) for part in target.parts)
    most = MAX_NAME_BYTES - SAVE_SUFFIX_BYTES
    if max(longest, len(os.fsencode(target.name)) + SAVE_SUFFIX_BYTES) > MAX_NAME_BYTES or (
        len(os.fsencode(target)) > MAX_PATH_BYTES
    ):
        raise RefusedPath(f"is too long: use names of up to {most} bytes and paths of up to {MAX_PATH_BYTES}")
    pseudo = _under_pseudo_root(target)
    if pseudo is not None:
        raise RefusedPath(f"is under {pseudo}, where the system keeps its pseudo-files")
    home = home.resolve()
    if target == home or home.is_relative_to(target):
        raise RefusedPath(f"would replace NODELOOM_HOME ({home}), which holds the store and caches")
    for entry in own_entries(home):
        if target == entry or target.is_relative_to(entry):
            raise RefusedPath(f"is inside NodeLoom's own {entry}, which gc and the store manage")
    try:
        mode: int | None = os.stat(target).st_mode
    except (FileNotFoundError, NotADirectoryError):  # not there yet, or a file in the way (said below)
        mode = None
    if mode is not None:
        if stat.S_ISDIR(mode) and kind == "file":
            raise RefusedPath("is a folder, not a file")
        if stat.S_ISREG(mode) and kind == "folder":
            raise RefusedPath("is a file, not a folder")
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            raise RefusedPath(f"is {KIND_NAMES.get(stat.S_IFMT(mode), 'a special file')}")
    ancestor = target.parent
    while not os.path.lexists(ancestor) and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not os.path.isdir(ancestor):
        raise RefusedPath(f"cannot be created: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise RefusedPath(f"cannot be written: no permission to write in {ancestor}")
    return target


def saved_names(folder: Path) -> set[str]:
    """The names an earlier save wrote in `folder`, as its MARKER lists them; empty without a readable marker.
    The marker is opened only when `stat` says it is a regular file, without blocking, and read only when it
    still is and is small: a FIFO or device put there is never opened or never stalls validation."""
    marker_path = folder / MARKER
    try:
        if not stat.S_ISREG(os.stat(marker_path).st_mode):
            return set()
        handle = os.open(marker_path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return set()
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_MARKER_BYTES:
            return set()
        with os.fdopen(os.dup(handle), "rb") as marker:
            listed = json.loads(marker.read(MAX_MARKER_BYTES + 1))["files"]
        return {name for name in listed if isinstance(name, str)}
    except (OSError, ValueError, KeyError, TypeError):
        return set()
    finally:
        os.close(handle)


def unsaved_entries(folder: Path) -> list[str]:
    """Names in `folder` that no earlier save wrote there (all of them when it has no readable marker)."""
    written = saved_names(folder)
    return sorted(name for name in os.listdir(folder) if name != MARKER and name not in written)


def overwrite_refusal(target: Path, kind: str, flag: str) -> str | None:
    """Why saving `kind` ("file" or "folder") at the resolved `target` needs parameter `flag` on, in words that
    follow the path, with the fix; None when nothing is in the way. A file that exists is in the way; a folder
    only when it holds entries no earlier save wrote (a save replaces its own folder: its MARKER says so)."""
    fix = f"set {flag}: true or choose another path"
    if kind == "file":
        return f"exists; {fix}" if os.path.isfile(target) else None
    try:
        unsaved = unsaved_entries(target) if os.path.isdir(target) else []
    except OSError as exc:  # what cannot be listed may be the user's: never replaced unasked
        return f"cannot be listed ({exc.strerror or exc}), so it may hold your files; {fix}"
    if not unsaved:
        return None
    listed = ", ".join(unsaved[:3]) + (f" and {len(unsaved) - 3} more" if len(unsaved) > 3 else "")
    return f"holds files NodeLoom did not write ({listed}); {fix} (a new or empty folder)"


def refuses_own_save(kind: str) -> bool:
    """Whether `overwrite_refusal` refuses what an earlier save of `kind` left at the path: a file, yes (it
    carries no marker); a folder, no (its MARKER lists what the save wrote). Two runs of a sweep saving to one
    file therefore cannot both succeed while overwrite is off."""
    return kind == "file"
