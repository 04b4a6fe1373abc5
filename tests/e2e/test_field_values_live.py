"""Issue 25, live through the front doors: odd free text and GPU counts come back byte-exact through the MCP
tools (a real MCP client), the dashboard's board and history page (their HTML over HTTP, read as a browser
reads it), the server's history store (get_history_job) and the PBS view of the test cluster's real OpenPBS
23.06. One dashboard server (`hpcbridge serve --transport http`)
serves the module: its /mcp for the tools and / for the board, with two clusters, Slurm and OpenPBS.

What the schedulers take, found live (not assumed):
- Slurm 22.05 sbatch -J/--comment/--chdir take blanks, '=', '|', tabs, newlines, non-ASCII, a trailing blank.
  hpcbridge's submit_job refuses '|', tabs, newlines, quotes and non-ASCII in a name (an #SBATCH line has no
  escapes), so the odd name is submitted by plain sbatch and hpcbridge's own job carries blanks, '=' and a
  trailing blank.
- OpenPBS 23.06 `qsub -N` answers "qsub: illegal -N value" for a blank, '=', '|', a tab, a newline, non-ASCII,
  a trailing blank, and also for , ' " : ; / @ # % $ ! ^ & * ( [ { ~ ? < \\ ; it takes letters, digits (even
  first), '.', '+', '-', '_'. So on PBS the odd text rides in a `-v` value and in the work directory (the cwd
  of qsub: `-d` is Torque's). `-v` takes blanks, '=', '|', tabs and newlines; a bare ',', '"' or "'" is
  refused ("qsub: cannot send environment with the job"), a backslashed ',' is kept as ','; qsub drops a
  value's trailing blank, and PBS_O_WORKDIR loses the work directory's trailing blank (PBS's own record).
- OpenPBS prints every byte whose signed char is < 32 (controls but tab and newline, and every byte of a
  non-ASCII character) as '^' + (byte + 64) (show_nonprint_chars, misc_utils.c), in -F json and the text
  form alike. Found by this module: non-ASCII came back as U+FFFD; now read from the raw bytes
  (backends/pbs/nonprint.py, tests/unit/test_pbs_nonprint.py). Control characters stay as printed (^M).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shlex
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from fastmcp.exceptions import ToolError

from hpcbridge.backends.pbs.parse import variables

from ..conftest import openpbs_env
from .conftest import HTTP_TOKEN, as_cluster_user, call, server_env, start_http_server, stop_and_read_log

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(400)]

FINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "ENDED"}


def odd(tag: str) -> str:
    return f"{tag} lr=0.1|bs=64\tcol\nsecond line é 日本 "  # '=', '|', tab, newline, non-ASCII, trailing blank


@dataclass(frozen=True)
class Server:
    base: str
    mcp_url: str


def _toml(tc: dict[str, str], op: dict[str, str], home: Path) -> Path:
    common = (f'host = "{tc["SLURM_SSH_HOST"]}"\nuser = "{tc["SLURM_SSH_USER"]}"\n'
              f'key_path = "{tc["SLURM_SSH_KEY_PATH"]}"\nknown_hosts = "{tc["SLURM_SSH_KNOWN_HOSTS"]}"\n'
              f'user_root = "{tc["SLURM_USER_ROOT"]}"\n')
    path = home / "config.toml"
    path.write_text('toolsets = ["all"]\n\n'
                    f'[clusters.slurm]\nscheduler = "slurm"\ndefault = true\nport = {tc["SLURM_SSH_PORT"]}\n'
                    f'default_partition = "cpu"\n{common}\n'
                    f'[clusters.openpbs]\nscheduler = "pbs"\nport = {op["OPENPBS_SSH_PORT"]}\n'
                    f'default_partition = "{op["OPENPBS_DEFAULT_QUEUE"]}"\n{common}')
    return path


@pytest.fixture(scope="module")
def server(tc_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("fields")
    env = server_env(tc_env, HPCBRIDGE_HTTP_TOKEN=HTTP_TOKEN, HPCBRIDGE_STATE_DIR=str(home / "state"),
                     HPCBRIDGE_CONFIG=str(_toml(tc_env, openpbs_env(), home)))
    for key in [k for k in env if k.startswith("SLURM_")]:
        del env[key]  # both clusters come from the file
    proc, url = start_http_server(env)
    yield Server(url.removesuffix("/mcp"), url)
    log = stop_and_read_log(proc)
    assert "Traceback" not in log, log[-3000:]


@pytest.fixture(scope="module")
async def mcp(server: Server) -> AsyncIterator[Client]:
    async with Client(StreamableHttpTransport(server.mcp_url, auth=HTTP_TOKEN), timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[httpx.Client]:
    """A logged-in HTTP client of the dashboard, as a browser holds it (the session cookie)."""
    answer = httpx.post(f"{server.base}/login", data={"token": HTTP_TOKEN}, follow_redirects=False, timeout=30)
    assert answer.status_code == 303, answer.text
    name, _, rest = answer.headers["set-cookie"].partition("=")
    with httpx.Client(base_url=server.base, cookies={name: rest.split(";", 1)[0]}, timeout=120) as client:
        yield client


class BoardRows(HTMLParser):
    """The board's job rows as a browser's DOM has them: per (cluster, job id), the textContent of the name
    span and of the GPUs cell (character references resolved, as a browser resolves them); the queue's rows
    in `rows`, the "Ended in the last day" rows (read from the history store) in `finished`."""

    def __init__(self, gpu_cell: int = 4) -> None:
        super().__init__(convert_charrefs=True)
        self.gpu_cell = gpu_cell  # the GPUs column: 4th on the board, 7th on the history page
        self.rows: dict[tuple[str, str], dict[str, str]] = {}
        self.finished: dict[tuple[str, str], dict[str, str]] = {}
        self._in_finished = False
        self.runs: list[str] = []
        self._cluster = ""
        self._row: dict[str, str] | None = None
        self._cells = 0
        self._into: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section" and a.get("data-cluster"):
            self._cluster = a["data-cluster"] or ""
        elif tag == "table":
            self._in_finished = "finished" in (a.get("class") or "").split()
        elif tag == "tr" and a.get("data-job"):
            into = self.finished if self._in_finished else self.rows
            key = (a.get("data-cluster") or self._cluster, a["data-job"] or "")
            self._row = into.setdefault(key, {"name": "", "gpus": ""})
            self._cells = 0
        elif tag == "td" and self._row is not None:
            self._cells += 1
            self._into = "gpus" if self._cells == self.gpu_cell else None
        elif tag == "span" and a.get("class") == "name" and self._row is not None:
            self._into = "name"
        elif tag == "span" and a.get("class") == "run-name":
            self.runs.append("")
            self._into = "run"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("span", "td"):
            self._into = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._into == "run":
            self.runs[-1] += data
        elif self._into and self._row is not None:
            self._row[self._into] += data


async def board_rows(browser: httpx.Client, wanted: set[tuple[str, str]], timeout: float = 90,
                     finished: bool = False) -> BoardRows:
    """The board page (GET /, rendered fresh) once every wanted (cluster, job id) row is on it (in the queue,
    or with `finished` among the ended jobs)."""
    deadline = time.monotonic() + timeout
    while True:
        page = await asyncio.to_thread(browser.get, "/", headers={"Accept": "text/html"})
        assert page.status_code == 200, page.text[:2000]
        rows = BoardRows()
        rows.feed(page.text)
        if wanted <= (rows.finished if finished else rows.rows).keys() or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(2)


async def history_rows(browser: httpx.Client, cluster: str, text: str, job_id: str,
                       timeout: float = 90) -> dict[str, str]:
    """The dashboard's history page (the server's history store) searched for `text`: the job's row."""
    deadline = time.monotonic() + timeout
    while True:
        page = await asyncio.to_thread(browser.get, "/history", params={"cluster": cluster, "text": text},
                                       headers={"Accept": "text/html"})
        assert page.status_code == 200, page.text[:2000]
        rows = BoardRows(gpu_cell=7)
        rows.feed(page.text)
        if (cluster, job_id) in rows.rows or time.monotonic() > deadline:
            assert (cluster, job_id) in rows.rows, f"{job_id} not on /history?text={text}: {list(rows.rows)[:20]}"
            return rows.rows[(cluster, job_id)]
        await asyncio.sleep(2)


