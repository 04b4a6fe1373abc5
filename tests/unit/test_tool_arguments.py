"""Arguments a tool cannot take are refused in one sentence that names the parameter and the valid form
(server/arguments.py), not with pydantic's multi-line report: through a real MCP client (in memory: the
arguments are refused before anything reaches a cluster, so none is needed), and through `hpcbridge call`."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from hpcbridge.config import load_settings
from hpcbridge.server.app import create_app
from hpcbridge.server.arguments import form_of


async def refused(tool: str, arguments: dict[str, Any]) -> str:
    settings = load_settings({"SLURM_SSH_HOST": "unused.invalid", "HPCBRIDGE_CONFIG": ""})
    async with Client(create_app(settings)) as client:
        with pytest.raises(ToolError) as caught:
            await client.call_tool(tool, arguments)
    text = str(caught.value)
    assert "\n" not in text and "pydantic" not in text and "[type=" not in text, text
    return text


async def test_a_value_of_the_wrong_type_names_the_parameter_and_the_form() -> None:
    text = await refused("list_jobs", {"limit": "abc"})
    assert text.startswith("invalid limit: 'abc': input should be a valid integer"), text
    assert text.endswith("expected an integer from 1 to 500"), text


async def test_a_value_out_of_range_names_the_range() -> None:
    text = await refused("submit_job", {"script_content": "true", "gpus": 0})
    assert text.startswith("invalid gpus: 0: ") and text.endswith("expected an integer >= 1"), text


async def test_a_parameter_the_tool_does_not_have_lists_those_it_has() -> None:
    text = await refused("cancel_job", {"job_id": 1, "confirm": True})
    assert text == "cancel_job has no parameter 'confirm'; its parameters: job_id, signal, force, cluster", text


async def test_a_misspelt_parameter_is_named_first_with_the_closest_one() -> None:
    text = await refused("get_job_details", {"jobid": 1})
    assert text.startswith("get_job_details has no parameter 'jobid' (did you mean 'job_id'?)"), text
    assert "invalid job_id: it is required; expected text or an integer (Job id, e.g. '1234'" in text, text


def test_forms_in_words() -> None:
    assert form_of({"enum": ["a", "b"]}) == "one of a, b"
    assert form_of({"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]}) == "an integer >= 1"
    assert form_of({"type": "array", "items": {"type": "string"}}) == "a list of text"
    assert form_of({"type": "number", "exclusiveMinimum": 0}) == "a number > 0"
    assert form_of({"type": "boolean"}) == "true or false"


def tools_command(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "HPCBRIDGE_"))}
    env.update({"HPCBRIDGE_CONFIG": "", "HOME": str(tmp_path), "HPCBRIDGE_STATE_DIR": str(tmp_path / "state")})
    hpcbridge = Path(sys.executable).parent / "hpcbridge"
    return subprocess.run([str(hpcbridge), "tools", *arguments], env=env, capture_output=True, text=True,
                          check=False, timeout=120)


def test_hpcbridge_tools_says_these_are_the_default_toolsets_only(tmp_path: Path) -> None:
    done = tools_command(tmp_path)
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 19, done.stdout
    assert done.stderr.strip().startswith("19 tools of the toolsets cluster, jobs, agent (what `hpcbridge serve` "
                                          "offers); `HPCBRIDGE_TOOLSETS=all hpcbridge tools` lists every one"), done.stderr


def test_hpcbridge_tools_name_shows_what_call_takes(tmp_path: Path) -> None:
    """A newcomer's `hpcbridge call submit_job --help` is argparse's; `hpcbridge tools NAME` is the answer (any
    toolset, as call; no cluster needed)."""
    done = tools_command(tmp_path, "cancel_job", "read_file")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("cancel_job: Cancel") and "parameters (hpcbridge call cancel_job key=value ...):" in lines
    assert "  job_id  (text or an integer; required): Job id, e.g. '1234'" in done.stdout
    assert "  force  (true or false; default false): PBS only" in done.stdout
    assert any(line.startswith("read_file: ") for line in lines)  # the files toolset, not a default one


async def test_the_server_log_says_what_was_refused_and_not_as_a_server_error(
        caplog: pytest.LogCaptureFixture) -> None:
    """fastmcp logged a refused call as "ERROR ... Error calling tool 'get_job_details'" with no reason: in an
    MCP client's server log that reads as a fault of the server. The reason at INFO is what a person needs."""
    caplog.set_level(logging.DEBUG)
    await refused("get_job_details", {"job_id": "abc"})
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert any(r.name == "hpcbridge.server" and r.levelno == logging.INFO
               and r.getMessage().startswith("get_job_details: invalid job_id: 'abc' is not a job id")
               for r in caplog.records), caplog.text
