"""benchmarks/run.py on fake bench scripts: the figures they report become RESULTS.md's table; failures stay listed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

RUNNER = Path(__file__).resolve().parents[2] / "benchmarks" / "run.py"

REPORTING_BENCH = """
from _report import figure

print("a person reads this line")
figure("fake work", nodeloom=3.0, peer=2.0, unit="s", peer_name="plain script", goal="ratio <= 1.1")
figure("fake speed", nodeloom=450.0, peer=500.0, unit="items/s", peer_name="plain loop", goal="ratio >= 0.8")
figure("fake share", nodeloom=1.5, peer=None, unit="%", peer_name="none", goal="nodeloom < 2")
"""

FAILING_BENCH = """
from _report import figure

figure("reported before the failure", nodeloom=1.0, peer=4.0, unit="s", peer_name="plain")
raise SystemExit("bench_broken: the data file is missing; run make-data first")
"""


def run_runner(bench_dir: Path, output: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(RUNNER), "--bench-dir", str(bench_dir), "--output", str(output), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def write_bench(folder: Path, name: str, body: str) -> None:
    (folder / f"bench_{name}.py").write_text(textwrap.dedent(body), encoding="utf-8")


def table_rows(markdown: str, benchmark: str) -> list[list[str]]:
    rows = [line.strip("|").split(" | ") for line in markdown.splitlines() if line.startswith(f"| {benchmark} |")]
    return [[cell.strip() for cell in row] for row in rows]


def test_results_table_holds_both_values_their_ratio_and_the_goal(tmp_path):
    write_bench(tmp_path, "fake", REPORTING_BENCH)
    output = tmp_path / "RESULTS.md"

    completed = run_runner(tmp_path, output)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "a person reads this line" in completed.stdout
    results = output.read_text(encoding="utf-8")
    figures, status = table_rows(results, "fake")[:3], table_rows(results, "fake")[3]
    assert figures[0] == ["fake", "fake work", "3 s", "plain script", "2 s", "1.500x", "ratio <= 1.1: **not met**"]
    assert figures[1][5:] == ["0.900x", "ratio >= 0.8: met"]
    assert figures[2][2:] == ["1.5 %", "none", "—", "—", "nodeloom < 2 %: met"]
    assert status[:2] == ["fake", "passed"]
    assert "load before" in results and "commit:" in results and "torch:" in results and "CPU:" in results


def test_a_failing_or_silent_benchmark_is_listed_with_its_last_line(tmp_path):
    write_bench(tmp_path, "broken", FAILING_BENCH)
    write_bench(tmp_path, "silent", "print('done, but no figure')\n")
    write_bench(tmp_path, "other", REPORTING_BENCH)
    output = tmp_path / "RESULTS.md"

    completed = run_runner(tmp_path, output, "--only", "broken", "--only", "silent")

    assert completed.returncode == 1
    results = output.read_text(encoding="utf-8")
    broken = table_rows(results, "broken")
    assert broken[0][1:6] == ["reported before the failure", "1 s", "plain", "4 s", "0.250x"]
    assert broken[1][1] == "failed"
    assert broken[1][-1] == "exit code 1: bench_broken: the data file is missing; run make-data first"
    assert table_rows(results, "silent")[0][1] == "failed"
    assert "reported no figure" in table_rows(results, "silent")[0][-1]
    assert not table_rows(results, "other")  # not chosen by --only


def test_a_benchmark_past_its_timeout_is_stopped_and_listed(tmp_path):
    write_bench(tmp_path, "slow", "import time\nprint('warming up', flush=True)\ntime.sleep(60)\n")
    output = tmp_path / "RESULTS.md"

    completed = run_runner(tmp_path, output, "--timeout", "2")

    assert completed.returncode == 1
    status = table_rows(output.read_text(encoding="utf-8"), "slow")[0]
    assert status[1] == "timed out"
    assert status[-1] == "timed out after 2 s; last output: warming up"


def test_an_unknown_benchmark_name_is_one_line(tmp_path):
    write_bench(tmp_path, "fake", REPORTING_BENCH)

    completed = run_runner(tmp_path, tmp_path / "RESULTS.md", "--only", "nosuch")

    assert completed.returncode == 2
    assert "--only nosuch: no such benchmark; choose from fake" in completed.stderr
    assert "Traceback" not in completed.stderr
