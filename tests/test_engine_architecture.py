"""The engine stays free of UI imports (import-linter contracts in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess

from tests.conftest import REPO


def test_import_contracts_hold():
    lint = shutil.which("lint-imports")
    assert lint, "import-linter is part of the test extras"
    completed = subprocess.run([lint], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Contracts: 2 kept, 0 broken" in completed.stdout
