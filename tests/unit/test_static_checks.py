"""The static checks are part of the suite: `ruff check src tests bench` and `mypy src` report nothing.

Both run from the repository root as the test extra installs them (pyproject pins their minor: a newer ruff
brings new default rules, a newer mypy new inferences). Their caches live in the temporary directory, keyed
by user and checkout, so the repository is not written to and a second run is warm (mypy: ~15 s cold, ~1 s
warm)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ..conftest import ROOT


def _cache(tool: str) -> Path:
    checkout = hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"hpcbridge-{tool}-cache-{os.getuid()}-{checkout}"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=240,
                          check=False)


def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", "--cache-dir", str(_cache("ruff")), "src", "tests", "bench")
    assert result.returncode == 0, f"ruff check src tests bench:\n{result.stdout}\n{result.stderr}"


def test_mypy_finds_nothing() -> None:
    result = _run("mypy", "--cache-dir", str(_cache("mypy")), "src")
    assert result.returncode == 0, f"mypy src:\n{result.stdout}\n{result.stderr}"
