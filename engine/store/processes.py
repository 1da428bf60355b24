"""Is the process that owns a run still there? Runs record their process so that one whose process
died (killed, crashed, machine rebooted) can be told apart from one still running."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class ProcessIdentity:
    pid: int
    started: float | None  # the process's start time, so a reused pid is not mistaken for it
    host: str


def this_process() -> ProcessIdentity:
    return process_identity(os.getpid())


def process_identity(pid: int) -> ProcessIdentity:
    try:
        started: float | None = psutil.Process(pid).create_time()
    except (psutil.Error, OSError):
        started = None
    return ProcessIdentity(pid, started, socket.gethostname())


def process_alive(pid: int | None, started: float | None, host: str | None) -> bool:
    """False only when we can tell the process is gone; runs of other machines count as alive."""
    if pid is None:
        return False
    if host and host != socket.gethostname():
        return True
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(process.create_time() - started) < 1.0
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # e.g. access denied: it exists
        return True