def as_openpbs_user(op: dict[str, str], script: str, *args: str) -> str:
    """A fixed script as alice on the OpenPBS login node (values as positional args, never spliced)."""
    argv = ["ssh", "-p", op["OPENPBS_SSH_PORT"], "-i", op["OPENPBS_SSH_KEY_PATH"], "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={op['OPENPBS_SSH_KNOWN_HOSTS']}",
            f"{op['OPENPBS_SSH_USER']}@{op['OPENPBS_SSH_HOST']}", shlex.join(["sh", "-c", script, "prepare", *args])]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def in_list(mcp: Client, job_id: str, cluster: str, timeout: float = 60) -> dict[str, Any]:
    """The job's list_jobs row (listings are cached for the cluster's cache_ttl: asked again until it shows)."""
    deadline = time.monotonic() + timeout
    while True:
        listed = await call(mcp, "list_jobs", user="me", state="all", limit=500, cluster=cluster)
        rows = {r["job_id"]: r for r in listed["items"]}
        if job_id in rows or time.monotonic() > deadline:
            assert job_id in rows, f"{job_id} missing from list_jobs on {cluster}: {sorted(rows)[:30]}"
            return rows[job_id]
        await asyncio.sleep(1)


def gpu_count(job: dict[str, Any]) -> int:
    """GPUs of a job: list_jobs rows carry them as text ("2", "a100:2", "a100:1,t4:1"), details as objects."""
    gpus = job["gpus"]
    if isinstance(gpus, str):
        return sum(int(part.rsplit(":", 1)[-1]) for part in gpus.split(",") if part)
    return sum(int(g["count"]) for g in gpus)


