"""The README tells the truth: its tool list and configuration reference match the code."""

from __future__ import annotations

import re

from fastmcp import Client

from hpcbridge.config import (
    ClusterConfig,
    HistoryConfig,
    HttpConfig,
    PbsEnv,
    Policy,
    ServerEnv,
    SlurmEnv,
    load_settings,
)
from hpcbridge.server.app import create_app

from ..conftest import ROOT

README = (ROOT / "README.md").read_text()


def _section(title: str) -> str:
    start = README.index(f"## {title}")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


async def test_tool_table_matches_the_server() -> None:
    from hpcbridge.server.surface import with_every_kind

    app = create_app(with_every_kind(load_settings({"SLURM_SSH_HOST": "unused.invalid", "HPCBRIDGE_CONFIG": "",
                                                    "HPCBRIDGE_TOOLSETS": "all",
                                                    "SLURM_ALLOW_SHELL": "true"})))  # else no run_shell_command
    async with Client(app) as client:
        served = {t.name for t in await client.list_tools()}
    table = _section("Tools").split("| tool | what it does |", 1)[1]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", table, re.MULTILINE))
    # the watch toolset's tools are in the tables of "Watching a run", one per subsection
    documented |= set(re.findall(r"^\| `([a-z_]+)` \|", _section("Watching a run"), re.MULTILINE))
    assert documented == served, f"missing from README: {served - documented}; not served: {documented - served}"


def test_every_environment_variable_is_documented() -> None:
    env_table = _section("Configuration")
    documented = set(re.findall(r"^\| `((?:SLURM|HPCBRIDGE|PBS)_[A-Z_]+)` \|", env_table, re.MULTILINE))
    in_code = {f"SLURM_{n.upper()}" for n in SlurmEnv.model_fields} | {
        f"HPCBRIDGE_{n.upper()}" for n in ServerEnv.model_fields} | {f"PBS_{n.upper()}" for n in PbsEnv.model_fields}
    assert documented == in_code, f"undocumented: {in_code - documented}; stale: {documented - in_code}"


def test_every_toml_key_is_documented() -> None:
    table = _section("Configuration")
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", table, re.MULTILINE))
    keys = set(ClusterConfig.model_fields) - {"name"}
    assert keys <= documented, f"undocumented cluster keys: {keys - documented}"
    for key in Policy.model_fields:
        assert f"`{key}`" in table
    for key in HttpConfig.model_fields:
        assert key in table, f"[http] key {key} is not documented"
    for key in HistoryConfig.model_fields:
        assert f"\n{key} = " in table, f"[history] key {key} is not documented"


def test_readme_opens_with_the_two_commands_ci_runs() -> None:
    first_block = README.split("```")[1]
    assert "./scripts/demo.sh" in first_block and "./scripts/test.sh" in first_block
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./scripts/test.sh" in ci and "./scripts/demo.sh --no-serve" in ci


def test_the_pbs_alias_table_matches_the_code() -> None:
    from hpcbridge.server.tool_aliases import PBS_ALIASES

    section = _section("PBS")
    documented = dict(re.findall(r"^\| `([a-z_]+)` \| `([a-z_]+)`", section, re.MULTILINE))
    assert documented == {alias: target for alias, (target, _) in PBS_ALIASES.items()}


async def test_toolset_sizes_in_the_readme_are_true_and_the_default_fits_the_budget() -> None:
    from hpcbridge.server.surface import per_toolset

    settings = load_settings({"SLURM_SSH_HOST": "unused.invalid", "HPCBRIDGE_CONFIG": ""})
    measured = await per_toolset(settings)
    rows = re.findall(r"^\| (`[a-z]+`|default \(`[a-z,]+`\)|`all`) \|.*\| ([0-9.]+) KB \| ([0-9.]+) KB \|$",
                      _section("Tools"), re.MULTILINE)
    assert len(rows) == len(measured), rows
    for (name, visible, whole), m in zip(rows, measured, strict=True):
        assert abs(float(visible) - m.visible_bytes / 1024) <= 0.3, (name, visible, m)
        assert abs(float(whole) - m.whole_bytes / 1024) <= 0.3, (name, whole, m)
    default = measured[-2]
    assert default.toolsets == ("cluster", "jobs", "agent")
    assert default.visible_bytes <= 25 * 1024 and default.whole_bytes <= 50 * 1024


def test_every_command_line_verb_is_documented_and_every_documented_one_exists() -> None:
    from hpcbridge.cli import build_parser

    commands = next(a for a in build_parser()._actions if a.dest == "command").choices  # type: ignore[attr-defined]
    verbs = {name: set(next(a for a in sub._actions if a.dest == "verb").choices)
             for name, sub in commands.items() if any(a.dest == "verb" for a in sub._actions)}
    for name in commands:
        assert f"hpcbridge {name}" in README, f"`hpcbridge {name}` is not in the README"
    for name, known in verbs.items():
        documented = set(re.findall(rf"hpcbridge\s+{name}\s+(\w+)", README))
        assert documented <= known, f"README names `hpcbridge {name}` verbs that do not exist: {documented - known}"
        assert known <= documented, f"`hpcbridge {name}` verbs missing from the README: {known - documented}"
