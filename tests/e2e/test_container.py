"""The team server's image (Containerfile): built with podman, then started with the config, the token and an SSH
key mounted, it serves MCP over HTTP against the test cluster, the dashboard, and keeps its history in PostgreSQL.

Skipped, with the reason, when no container tool runs here or no base image is at hand (the registry may be
unreachable: `scripts/container-base.sh` makes a local Debian base with debootstrap). Where the machine forbids
setrlimit (podman/crun and runc both set RLIMIT_NOFILE; some sandboxes refuse it), the image is started with
buildah's chroot isolation instead: the same image, user, environment and mounts, without an OCI runtime."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from sqlalchemy import create_engine, text

from ..conftest import ROOT, postgres_schema

pytestmark = pytest.mark.packaging

DEFAULT_BASE = "docker.io/library/python:3.11-slim"  # the Containerfile's ARG BASE
LOCAL_BASE = "localhost/hpcbridge-base:bookworm"  # scripts/container-base.sh
TAG = "localhost/hpcbridge-test-" + uuid.uuid4().hex[:8]
_LOGS: dict[int, IO[bytes]] = {}


def _sh(argv: list[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=False, capture_output=True, text=True, timeout=timeout)


def _base_image() -> str:
    if shutil.which("podman") is None:
        pytest.skip("no container tool: podman is not installed (apt-get install podman)")
    info = _sh(["podman", "info"], timeout=60)
    if info.returncode != 0:
        pytest.skip(f"podman does not run here: {info.stderr.strip()[-300:]}")
    wanted = os.environ.get("HPCBRIDGE_CONTAINER_BASE")
    for image in ([wanted] if wanted else [DEFAULT_BASE, LOCAL_BASE]):
        if _sh(["podman", "image", "exists", image]).returncode == 0:
            return image
    if not wanted and _sh(["podman", "pull", "-q", DEFAULT_BASE], timeout=120).returncode == 0:
        return DEFAULT_BASE
    pytest.skip(f"no base image: {wanted or DEFAULT_BASE} cannot be pulled and {LOCAL_BASE} is absent "
                "(scripts/container-base.sh makes it)")


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    base = _base_image()
    argv = ["podman", "build", "--isolation=chroot", "-t", TAG, "--build-arg", f"BASE={base}"]
    ca = os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE")
    if ca and Path(ca).is_file():  # this site's HTTPS proxy CA, for pip inside the build
        argv += ["-v", f"{ca}:/etc/pip-ca.crt:ro", "--build-arg", "PIP_CERT=/etc/pip-ca.crt"]
    done = _sh([*argv, "-f", str(ROOT / "Containerfile"), str(ROOT)], timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    try:
        yield TAG
    finally:
        _sh(["podman", "rmi", "-f", TAG])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _running(image: str, mounts: dict[Path, str],
             command: list[str]) -> Iterator[tuple[str, subprocess.Popen[bytes] | None]]:
    """Start the image (podman run, else buildah chroot); yields how it was started (and buildah's process)."""
    name = "hpcb-test-" + uuid.uuid4().hex[:8]
    volumes = [a for host, inside in mounts.items() for a in ("-v", f"{host}:{inside}:ro")]
    run = _sh(["podman", "run", "-d", "--name", name, "--network", "host", *volumes, image, *command])
    if run.returncode == 0:
        try:
            yield "podman run", None
        finally:
            logs = _sh(["podman", "logs", name]).stderr
            _sh(["podman", "rm", "-f", name])
            print(logs[-2000:])  # the server's log, shown when the test fails
        return
    _sh(["podman", "rm", "-f", name])  # created, never started
    if "rlimit" not in run.stderr:
        pytest.fail(f"podman run failed: {run.stderr}")
    assert _sh(["buildah", "from", "--name", name, image]).returncode == 0
    # stderr to a file: an unread pipe fills with the audit log and then blocks the server
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
    proc = subprocess.Popen(["buildah", "run", "--isolation=chroot", "--network", "host", *volumes, name, "--",
                             "hpcbridge", *command], stdout=subprocess.DEVNULL, stderr=log)
    _LOGS[proc.pid] = log
    # a server that exits (a bad config) must fail the test at once, with its log
    try:
        yield "buildah run --isolation=chroot (podman run: setrlimit refused here)", proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        _sh(["buildah", "rm", name])
        log.close()


def _wait_for(url: str, how: str, proc: subprocess.Popen[bytes] | None, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            _LOGS[proc.pid].seek(0)
            log = _LOGS[proc.pid].read().decode(errors="replace")
            pytest.fail(f"the container ({how}) exited {proc.returncode}: {log[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers (401/404 are answers)
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the container ({how}) did not answer on {url}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object) -> None:
        return None


def _front_door(port: int, token: str) -> None:
    """No token, no MCP (401); the dashboard logs in with the token and shows its history page."""
    base = f"http://127.0.0.1:{port}"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(base + "/mcp", method="POST", data=b"{}"), timeout=10)
    assert refused.value.code == 401
    login = urllib.request.Request(base + "/login", data=f"token={token}".encode(), method="POST")
    with pytest.raises(urllib.error.HTTPError) as redirected:
        urllib.request.build_opener(_NoRedirect).open(login, timeout=10)
    assert redirected.value.code == 303
    session = redirected.value.headers["set-cookie"].split(";")[0]
    page = urllib.request.Request(base + "/history", headers={"Cookie": session})
    with urllib.request.urlopen(page, timeout=30) as dashboard:
        assert dashboard.status == 200 and b"<html" in dashboard.read().lower()


async def test_team_server_image(image: str, tc_env: dict[str, str], tmp_path: Path) -> None:
    port = _free_port()
    token = secrets.token_urlsafe(32)
    secrets_dir = tmp_path / "mounts"
    secrets_dir.mkdir()
    files = {"key": Path(tc_env["SLURM_SSH_KEY_PATH"]).read_bytes(),
             "known_hosts": Path(tc_env["SLURM_SSH_KNOWN_HOSTS"]).read_bytes(), "token": token.encode()}
    with postgres_schema() as database_url:
        files["config.toml"] = f"""
[clusters.testcluster]
host = "{tc_env['SLURM_SSH_HOST']}"
port = {tc_env['SLURM_SSH_PORT']}
user = "{tc_env['SLURM_SSH_USER']}"
key_path = "/home/hpcbridge/.ssh/id_ed25519"
known_hosts = "/home/hpcbridge/.ssh/known_hosts"
default = true

[history]
database_url = "{database_url}"
""".encode()
        for name, data in files.items():
            path = secrets_dir / name
            path.write_bytes(data)
            path.chmod(0o600)
            os.chown(path, 1000, 1000)  # the image's user; a mounted key must be readable by it
        mounts = {secrets_dir / "config.toml": "/config/config.toml", secrets_dir / "token": "/run/secrets/hpcbridge-token",
                  secrets_dir / "key": "/home/hpcbridge/.ssh/id_ed25519",
                  secrets_dir / "known_hosts": "/home/hpcbridge/.ssh/known_hosts"}
        # the image's CMD with a free port on the host network (the test cluster's sshd is on loopback)
        command = ["serve", "--transport", "http", "--host", "127.0.0.1", "--port", str(port),
                   "--token-file", "/run/secrets/hpcbridge-token", "--toolsets", "all"]  # search_history too
        with _running(image, mounts, command) as (how, proc):
            _wait_for(f"http://127.0.0.1:{port}/", how, proc)
            transport = StreamableHttpTransport(f"http://127.0.0.1:{port}/mcp",
                                                headers={"Authorization": f"Bearer {token}"})
            async with Client(transport, timeout=120) as client:
                page = (await client.call_tool("list_jobs", {})).structured_content
                assert isinstance(page, dict) and isinstance(page["total"], int), page
                await client.call_tool("search_history", {})
            _front_door(port, token)
        # the history went to PostgreSQL: the schema the container was given holds its tables
        schema = database_url.rsplit("search_path%3D", 1)[1]
        engine = create_engine(os.environ["HPCBRIDGE_TEST_DATABASE_URL"].replace("postgresql://",
                                                                                 "postgresql+psycopg://"))
        with engine.connect() as conn:
            tables = set(conn.execute(text("SELECT table_name FROM information_schema.tables "
                                           "WHERE table_schema = :s"), {"s": schema}).scalars())
        engine.dispose()
        assert {"meta", "jobs", "runs"} <= tables, tables