async def history_record(mcp: Client, job_id: str, timeout: float = 120, cluster: str = "slurm") -> dict[str, Any]:
    """get_job_history's record once the job is final in accounting (sacct; qstat -x on OpenPBS)."""
    deadline = time.monotonic() + timeout
    while True:
        items = (await call(mcp, "get_job_history", job_id=job_id, cluster=cluster))["items"]
        found = [r for r in items if r["job_id"] == job_id and r["state"] in FINAL]
        if found or time.monotonic() > deadline:
            assert found, f"{job_id} not final in get_job_history: {items}"
            return found[0]
        await asyncio.sleep(2)


async def stored(mcp: Client, job_id: str, cluster: str, ready: Any, timeout: float = 120) -> dict[str, Any]:
    """get_history_job (the server's history store, written by its queue watchers) once `ready(facts)`."""
    deadline = time.monotonic() + timeout
    facts: dict[str, Any] = {}
    while True:
        try:
            facts = await call(mcp, "get_history_job", job_id=job_id, cluster=cluster)
        except ToolError:
            facts = {}  # not recorded yet
        if (facts and ready(facts)) or time.monotonic() > deadline:
            assert facts and ready(facts), f"{job_id} on {cluster} in the history store: {facts}"
            return facts
        await asyncio.sleep(2)


# --- Slurm ------------------------------------------------------------------------------------------


async def test_slurm_odd_names_by_plain_sbatch_through_the_tools_and_the_board(
        mcp: Client, browser: httpx.Client, tc_env: dict[str, str]) -> None:
    tag = f"h25e-{secrets.token_hex(3)}"
    name, comment = odd(tag), "note: a=b | c\td\ne ü "
    home = as_cluster_user(tc_env, 'printf %s "$HOME"')
    work_dir = f"{home}/{tag} wd=1|x\ty\nz ß "
    # held, so it waits on the board until released; then it runs and reaches accounting
    job_id = as_cluster_user(tc_env, 'mkdir -p -- "$3" && sbatch --parsable -H -p cpu -J "$1" --comment "$2" '
                             '--chdir "$3" -o /dev/null --wrap "sleep 2"', name, comment, work_dir).strip()
    try:
        listed = await in_list(mcp, job_id, "slurm")
        assert listed["name"] == name
        details = await call(mcp, "get_job_details", job_id=job_id)
        assert (details["job"]["name"], details["work_dir"], details["comment"]) == (name, work_dir, comment)

        rows = await board_rows(browser, {("slurm", job_id)})
        assert rows.rows[("slurm", job_id)]["name"] == name, rows.rows.get(("slurm", job_id))
        assert name in rows.runs  # the run is named by the job's name

        as_cluster_user(tc_env, 'scontrol release "$1"', job_id)
        record = await history_record(mcp, job_id)
        assert (record["name"], record["work_dir"]) == (name, work_dir)
        ended = await board_rows(browser, {("slurm", job_id)}, finished=True)  # the server's history store
        assert ended.finished[("slurm", job_id)]["name"] == name, ended.finished.get(("slurm", job_id))
        facts = await stored(mcp, job_id, "slurm", lambda f: bool(f["work_dir"]))
        assert (facts["job"]["name"], facts["work_dir"]) == (name, work_dir)
        assert (await history_rows(browser, "slurm", "second line", job_id))["name"] == name
    finally:
        as_cluster_user(tc_env, 'scancel "$1"; rm -rf -- "$2"', job_id, work_dir)


