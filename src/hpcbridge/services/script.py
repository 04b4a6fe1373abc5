"""run_script: a script body run by a chosen interpreter on the login node, under run_shell_command's policy
(off unless allow_shell; with a shell_allowlist, the interpreter must be on it). The body goes to the
interpreter's standard input, never into a command line: nothing in it is parsed by a remote shell."""

from __future__ import annotations

from ..errors import InvalidParameter, PolicyError
from .cluster import Cluster
from .shell import _IN_DIR, ShellResult, cap

INTERPRETERS = {"bash": ["bash", "-s"], "sh": ["sh", "-s"], "python3": ["python3", "-"]}
MAX_SCRIPT = 256 * 1024


def script_argv(interpreter: str, body: str, allowlist: list[str], working_directory: str | None) -> list[str]:
    if interpreter not in INTERPRETERS:
        raise InvalidParameter("interpreter", f"{interpreter!r} is not offered", ", ".join(INTERPRETERS))
    if not body.strip():
        raise InvalidParameter("script", "it is empty", "a script body")
    if len(body.encode()) > MAX_SCRIPT:
        raise InvalidParameter("script", f"{len(body.encode())} bytes", f"at most {MAX_SCRIPT // 1024} KB")
    if allowlist and interpreter not in allowlist:
        raise PolicyError(f"'{interpreter}' is not in this cluster's shell_allowlist: {', '.join(allowlist)}")
    argv = INTERPRETERS[interpreter]
    return ["bash", "-c", _IN_DIR, "hpcbridge", working_directory, *argv] if working_directory else list(argv)


async def run_script(c: Cluster, interpreter: str, body: str, working_directory: str | None,
                     timeout: float | None) -> ShellResult:
    c.check_writable("run_script (a script can change anything)")
    if not c.config.allow_shell:
        raise PolicyError(f"run_script is disabled for cluster '{c.name}' (set allow_shell = true, "
                          "or SLURM_ALLOW_SHELL=true, to enable it)")
    argv = script_argv(interpreter, body, c.config.shell_allowlist, working_directory)
    result = await c.run(argv, timeout=timeout, stdin=body.encode(), idempotent=False)
    out, cut_out = cap(result.stdout)
    err, cut_err = cap(result.stderr)
    return ShellResult(f"{interpreter} script ({len(body.encode())} bytes)", result.exit_status, out, err,
                       cut_out or cut_err)
