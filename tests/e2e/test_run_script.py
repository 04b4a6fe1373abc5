"""run_script through a real MCP client against the test cluster: under run_shell_command's policy (not
offered without allow_shell; with a shell_allowlist only the listed interpreters run), the body reaches the
interpreter on standard input untouched by any shell."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastmcp.exceptions import ToolError

from .conftest import call, stdio_server

pytestmark = pytest.mark.timeout(300)


def _cluster(tc: dict[str, str], extra: str) -> str:
    return (f'[clusters.slurm]\nhost = "{tc["SLURM_SSH_HOST"]}"\nport = {tc["SLURM_SSH_PORT"]}\n'
            f'user = "{tc["SLURM_SSH_USER"]}"\nkey_path = "{tc["SLURM_SSH_KEY_PATH"]}"\n'
            f'known_hosts = "{tc["SLURM_SSH_KNOWN_HOSTS"]}"\nuser_root = "{tc["SLURM_USER_ROOT"]}"\n{extra}')


async def test_the_allowlist_names_the_interpreters(tc_env: dict[str, str], tmp_path: Path) -> None:
    config = _cluster(tc_env, 'allow_shell = true\nshell_allowlist = ["python3", "sh"]\n')
    async with stdio_server(tmp_path, config, "files") as client:
        body = "import sys, os\nprint('sum', sum(range(10)), 'quote\\'s $(id) `x`', sep='|')\nsys.exit(3)\n"
        ran = await call(client, "run_script", script=body, interpreter="python3")
        assert ran["stdout"] == "sum|45|quote's $(id) `x`\n" and ran["exit_status"] == 3
        here = await call(client, "run_script", script='pwd; echo "$0"', interpreter="sh", working_directory="/tmp")
        assert here["stdout"].splitlines() == ["/tmp", "sh"]
        with pytest.raises(ToolError, match="'bash' is not in this cluster's shell_allowlist"):
            await call(client, "run_script", script="echo hi", interpreter="bash")
        with pytest.raises(ToolError, match="interpreter"):
            await call(client, "run_script", script="echo hi", interpreter="perl")


async def test_any_interpreter_without_an_allowlist_and_none_without_allow_shell(tc_env: dict[str, str],
                                                                                 tmp_path: Path) -> None:
    (tmp_path / "on").mkdir()
    (tmp_path / "off").mkdir()
    async with stdio_server(tmp_path / "on", _cluster(tc_env, "allow_shell = true\n"), "files") as client:
        ran = await call(client, "run_script", script='x=$((6*7)); echo "answer $x"; hostname >/dev/null')
        assert ran["stdout"] == "answer 42\n" and ran["exit_status"] == 0
    async with stdio_server(tmp_path / "off", _cluster(tc_env, ""), "files") as client:
        names = {t.name for t in await client.list_tools()}
        assert "run_script" not in names and "list_directory" in names
