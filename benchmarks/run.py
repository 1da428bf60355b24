"""Run every benchmark, each in its own process, and write benchmarks/RESULTS.md from the figures they report.

    python benchmarks/run.py [--quick] [--only NAME ...] [--output PATH] [--timeout SECONDS]

A benchmark is a benchmarks/bench_NAME.py script that reports its figures through _report.figure: NodeLoom's value
beside the plain library doing the same work in the same run, their ratio and the goal. This script only collects
them (NODELOOM_BENCH_JSON), so no figure in RESULTS.md is typed by hand. It also records what the figures depend on:
the machine, the library versions, the commit, and the load average before and after each benchmark (the machine
may be shared). A benchmark that fails or runs out of time is listed with its last line of output.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from _report import JSON_ENV, describe, format_ratio  # noqa: E402

DEFAULT_TIMEOUT = 900
QUICK_NOTE = "--quick, smaller than the scripts' defaults (fixed per-call costs weigh more in the ratios)"


@dataclass
class Benchmark:
    name: str
    script: Path
    args: list[str] = field(default_factory=list)  # the full sizes
    quick_args: list[str] = field(default_factory=list)  # smaller sizes for --quick
    timeout: int = DEFAULT_TIMEOUT
    needs_cuda: bool = False


@dataclass
class Outcome:
    benchmark: Benchmark
    status: str  # passed, failed, timed out, skipped
    seconds: float = 0.0
    load_before: tuple[float, float, float] | None = None
    load_after: tuple[float, float, float] | None = None
    command: str = ""
    last_line: str = ""
    figures: list[dict] = field(default_factory=list)


# Sizes per script (name = bench_NAME.py): (full arguments, --quick arguments, timeout in seconds).
SIZES: dict[str, tuple[list[str], list[str], int]] = {
    "engine": ([], ["--nodes", "200"], 600),
    "tokenize": ([], ["--texts", "5000", "--repeats", "2"], 1200),
    "trainer": ([], ["--steps", "10", "--repeats", "2"], 1200),
    "metrics": ([], ["--rows", "2000", "--repeats", "3"], 1200),
    "quality": ([], ["--rows", "20000", "--repeats", "2"], 1200),
    "store": ([], ["--steps", "200", "--repeats", "2"], 1200),
    "app": ([], ["--reruns", "10", "--chatbot-epochs", "2"], 1200),  # a cached run loads the same things at any epochs
    "canvas": ([], ["--rounds", "1", "--steps", "30"], 1200),
    "ray": ([], ["--rows", "10000", "--repeats", "1"], 900),
    # the chatbot: a cold run and the plain script at full size, the sweep's 5 trainings at 2 epochs
    "rerun": ([], ["--sweep-epochs", "2", "--repeats", "3"], 3600),
}
# Run only where a CUDA device is present: the trainer at GPT-2-small size in bf16 (tokens/s and MFU).
CUDA_VARIANTS = [("trainer_gpt2_small", "trainer", ["--size", "small"], ["--size", "small", "--steps", "20"])]


def discover(bench_dir: Path) -> list[Benchmark]:
    """Every bench_*.py in the folder, with its sizes where SIZES knows them, plus the CUDA-only variants."""
    benchmarks = []
    for script in sorted(bench_dir.glob("bench_*.py")):
        name = script.stem.removeprefix("bench_")
        args, quick_args, timeout = SIZES.get(name, ([], [], DEFAULT_TIMEOUT))
        benchmarks.append(Benchmark(name, script, args, quick_args, timeout))
    for name, script_name, args, quick_args in CUDA_VARIANTS:
        script = bench_dir / f"bench_{script_name}.py"
        if script.exists():
            benchmarks.append(Benchmark(name, script, args, quick_args, DEFAULT_TIMEOUT, needs_cuda=True))
    return benchmarks


def load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:  # not on every platform
        return None


def last_line(lines: list[str]) -> str:
    """The last line that says something: where a traceback or an exit message puts the error."""
    for line in reversed(lines):
        if line.strip():
            return line.strip()
    return "(no output)"


def read_figures(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def run_one(benchmark: Benchmark, quick: bool, timeout: int | None, has_cuda: bool) -> Outcome:
    """Run one benchmark in a process of its own, echoing its output, and collect the figures it reported."""
    args = benchmark.quick_args if quick else benchmark.args
    command = [sys.executable, str(benchmark.script), *args]
    shown = " ".join([f"benchmarks/{benchmark.script.name}", *args])
    if benchmark.needs_cuda and not has_cuda:
        return Outcome(benchmark, "skipped", command=shown, last_line="needs a CUDA device; none here")
    limit = timeout or benchmark.timeout
    print(f"\n=== {benchmark.name}: {shown} (timeout {limit} s)", flush=True)
    with tempfile.TemporaryDirectory(prefix="nodeloom-bench-") as scratch:
        figures_path = Path(scratch) / "figures.jsonl"
        environment = {
            **os.environ,
            JSON_ENV: str(figures_path),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH", "")])),
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        load_before, started = load_average(), time.perf_counter()
        # a session of its own, so that a timeout ends the benchmark together with any process it started
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        lines: list[str] = []
        echo = threading.Thread(target=echo_lines, args=(process, lines), daemon=True)
        echo.start()
        try:
            code = process.wait(timeout=limit)
            status = "passed" if code == 0 else "failed"
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            status = "timed out"
        echo.join(timeout=10)
        seconds, load_after = time.perf_counter() - started, load_average()
        figures = read_figures(figures_path)
    if status == "passed" and not figures:
        status, message = "failed", "reported no figure (it should call _report.figure)"
    elif status == "timed out":
        message = f"timed out after {limit} s; last output: {last_line(lines)}"
    elif status == "failed":
        message = f"exit code {process.returncode}: {last_line(lines)}"
    else:
        message = ""
    return Outcome(benchmark, status, seconds, load_before, load_after, shown, message, figures)


def echo_lines(process: subprocess.Popen, lines: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        print(f"  {line}", end="", flush=True)


def cuda_device() -> str | None:
    """The CUDA device's name, or None (torch is imported here only, not in this process's benchmarks)."""
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def memory_gib() -> str:
    try:
        return f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB"
    except (ValueError, OSError, AttributeError):
        return "unknown"


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def git_commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return commit + (" (with uncommitted changes in the working tree)" if dirty else "")


def machine(device: str | None) -> list[tuple[str, str]]:
    return [
        ("CPU", f"{os.cpu_count()} × {cpu_model()}"),
        ("memory", memory_gib()),
        ("device", f"cuda ({device})" if device else "cpu (no CUDA device)"),
        ("Python", platform.python_version()),
        ("platform", platform.platform()),
        *[(package, version(package)) for package in ("nodeloom", "torch", "transformers", "datasets")],
    ]


def load_text(load: tuple[float, float, float] | None) -> str:
    return "—" if load is None else " / ".join(f"{value:.2f}" for value in load)


def cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def verdict(figure: dict) -> str:
    if figure.get("goal") is None:
        return "—"
    met = {True: "met", False: "**not met**", None: "n/a"}[figure.get("met")]
    unit = "" if figure["goal"].startswith("ratio") else f" {figure['unit']}"  # nodeloom and overhead are in the unit
    return f"{figure['goal']}{unit}: {met}"


def render(outcomes: list[Outcome], device: str | None, quick: bool, started: datetime.datetime) -> str:
    """RESULTS.md: the figures, the benchmarks' status and load, and the machine they ran on."""
    lines = [
        "# Benchmark results",
        "",
        "Generated by `python benchmarks/run.py"
        + (" --quick" if quick else "")
        + "`; do not edit by hand, run it again. Each benchmark measured NodeLoom and its peer (the plain library "
        "doing the same work) in the same process, in turns; ratio = NodeLoom / peer.",
        "",
        f"- date: {started:%Y-%m-%d %H:%M %Z}".rstrip(),
        f"- commit: {git_commit()}",
        f"- sizes: {QUICK_NOTE if quick else 'the scripts’ defaults'}",
        *[f"- {key}: {value}" for key, value in machine(device)],
        "",
        "## Figures",
        "",
        "| benchmark | figure | NodeLoom | peer | peer's value | ratio | goal |",
        "|---|---|---:|---|---:|---:|---|",
    ]
    for outcome in outcomes:
        for figure in outcome.figures:
            row = [
                outcome.benchmark.name,
                figure["name"],
                describe(figure["nodeloom"], figure["unit"]),
                figure.get("peer_name") or "—",
                describe(figure.get("peer"), figure["unit"]),
                format_ratio(figure.get("ratio")),
                verdict(figure),
            ]
            lines.append("| " + " | ".join(cell(value) for value in row) + " |")
    lines += [
        "",
        "## Benchmarks",
        "",
        "Load average (1 / 5 / 15 minutes) just before and just after each benchmark: "
        f"{os.cpu_count()} CPUs, so a load above {os.cpu_count()} means the benchmark shared them.",
        "",
        "| benchmark | status | seconds | load before | load after | command | note |",
        "|---|---|---:|---|---|---|---|",
    ]
    for outcome in outcomes:
        row = [
            outcome.benchmark.name,
            outcome.status,
            f"{outcome.seconds:.0f}" if outcome.status != "skipped" else "—",
            load_text(outcome.load_before),
            load_text(outcome.load_after),
            f"`{outcome.command}`",
            outcome.last_line or "—",
        ]
        lines.append("| " + " | ".join(cell(value) for value in row) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", metavar="NAME", help="run this benchmark only (repeatable)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a loaded or slow machine")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md", help="where to write the results")
    parser.add_argument("--timeout", type=int, help="seconds per benchmark (default: each benchmark's own)")
    parser.add_argument("--bench-dir", type=Path, default=HERE, help="the folder of bench_*.py scripts")
    options = parser.parse_args(argv)

    benchmarks = discover(options.bench_dir)
    if options.only:
        known = {benchmark.name for benchmark in benchmarks}
        unknown = sorted(set(options.only) - known)
        if unknown:
            parser.error(f"--only {', '.join(unknown)}: no such benchmark; choose from {', '.join(sorted(known))}")
        benchmarks = [benchmark for benchmark in benchmarks if benchmark.name in options.only]
    started = datetime.datetime.now().astimezone()
    device = cuda_device()
    outcomes = [run_one(benchmark, options.quick, options.timeout, device is not None) for benchmark in benchmarks]
    options.output.write_text(render(outcomes, device, options.quick, started), encoding="utf-8")
    print(f"\nwrote {options.output}")
    for outcome in outcomes:
        note = f": {outcome.last_line}" if outcome.last_line else ""
        print(f"  {outcome.benchmark.name:20} {outcome.status}{note}")
    return 0 if all(outcome.status in ("passed", "skipped") for outcome in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
