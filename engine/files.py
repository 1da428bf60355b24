"""Which paths NodeLoom will read: regular files and folders, nothing else.

A path in a pipeline may name anything: a device (/dev/zero never ends), a FIFO (opening it blocks until
someone writes), a kernel pseudo-file under /proc (the environment of the process), a folder holding the
whole disk. `readable` decides from `os.stat` alone, which never opens, blocks or reads the file, so
validation can refuse such paths before anything runs, and the cache fingerprints only what it may read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

# Kernel and device file systems: their "files" are not data, even where stat calls them regular.
PSEUDO_ROOTS = ("/proc", "/sys", "/dev")
MAX_FOLDER_FILES = 10_000  # a folder a node reads (a model, a checkpoint) holds a few dozen
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
