"""Logs through a real MCP client (issue 27): a 50 MB log on the test cluster paged to its end by offsets (the
joined pages are the file, byte for byte), searched (line numbers and offsets of the whole file), followed
while it grows, a JSONL file read by index with fields, a job's log files; the same on OpenPBS 23.06."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shlex
import subprocess
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from ..conftest import openpbs_env
from .conftest import (
    as_cluster_user,
    call,
    slurm_and_openpbs_toml,
    stdio_server,
    wait_final,
)

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]

RUN = f"watchlogs-{os.getpid()}"
DIR = f"/lustre/users/alice/{RUN}"
LINES = 700_000  # ~50 MB: "line N step=N loss=... é\n" (the é: bytes must survive as they are)
# Every 50,000th line is an ERROR line; the generator is one fixed script, the numbers positional.
_MAKE = r'''mkdir -p "$1" && awk -v n="$2" 'BEGIN { for (i = 1; i <= n; i++) {
  if (i % 50000 == 0) printf "ERROR at line %d: CUDA out of memory\n", i
  else printf "line %d step=%d loss=%.6f padding-padding-padding-padding é\n", i, i, 1 / i } }' > "$1/big.log"
sha256sum "$1/big.log"'''


@pytest.fixture(scope="module")
async def mcp(tc_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    config = slurm_and_openpbs_toml(tc_env, openpbs_env(), default="slurm")
    async with stdio_server(tmp_path_factory.mktemp("watchlogs"), config, "cluster,jobs,watch") as client:
        yield client
    as_cluster_user(tc_env, 'rm -rf -- "$1"', DIR)


@pytest.fixture(scope="module")
def big_log(tc_env: dict[str, str]) -> tuple[str, str]:
    """(path, sha256) of the 50 MB log, written on the cluster."""
    digest = as_cluster_user(tc_env, _MAKE, DIR, str(LINES)).split()[0]
    return f"{DIR}/big.log", digest


async def error_of(client: Client, tool: str, **arguments: Any) -> str:
    with pytest.raises(ToolError) as err:
        await client.call_tool(tool, arguments)
    return str(err.value)


async def test_a_50mb_log_paged_to_its_end_by_offsets_is_the_file(mcp: Client, big_log: tuple[str, str]) -> None:
    path, digest = big_log
    joined, offset, pages, size = hashlib.sha256(), 0, 0, None
    total = 0
    while True:
        page = await call(mcp, "read_log", path=path, offset=offset, max_bytes=1024 * 1024)
        data = page["text"].encode()
        assert page["offset"] == offset and page["next_offset"] == offset + len(data) == offset + page[
            "returned_bytes"]
        assert data.endswith(b"\n"), "a page ends at a line end"
        joined.update(data)
        total += len(data)
        offset, size, pages = page["next_offset"], page["size"], pages + 1
        if page["eof"]:
            break
    assert joined.hexdigest() == digest and total == size > 50_000_000
    assert pages == -(-size // (1024 * 1024)) or pages == -(-size // (1024 * 1024)) + 1  # pages are nearly full


async def test_pages_from_the_end_and_by_line(mcp: Client, big_log: tuple[str, str]) -> None:
    path, _ = big_log
    last = await call(mcp, "read_log", path=path, offset=-200)
    assert last["eof"] and last["next_offset"] == last["size"]
    assert last["text"].splitlines()[-2:] == ["line 699999 step=699999 loss=0.000001 padding-padding-padding-padding é",
                                              "ERROR at line 700000: CUDA out of memory"]
    assert last["offset"] > last["size"] - 200, "a page from the end starts at the first whole line"
    exact = "ERROR at line 700000: CUDA out of memory\n"
    just = await call(mcp, "read_log", path=path, offset=-len(exact))  # already a line's start: kept whole
    assert just["text"] == exact and just["offset"] == just["size"] - len(exact)
    by_line = await call(mcp, "read_log", path=path, line=123_456, max_bytes=4096)
    assert by_line["text"].startswith("line 123456 step=123456 ") and "scanning" in by_line["note"]
    again = await call(mcp, "read_log", path=path, offset=by_line["offset"], max_bytes=4096)
    assert again["text"] == by_line["text"]  # a line's offset, then paging by bytes from it


async def test_search_gives_line_numbers_and_offsets_of_the_whole_file(mcp: Client, big_log: tuple[str, str]) -> None:
    path, _ = big_log
    found = await call(mcp, "search_log", path=path, pattern="ERROR at line [0-9]+: CUDA", context=1)
    matches = [h for h in found["hits"] if h["match"]]
    assert [h["line"] for h in matches] == list(range(50_000, LINES + 1, 50_000)) and not found["cut"]
    assert all(h["text"] == f"ERROR at line {h['line']}: CUDA out of memory" for h in matches)
    context = [h for h in found["hits"] if not h["match"]]
    assert context[0]["line"] == 49_999 and context[0]["text"].startswith("line 49999 step=49999 ")
    at = await call(mcp, "read_log", path=path, offset=matches[2]["offset"], max_bytes=200)
    assert at["text"].startswith("ERROR at line 150000: CUDA out of memory\n")
    # capped by max_matches: the answer says so and where to go on; from there the line numbers stay right
    first = await call(mcp, "search_log", path=path, pattern="out of memory", fixed=True, max_matches=3)
    assert first["cut"] and [h["line"] for h in first["hits"]] == [50_000, 100_000, 150_000]
    go_on = int(first["note"].split("search on with offset=")[1].split(";")[0])
    rest = await call(mcp, "search_log", path=path, pattern="OUT OF MEMORY", fixed=True, ignore_case=True,
                      offset=go_on, max_matches=100)
    assert [h["line"] for h in rest["hits"]] == list(range(200_000, LINES + 1, 50_000)) and not rest["cut"]


async def test_follow_returns_what_is_new_and_waits_for_growth(mcp: Client, tc_env: dict[str, str]) -> None:
    path = f"{DIR}/grow.log"
    as_cluster_user(tc_env, 'mkdir -p "$1" && printf "first\\n" > "$2"', DIR, path)
    one = await call(mcp, "read_log", path=path, offset=0, follow=True)
    assert one["text"] == "first\n"
    as_cluster_user(tc_env, 'printf "second\\nunfin" >> "$1"', path)
    two = await call(mcp, "read_log", path=path, offset=one["next_offset"], follow=True)
    assert two["text"] == "second\n" and not two["eof"], "an unfinished line is held back"
    as_cluster_user(tc_env, 'printf "ished\\n" >> "$1"', path)
    three = await call(mcp, "read_log", path=path, offset=two["next_offset"], follow=True)
    assert three["text"] == "unfinished\n" and three["eof"]

    def append_later() -> None:  # while the call below waits on the cluster for the file to grow
        time.sleep(3)
        as_cluster_user(tc_env, 'printf "grown\\n" >> "$1"', path)

    waited, _ = await asyncio.gather(
        call(mcp, "read_log", path=path, offset=three["next_offset"], follow=True, wait=30),
        asyncio.to_thread(append_later))
    assert waited["text"] == "grown\n" and waited["offset"] == three["next_offset"]
    nothing = await call(mcp, "read_log", path=path, offset=waited["next_offset"], follow=True, wait=1)
    assert nothing["text"] == "" and nothing["eof"]


async def test_jsonl_records_by_index_with_fields(mcp: Client, tc_env: dict[str, str]) -> None:
    path = f"{DIR}/metrics.jsonl"
    script = r'''mkdir -p "$1" && awk 'BEGIN { for (i = 0; i < 1000; i++) {
      if (i == 505) print "{not json"; else printf "{\"step\": %d, \"m\": {\"loss\": %d}, \"tag\": \"t%d\"}\n", i, 1000 - i, i } }' > "$2"'''
    as_cluster_user(tc_env, script, DIR, path)
    got = await call(mcp, "read_log_records", path=path, start=500, count=10, fields=["step", "m.loss"])
    assert [r["step"] for r in got["records"]] == [500, 501, 502, 503, 504, 506, 507, 508, 509]
    assert got["records"][0] == {"_line": 501, "step": 500, "m.loss": 500}
    assert [b["line"] for b in got["bad"]] == [506] and got["next_start"] == 510
    end = await call(mcp, "read_log_records", path=path, start=995, count=10)
    assert len(end["records"]) == 5 and end["next_start"] is None and end["records"][-1]["tag"] == "t999"


async def test_a_jobs_log_files_and_its_stdout_by_job_id(mcp: Client, tc_env: dict[str, str]) -> None:
    work = f"{DIR}/job"
    script = (f"#!/bin/bash\n#SBATCH --job-name={RUN}\n#SBATCH --output={work}/train-%j.out\n"
              f"mkdir -p {work}/logs; echo '{{\"step\": 1}}' > {work}/logs/metrics.jsonl\n"
              f"echo not-a-log > {work}/notes.md\nfor i in 1 2 3; do echo epoch $i/3; done\n")
    as_cluster_user(tc_env, 'mkdir -p "$1"', work)  # Slurm does not create the --output directory
    submitted = await call(mcp, "submit_job", script_content=script, partition="cpu", time_limit="00:02:00",
                           working_directory=work)
    job_id = submitted["job_id"]
    await wait_final(mcp, job_id)
    listed = await call(mcp, "list_log_files", job_id=job_id)  # its work dir from the job's details
    paths = {f["path"]: f["source"] for f in listed["files"]}
    assert paths.get(f"{work}/train-{job_id}.out") == "stdout"
    assert f"{work}/logs/metrics.jsonl" in paths and f"{work}/notes.md" not in paths
    out = await call(mcp, "read_log", job_id=job_id)
    assert out["text"] == "epoch 1/3\nepoch 2/3\nepoch 3/3\n" and out["eof"]


async def test_bad_input_names_the_parameter(mcp: Client, big_log: tuple[str, str], tc_env: dict[str, str]) -> None:
    path, _ = big_log
    fifo = f"{DIR}/pipe.log"  # would block grep and sed until their timeouts: refused at once
    as_cluster_user(tc_env, 'rm -f "$1" && mkfifo "$1"', fifo)
    for tool, extra in (("search_log", {"pattern": "x"}), ("read_log_records", {}), ("read_log", {})):
        refused = await error_of(mcp, tool, path=fifo, **extra)
        assert "invalid path" in refused and "fifo" in refused, (tool, refused)
    assert "invalid line" in await error_of(mcp, "read_log", path=path, offset=0, line=3)
    assert "invalid pattern" in await error_of(mcp, "search_log", path=path, pattern="a(")
    assert "invalid path" in await error_of(mcp, "read_log", path=DIR)
    assert "invalid fields" in await error_of(mcp, "read_log_records", path=path, fields=["a..b"])
    outside = await error_of(mcp, "read_log", path="/etc/passwd")
    assert "/etc/passwd" in outside


def _pbs_shell(op: dict[str, str], script: str, *args: str) -> str:
    ssh = ["ssh", "-i", op["OPENPBS_SSH_KEY_PATH"], "-o", f"UserKnownHostsFile={op['OPENPBS_SSH_KNOWN_HOSTS']}",
           "-o", "BatchMode=yes", "-p", op["OPENPBS_SSH_PORT"], f"{op['OPENPBS_SSH_USER']}@{op['OPENPBS_SSH_HOST']}"]
    return subprocess.run([*ssh, shlex.join(["sh", "-c", script, "x", *args])], capture_output=True, text=True,
                          timeout=120, check=True).stdout


async def test_the_same_on_openpbs(mcp: Client) -> None:
    op = openpbs_env()
    path = f"{DIR}-pbs/pbs.log"
    _pbs_shell(op, 'mkdir -p "$(dirname "$1")" && seq 1 200000 | sed "s/^/row /" > "$1"', path)
    try:
        page = await call(mcp, "read_log", path=path, offset=0, max_bytes=100_000, cluster="pbs")
        assert page["text"].splitlines()[0] == "row 1" and page["text"].endswith("\n") and not page["eof"]
        found = await call(mcp, "search_log", path=path, pattern="^row 1234[0-9]$", cluster="pbs")
        assert [h["line"] for h in found["hits"]] == list(range(12340, 12350))
        tail = await call(mcp, "read_log", path=path, offset=-100, cluster="pbs")
        assert tail["eof"] and tail["text"].endswith("row 200000\n")
        # a PBS job's stdout by its id (Output_Path; OpenPBS copies it there when the job ends)
        job = (await call(mcp, "submit_job", script_content="#!/bin/bash\nfor i in 1 2 3; do echo pbs-line $i; done\n",
                          job_name=RUN, time_limit="5", output_file=f"{DIR}-pbs/job.out", cluster="pbs"))["job_id"]
        for _ in range(120):
            details = await call(mcp, "get_job_details", job_id=job, cluster="pbs")
            if details["job"]["state"] not in ("PENDING", "RUNNING", "HELD", "UNKNOWN"):
                break
            await asyncio.sleep(1)
        assert details["job"]["state"] == "COMPLETED", details["job"]
        out = await call(mcp, "read_log", job_id=job, cluster="pbs")
        assert out["text"] == "pbs-line 1\npbs-line 2\npbs-line 3\n" and out["path"] == f"{DIR}-pbs/job.out"
    finally:
        _pbs_shell(op, 'rm -rf -- "$(dirname "$1")"', path)


async def test_the_same_over_the_openssh_transport(mcp_openssh: Client, tc_env: dict[str, str]) -> None:
    """OpenSSH ControlMaster (the two-factor sshd): pages are stdout bytes there too, joined they are the file."""
    path = f"{DIR}-openssh/o.log"
    digest = as_cluster_user(tc_env, 'mkdir -p "$(dirname "$1")" && seq 1 300000 | sed "s/$/ ü/" > "$1" && '
                             'sha256sum "$1"', path).split()[0]
    try:
        joined, offset = hashlib.sha256(), 0
        while True:
            page = await call(mcp_openssh, "read_log", path=path, offset=offset, max_bytes=256 * 1024)
            joined.update(page["text"].encode())
            offset = page["next_offset"]
            if page["eof"]:
                break
        assert joined.hexdigest() == digest
        found = await call(mcp_openssh, "search_log", path=path, pattern="^29999[0-9] ü$")
        assert [h["line"] for h in found["hits"]] == list(range(299990, 300000))
    finally:
        as_cluster_user(tc_env, 'rm -rf -- "$(dirname "$1")"', path)
