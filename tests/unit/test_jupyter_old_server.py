"""Jupyter servers older than ours (issue 25, kind 7): where the server listens, read from its runtime directory,
and the job's own start (launch.START) run here with bash and python.

jupyter-server before 2.20 started with --port=0 records port 0 in jpserver-PID.json while it listens elsewhere
(../shared/fixtures/reported/jupyter-server-runtime-port-zero.txt; reproduced live with 2.14.2 on the test
cluster). The right value: the real port, or an error that names the version; never a wait for the timeout."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from hpcbridge.jupyter import launch

from ..conftest import shared_fixtures


def reported() -> tuple[str, str]:
    node, info = (shared_fixtures("reported") / "jupyter-server-runtime-port-zero.txt").read_text().split("\n", 1)
    return node.strip(), info.strip()


def state(node: str = "", port: str = "", failed: str = "", info: str = "") -> launch.ServerState:
    """read_state_argv's answer: one line each for the node, START's port and its refusal, then the info file."""
    return launch.parse_state(f"{node}\n{port}\n{failed}\n{info}")


def test_the_reported_runtime_file_reads_the_port_the_job_chose() -> None:
    node, info = reported()
    assert state(node, "41234", "", info) == launch.ServerState(launch.ServerAddress("node07", 41234))


def test_the_reported_runtime_file_alone_is_an_error_naming_the_version_not_port_0() -> None:
    node, info = reported()
    found = state(node, "", "", info)
    assert found.address is None and "jupyter-server 2.14.2 recorded port 0" in found.failure


@pytest.mark.parametrize(("port", "info", "expected"), [
    # 2.19.0 (the last before the fix), with START's port: the server's 0 is not believed
    ("50001", '{"port": 0, "url": "http://gpu1:0/", "version": "2.19.0"}', 50001),
    # a server that records its port (2.20+, or any version given --port=N) is believed over the file
    ("50001", '{"port": 50002, "version": "2.21.1"}', 50002),
    # a persistent server started before the job chose ports: no port file, a recorded port
    ("", '{"port": 8888, "version": "2.21.1"}', 8888),
])
def test_the_port_is_the_servers_word_when_it_is_not_0_else_the_jobs(port: str, info: str, expected: int) -> None:
    assert state("gpu1", port, "", info).address == launch.ServerAddress("gpu1", expected)


@pytest.mark.parametrize("port", ["", "0", "70000", "12ab", "-5"])
def test_no_usable_port_anywhere_is_an_error_with_the_version(port: str) -> None:
    found = state("gpu1", port, "", '{"port": 0, "version": "2.0.0"}')
    assert found.address is None and "jupyter-server 2.0.0" in found.failure


def test_the_jobs_refusal_wins_and_is_read_before_any_info_file() -> None:
    said = "jupyter-server 1.24.0 (/opt/env/bin/python3) cannot serve the kernels of hpcbridge"
    assert state("gpu1", "", said, "") == launch.ServerState(None, said)
    assert state("gpu1", "50001", said, '{"port": 50001}').failure == said


# --- START itself: real bash and python; `jupyter` is a stand-in, because a port taken between START's choice
# and the server's bind is a race no real server can be made to lose on demand ---------------------------------

TAKE_THE_PORT_ONCE = """#!/bin/bash
# first call: another process binds our port (as if it won the race) and the server exits as jupyter-server does
port=${@: -1}; port=${port#--port=}
echo "$port" >>"$CALLS"
if [ "$(wc -l <"$CALLS")" = 1 ]; then
  python3 -c 'import socket, sys, time, pathlib
s = socket.socket(); s.bind(("", int(sys.argv[1]))); s.listen(); pathlib.Path(sys.argv[2]).touch(); time.sleep(5)' \
    "$port" "$CALLS.held" &
  while [ ! -e "$CALLS.held" ]; do sleep 0.05; done
  echo "ERROR: the Jupyter server could not be started because port $port is not available." >&2
  exit 1
fi
exit 0
"""
FAIL_ONCE = '#!/bin/bash\necho "${@: -1}" >>"$CALLS"\necho "ImportError: something else" >&2\nexit 1\n'


def run_start(tmp_path: Path, version: str | None, jupyter: str) -> tuple[int, str, Path]:
    runtime, bin_dir, site = tmp_path / "runtime", tmp_path / "bin", tmp_path / "site"
    for d in (runtime, bin_dir, site):
        d.mkdir()
    if version is not None:
        (site / "jupyter_server").mkdir()
        (site / "jupyter_server" / "__init__.py").write_text(f"__version__ = {version!r}\n")
    (bin_dir / "jupyter").write_text(jupyter)
    (bin_dir / "jupyter").chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONPATH": str(site), "CALLS": str(tmp_path / "calls"),
           "PYTHONNOUSERSITE": "1"}
    done = subprocess.run(["bash", "-c", launch.START, "hpcbridge-jupyter", str(runtime), "--no-browser"],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    return done.returncode, done.stderr, runtime


def test_a_port_taken_before_the_server_binds_it_is_chosen_again(tmp_path: Path) -> None:
    code, stderr, runtime = run_start(tmp_path, "2.14.2", TAKE_THE_PORT_ONCE)
    first, second = (tmp_path / "calls").read_text().split()
    assert code == 0 and "was taken before the server bound it" in stderr, stderr
    assert first != second and (runtime / "port").read_text().strip() == second
    assert not (runtime / "failed").exists()


def test_a_server_that_fails_for_another_reason_is_not_started_again(tmp_path: Path) -> None:
    code, stderr, _ = run_start(tmp_path, "2.14.2", FAIL_ONCE)
    assert code == 1 and len((tmp_path / "calls").read_text().split()) == 1 and "was taken" not in stderr


@pytest.mark.parametrize(("version", "said"), [
    ("1.24.0", "jupyter-server 1.24.0 ("),
    ("0.3.2", "jupyter-server 0.3.2 ("),
    (None, "no jupyter_server in the job environment"),
])
def test_an_environment_without_jupyter_server_2_is_refused_before_the_server_runs(
        tmp_path: Path, version: str | None, said: str) -> None:
    code, stderr, runtime = run_start(tmp_path, version, FAIL_ONCE)
    failed = (runtime / "failed").read_text().strip()
    assert code == 3 and failed.startswith(said) and f"hpcbridge: {failed}" in stderr
    assert not (tmp_path / "calls").exists()  # the server was never started
    assert state("gpu1", "", failed, "").failure == failed  # what hpcbridge then says at once


@pytest.mark.parametrize("version", ["2.0.0", "2.14.2", "2.19.0rc1", "2.21.1", "10.0.0"])
def test_every_jupyter_server_2_or_newer_is_started_on_the_chosen_port(tmp_path: Path, version: str) -> None:
    code, _, runtime = run_start(tmp_path, version, '#!/bin/bash\necho "${@: -1}" >>"$CALLS"\n')
    port = (runtime / "port").read_text().strip()
    assert code == 0 and (tmp_path / "calls").read_text().split() == [f"--port={port}"] and int(port) > 0
