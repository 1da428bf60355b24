"""`nodeloom app`: this process becomes the Streamlit server (os.execv), so a signal sent to `nodeloom app`
— SIGTERM from a service manager, Ctrl-C — reaches the server itself and stops it; no orphan is left
listening on the port."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from nodeloom.output import UsageError, say

# headless: no browser opened on a server; no usage statistics sent; no "Deploy" button in the toolbar;
# uploads up to 20 MB, the limit of a pipeline file.
FIXED_OPTIONS = [
    "--server.headless",
    "true",
    "--browser.gatherUsageStats",
    "false",
    "--client.toolbarMode",
    "minimal",
    "--server.maxUploadSize",
    "20",
]
OWN_OPTIONS = {"--server.address": "--host", "--server.port": "--port"}


def app_script() -> Path:
    """The installed package's own Streamlit script (never an app.py found in the current folder)."""
    return Path(__file__).resolve().parent / "streamlit_app.py"


def passed_on(options: list[str]) -> list[str]:
    """Check the options meant for Streamlit: `--section.option VALUE` or `--section.option=VALUE`."""
    if options and not options[0].startswith("--"):
        raise UsageError(f"unrecognized argument '{options[0]}'; `nodeloom app` passes on only --section.option VALUE")
    for option in options:
        name = option.partition("=")[0]
        if not option.startswith("--"):
            continue  # a value
        if "." not in name:
            raise UsageError(
                f"unrecognized option '{name}'; `nodeloom app` passes on only Streamlit's "
                "--section.option settings (see `streamlit run --help`)"
            )
        if name in OWN_OPTIONS:
            raise UsageError(f"use {OWN_OPTIONS[name]} instead of {name}: `nodeloom app` prints the address it sets")
    return options


def streamlit_command(args: argparse.Namespace) -> list[str]:
    # The user's options come last: Streamlit takes the last value given, so they may override FIXED_OPTIONS.
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_script()),
        "--server.address",
        args.host,
        "--server.port",
        str(args.port),
        *FIXED_OPTIONS,
        *passed_on(args.streamlit_options),
    ]


def cmd_app(args: argparse.Namespace) -> int:
    command = streamlit_command(args)
    say(f"NodeLoom at http://{args.host}:{args.port}")
    sys.stdout.flush()
    sys.stderr.flush()  # execv discards whatever is still buffered
    try:
        os.execv(command[0], command)
    except OSError as exc:
        raise UsageError(f"cannot start Streamlit ({command[0]}): {exc.strerror or exc}") from None
