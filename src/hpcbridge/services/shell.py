"""run_shell_command's policy: off unless allowed; with an allowlist, only those programs, split without a shell."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from ..errors import InvalidParameter, PolicyError
from .cluster import Cluster

OUTPUT_CAP = 32 * 1024
# Runs argv in a directory without interpreting either: "$1" is the directory, the rest is argv.
_IN_DIR = 'cd -- "$1" && shift && exec "$@"'


@dataclass(frozen=True)
class ShellResult:
    command: str
    exit_status: int
    stdout: str
    stderr: str
    truncated: bool


def cap(text: str, limit: int = OUTPUT_CAP) -> tuple[str, bool]:
    """The last `limit` bytes (where an error usually is), and whether anything was cut."""
    data = text.encode()
    if len(data) <= limit:
        return text, False
    return data[-limit:].decode(errors="replace"), True


def shell_argv(command: str, allowlist: list[str], working_directory: str | None = None) -> list[str]:
    if not command.strip():
        raise InvalidParameter("command", "it is empty", "a command line")
    if not allowlist:
        argv = ["bash", "-c", command]
    else:
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise InvalidParameter("command", str(exc), "a command line with balanced quotes") from exc
        program = argv[0].rsplit("/", 1)[-1]
        if program not in allowlist:
            raise PolicyError(f"'{program}' is not in this cluster's shell_allowlist: {', '.join(allowlist)}")
    return ["bash", "-c", _IN_DIR, "hpcbridge", working_directory, *argv] if working_directory else argv


async def run_shell_command(c: Cluster, command: str, working_directory: str | None,
                            timeout: float | None) -> ShellResult:
    c.check_writable("run_shell_command (a command can change anything)")
    if not c.config.allow_shell:
        raise PolicyError(f"run_shell_command is disabled for cluster '{c.name}' (set allow_shell = true, "
                          "or SLURM_ALLOW_SHELL=true, to enable it)")
    argv = shell_argv(command, c.config.shell_allowlist, working_directory)
    result = await c.run(argv, timeout=timeout, idempotent=False)
    out, cut_out = cap(result.stdout)
    err, cut_err = cap(result.stderr)
    return ShellResult(command, result.exit_status, out, err, cut_out or cut_err)