async def test_slurm_gpus_flag_through_the_tools_and_the_board(mcp: Client, browser: httpx.Client,
                                                               tc_env: dict[str, str]) -> None:
    tag = f"h25f-{secrets.token_hex(3)}"
    name = f"{tag} train lr=0.1 bs=64 "  # submit_job's name rules: blanks and '=' pass (non-ASCII is refused)
    # the tool's own `gpus` is per node (--gres); --gpus (the whole job's) comes from the script's directive
    submitted = await call(mcp, "submit_job", script_content="#!/bin/bash\n#SBATCH --gpus=2\nsleep 2",
                           job_name=name, partition="gpu", hold=True, output_file="/dev/null")
    job_id = submitted["job_id"]
    assert "#SBATCH --gpus=2" in submitted["script"] and "--gres" not in submitted["script"], submitted["script"]
    try:
        listed = await in_list(mcp, job_id, "slurm")
        assert (listed["name"], gpu_count(listed)) == (name, 2), listed
        details = await call(mcp, "get_job_details", job_id=job_id)
        assert (details["job"]["name"], gpu_count(details["job"])) == (name, 2), details["job"]

        rows = await board_rows(browser, {("slurm", job_id)})
        row = rows.rows[("slurm", job_id)]
        assert row["name"] == name and re.fullmatch(r"2(x\w+)?", row["gpus"].strip()), row
        facts = await stored(mcp, job_id, "slurm", lambda f: f["job"]["gpus"] > 0)
        assert (facts["job"]["name"], facts["job"]["gpus"]) == (name, 2), facts["job"]
        shown = await history_rows(browser, "slurm", "train", job_id)
        assert (shown["name"], shown["gpus"].strip()) == (name, "2"), shown

        await call(mcp, "release_job", job_id=job_id)
        record = await history_record(mcp, job_id)
        assert record["name"] == name and "gres/gpu=2" in record["alloc_tres"], record
        gone = await call(mcp, "get_job_details", job_id=job_id)
        assert gpu_count(gone["job"]) == 2, gone["job"]
    finally:
        as_cluster_user(tc_env, 'scancel "$1"', job_id)  # a no-op once it ended


# --- OpenPBS ----------------------------------------------------------------------------------------


def _pbs_submit(op: dict[str, str], work_dir: str, *qsub_args: str) -> str:
    """Plain qsub as alice from work_dir (OpenPBS's work directory is qsub's cwd), held so it stays queued."""
    return as_openpbs_user(op, 'mkdir -p -- "$1" && cd -- "$1" && shift && qsub -h "$@" -- /bin/sleep 60',
                           work_dir, *qsub_args).strip()


