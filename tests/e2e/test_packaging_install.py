"""The published package works on its own: `python -m build` makes the sdist and, from it, the wheel; the
wheel alone goes into a fresh venv (its dependencies from PyPI, nothing from this checkout or its .venv), and
that install answers --version, --help, `tools --sizes` and a stdio MCP session against the test cluster."""

from __future__ import annotations

import os
import subprocess
import tarfile
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

import hpcbridge

from ..conftest import ROOT
from .conftest import server_env

pytestmark = pytest.mark.packaging


def _run(argv: list[str], env: dict[str, str] | None = None, timeout: float = 300) -> str:
    done = subprocess.run(argv, check=False, capture_output=True, text=True, env=env, timeout=timeout)
    assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _fresh_venv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    return path / "bin"


def _clean_env() -> dict[str, str]:
    """No PYTHONPATH, no venv of ours, no hpcbridge settings of the developer: the stranger's shell."""
    # a site's own pip and CA settings (proxy, index) are the stranger's too
    env = {k: v for k, v in os.environ.items()
           if k in ("HOME", "LANG", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE")
           or k.startswith("PIP_")}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    return env


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    work = tmp_path_factory.mktemp("dist")
    builder = _fresh_venv(work / "build-venv")
    _run([str(builder / "python"), "-m", "pip", "install", "-q", "build"], env=_clean_env())
    _run([str(builder / "python"), "-m", "build", "--outdir", str(work / "out"), str(ROOT)], env=_clean_env())
    yield work / "out"


def test_sdist_and_wheel_carry_the_license_and_metadata(dist: Path) -> None:
    version = hpcbridge.__version__
    wheel = dist / f"hpcbridge-{version}-py3-none-any.whl"
    sdist = dist / f"hpcbridge-{version}.tar.gz"
    assert wheel.exists() and sdist.exists(), sorted(p.name for p in dist.iterdir())
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        assert f"hpcbridge-{version}.dist-info/licenses/LICENSE" in names
        meta = z.read(f"hpcbridge-{version}.dist-info/METADATA").decode()
    assert "License-Expression: Apache-2.0" in meta and f"Version: {version}" in meta
    assert "Project-URL: Repository, " in meta and "Provides-Extra: postgres" in meta
    assert "Requires-Dist: fastmcp==4.1.4" in meta  # the release fastmcp-tasks (the tasks extra) pins
    assert "Requires-Dist: fastmcp-tasks" in meta.split("Provides-Extra: tasks")[1]  # only in the extra
    assert "Requires-Dist: psycopg" in meta.split("Provides-Extra: postgres")[1]  # only in the extra
    assert "hpcbridge/dashboard/templates/" in "\n".join(names)
    with tarfile.open(sdist) as t:
        assert f"hpcbridge-{version}/LICENSE" in t.getnames()


async def test_the_wheel_alone_in_a_fresh_venv(dist: Path, tc_env: dict[str, str],
                                               tmp_path: Path) -> None:
    version = hpcbridge.__version__
    bin_dir = _fresh_venv(tmp_path / "user-venv")
    _run([str(bin_dir / "python"), "-m", "pip", "install", "-q",
          str(dist / f"hpcbridge-{version}-py3-none-any.whl")], env=_clean_env())
    # it is that venv's hpcbridge, not this checkout's (an editable install would point at src/)
    origin = _run([str(bin_dir / "python"), "-c", "import hpcbridge; print(hpcbridge.__file__)"], env=_clean_env())
    assert str(tmp_path) in origin and str(ROOT / "src") not in origin
    # a plain install has no extras: psycopg (postgres), tensorboard (metrics), fastmcp_tasks (tasks) are not there
    probe = "import importlib.util as u; print([m for m in ('psycopg', 'tensorboard', 'fastmcp_tasks') if u.find_spec(m)])"
    missing = _run([str(bin_dir / "python"), "-c", probe],
                   env=_clean_env())
    assert missing.strip() == "[]"

    exe = str(bin_dir / "hpcbridge")
    assert _run([exe, "--version"], env=_clean_env()).strip() == f"hpcbridge {version}"
    help_text = _run([exe, "--help"], env=_clean_env())
    for command in ("serve", "call", "check", "tools", "cluster"):
        assert command in help_text
    env = server_env(tc_env, HPCBRIDGE_STATE_DIR=str(tmp_path / "state"))
    env.pop("PYTHONPATH", None)
    sizes = _run([exe, "tools", "--sizes"], env=env, timeout=120)
    assert "cluster,jobs,agent" in sizes and "KB tools/list" in sizes

    transport = StdioTransport(command=exe, args=["serve"], env=env, keep_alive=False)
    async with Client(transport, timeout=120) as client:
        names = {t.name for t in await client.list_tools()}
        assert {"list_jobs", "submit_job", "get_cluster_status"} <= names
        result = await client.call_tool("list_jobs", {})
    page = result.structured_content
    assert isinstance(page, dict) and not result.is_error
    assert isinstance(page["total"], int) and isinstance(page["items"], list) and "counts" in page
    assert all(job["job_id"] for job in page["items"])
