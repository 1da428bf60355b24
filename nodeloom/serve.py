"""`nodeloom serve`: the HTTP API (FastAPI on uvicorn, OpenAPI docs at /docs), for programs that run
pipelines and read run history. The endpoints are nodeloom/serve_api.py; the runs they start,
nodeloom/serve_runs.py.

Every endpoint but /api/v1/health wants `Authorization: Bearer TOKEN`. The token comes from
NODELOOM_API_TOKEN, else from NODELOOM_HOME/api-token, written (mode 0600) with a fresh random token on
first start; the start-up line says which. The server binds to localhost unless --host says otherwise.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import secrets
import socket
import stat
from collections.abc import Mapping
from pathlib import Path

from nodeloom.output import EXIT_OK, UsageError, say

TOKEN_VARIABLE = "NODELOOM_API_TOKEN"
TOKEN_FILE = "api-token"
log = logging.getLogger("nodeloom.serve")


def api_token(environ: Mapping[str, str], home: Path) -> tuple[str, str]:
    """(token, where it came from, for the start-up line)."""
    if environ.get(TOKEN_VARIABLE, "").strip():
        return environ[TOKEN_VARIABLE].strip(), f"from {TOKEN_VARIABLE}"
    path = home / TOKEN_FILE
    try:
        return read_token_file(path), f"in {path}"
    except FileNotFoundError:
        pass
    home.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    try:
        # created with its final mode: never readable by others, not even for a moment
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another server wrote it meanwhile: use that one
        return read_token_file(path), f"in {path}"
    except OSError as exc:
        raise UsageError(
            f"cannot write the API token file {path}: {exc.strerror or exc}; set {TOKEN_VARIABLE} instead"
        ) from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(token + "\n")
    return token, f"in {path} (new)"


def read_token_file(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:  # readable by others: tighten it rather than serve with a token others may know
        os.chmod(path, 0o600)
        log.warning("%s was readable by other users (mode %o); made it 0600", path, mode)
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the API token file {path}: {exc}; delete it to make a new token") from None
    if not token:
        raise UsageError(f"the API token file {path} is empty; delete it to make a new token")
    return token


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def listening_socket(host: str, port: int) -> socket.socket:
    """Bind here rather than in uvicorn: a taken port is one line naming it, and --port 0 takes a free
    port that the start-up line then names."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host.strip("[]"), port), family=family, backlog=128)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port (or --host)"
        ) from None


def url_host(host: str) -> str:
    return f"[{host.strip('[]')}]" if ":" in host else host


def positive_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: use a whole number of 1 or more")
    return value


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from nodeloom.engine.paths import nodeloom_home, worker_folders
    from nodeloom.engine.store import Store
    from nodeloom.serve_api import create_app
    from nodeloom.serve_runs import RunQueue

    token, token_source = api_token(os.environ, nodeloom_home())
    server_socket = listening_socket(args.host, args.port)
    store = Store.open()
    queue = RunQueue(store, args.max_runs, worker_folders()["api"])
    app = create_app(store, queue, token)
    base = f"http://{url_host(args.host)}:{server_socket.getsockname()[1]}"
    say(
        f"NodeLoom API on {base}/api/v1 (docs: {base}/docs); bearer token {token_source}; "
        f"at most {args.max_runs} run{'s' * (args.max_runs != 1)} at once"
    )
    if not is_loopback(args.host):
        say(
            ("warning: ", "yellow"),
            f"listening on {args.host}: anyone who can reach it with the token can run "
            "pipelines, over plain HTTP; put TLS in front of it",
        )
    try:
        # uvicorn owns SIGINT and SIGTERM while serving: it stops gracefully (open event streams get a few
        # seconds), then raises the signal again, so the exit status says what stopped the server.
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=3))
        server.run(sockets=[server_socket])
    finally:
        store.close()
        server_socket.close()
    return EXIT_OK