async def test_openpbs_odd_values_and_work_dir_by_plain_qsub(mcp: Client, browser: httpx.Client) -> None:
    op = openpbs_env()
    tag = secrets.token_hex(3)
    name = f"9h25.{tag}+a-b_c"  # all qsub -N takes beyond letters: a digit first, '.', '+', '-', '_'
    home = as_openpbs_user(op, 'printf %s "$HOME"')
    work_dir = f"{home}/h25-{tag} wd=1|x\ty\nz é 日本 — end"  # '—' is printed with a bare '"' in it
    value = "lr=0.1 |bs=64\tcol\nnext,line ü€😀"  # sent with its ',' backslashed, as qsub -v wants it
    job_id = _pbs_submit(op, work_dir, "-N", name, "-q", op["OPENPBS_DEFAULT_QUEUE"],
                         "-v", f"H25V={value.replace(',', chr(92) + ',')}")
    try:
        listed = await in_list(mcp, job_id, "openpbs")
        assert listed["name"] == name
        details = await call(mcp, "get_job_details", job_id=job_id, cluster="openpbs")
        assert (details["job"]["name"], details["work_dir"]) == (name, work_dir), details
        assert variables(details["raw"]["Variable_List"])["H25V"] == value, details["raw"]["Variable_List"]
        rows = await board_rows(browser, {("openpbs", job_id)})
        assert rows.rows[("openpbs", job_id)]["name"] == name
        facts = await stored(mcp, job_id, "openpbs", lambda f: bool(f["work_dir"]))
        assert (facts["job"]["name"], facts["work_dir"]) == (name, work_dir), facts

        as_openpbs_user(op, 'qdel "$1"', job_id)  # then it is OpenPBS's history (job_history_enable)
        record = await history_record(mcp, job_id, cluster="openpbs")
        assert (record["name"], record["work_dir"]) == (name, work_dir), record
    finally:
        as_openpbs_user(op, 'qdel "$1" 2>/dev/null; rm -rf -- "$2"', job_id, work_dir)


async def test_openpbs_select_ngpus_shows_two_gpus(mcp: Client, browser: httpx.Client) -> None:
    op = openpbs_env()
    tag = secrets.token_hex(3)
    job_id = _pbs_submit(op, f"/tmp/h25g-{tag}", "-N", f"h25g.{tag}", "-q", op["OPENPBS_GPU_QUEUE"],
                         "-l", "select=1:ngpus=2")
    try:
        assert gpu_count(await in_list(mcp, job_id, "openpbs")) == 2
        details = await call(mcp, "get_job_details", job_id=job_id, cluster="openpbs")
        assert gpu_count(details["job"]) == 2, details["job"]
        rows = await board_rows(browser, {("openpbs", job_id)})
        assert rows.rows[("openpbs", job_id)]["gpus"].strip() == "2", rows.rows[("openpbs", job_id)]
        assert (await stored(mcp, job_id, "openpbs", lambda f: f["job"]["gpus"] > 0))["job"]["gpus"] == 2
    finally:
        as_openpbs_user(op, 'qdel "$1"; rm -rf -- "$2"', job_id, f"/tmp/h25g-{tag}")


def _pbsnodes_gpus(op: dict[str, str]) -> tuple[int, int]:
    """(available, assigned) ngpus over the vnodes of OpenPBS's own `pbsnodes -a -F json`."""
    import json

    nodes = json.loads(as_openpbs_user(op, "pbsnodes -a -F json"))["nodes"].values()
    return (sum(int(n.get("resources_available", {}).get("ngpus", 0)) for n in nodes),
            sum(int(n.get("resources_assigned", {}).get("ngpus", 0)) for n in nodes))


async def test_openpbs_compute_page_counts_ngpus(mcp: Client, browser: httpx.Client) -> None:
    """The compute page's GPU pools of a PBS cluster come from the custom `ngpus` resource, allocated included,
    and equal what pbsnodes says while a 2-GPU job runs."""
    op = openpbs_env()
    job_id = as_openpbs_user(op, 'qsub -N "h26c.$1" -q "$2" -l select=1:ngpus=2 -l walltime=00:05:00 -- /bin/sleep 300',
                             secrets.token_hex(3), op["OPENPBS_GPU_QUEUE"]).strip()
    try:
        await call(mcp, "wait_for_job", job_id=job_id, until="running", timeout=90, cluster="openpbs")
        page = browser.get("/compute").text
        section = page.split('<section class="cluster" data-cluster="openpbs">', 1)[1].split("</section>", 1)[0]
        cells = re.findall(r'<tr data-partition="([^"]*)" data-type="[^"]*">.*?class="total">(\d+)<.*?'
                           r'class="allocated">(\d+)<', section)
        total = sum(int(t) for _, t, _ in cells)
        allocated = sum(int(a) for _, _, a in cells)
        available, assigned = _pbsnodes_gpus(op)
        assert {p for p, _, _ in cells} == {op["OPENPBS_GPU_QUEUE"]}, cells
        assert (total, allocated) == (available, assigned) and allocated >= 2, (cells, available, assigned)
    finally:
        as_openpbs_user(op, 'qdel "$1"', job_id)
