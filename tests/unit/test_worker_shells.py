"""The worker shells' READY handshake (transport/pipeshell.py for openssh, shellworker.py for asyncssh)
against a real bash that sources an rc file, as the login shell sshd starts for `ssh HOST -- exec /bin/sh`
does: what the rc files print, on stdout or stderr, must not become the first command's output. BASH_ENV is
the rc file a non-interactive bash reads; the test cluster's accounts are not changed for this (their rc
files are not ours), so PipeShell gets bash's argv directly and ShellWorker a loopback asyncssh server."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import asyncssh

from hpcbridge.models import EnvSpec
from hpcbridge.transport.pipeshell import PipeShell
from hpcbridge.transport.shellworker import ShellWorker


async def test_what_the_rc_files_print_on_either_stream_is_not_the_first_commands(tmp_path: Path) -> None:
    rc = tmp_path / "bashrc"
    # a site's rc: a banner on stdout, a module system's warning on stderr (one without a final newline)
    rc.write_text("echo 'Welcome to the cluster'\necho 'Lmod has detected the following error' >&2\n"
                  "printf 'no newline' >&2\n")
    env = {**os.environ, "BASH_ENV": str(rc)}
    shell = await PipeShell.start(["bash", "-c", "exec /bin/sh"], env, 30)
    try:
        out, err, status = await shell.run("echo out; echo err >&2; exit_with() { return $1; }; exit_with 3")
        assert (out, err, status) == (b"out\n", b"err\n", 3)
        assert await shell.run("true") == (b"", b"", 0)
    finally:
        await shell.aclose()


async def test_the_asyncssh_worker_drops_them_too(tmp_path: Path) -> None:
    """transport/shellworker.py, the asyncssh transport's worker, over a real SSH session: asyncssh's own
    server on loopback (no test-cluster account's rc file may be changed), which hands the session's command
    to a real bash with the same rc file, as sshd hands it to the user's login shell."""
    rc = tmp_path / "bashrc"
    rc.write_text("echo 'Welcome'\necho 'module: command not found' >&2\n")
    ended = asyncio.Event()

    async def login_shell(process: asyncssh.SSHServerProcess[bytes]) -> None:
        local = await asyncio.create_subprocess_exec(
            "bash", "-c", process.command or "", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env={**os.environ, "BASH_ENV": str(rc)})
        await process.redirect(stdin=local.stdin, stdout=local.stdout, stderr=local.stderr)
        try:
            process.exit(await local.wait())
            await process.wait_closed()
        finally:
            ended.set()

    class Open(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return False  # no authentication: a loopback server for this test only

    server = await asyncssh.create_server(Open, "127.0.0.1", 0, encoding=None, process_factory=login_shell,
                                          server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")])
    port = server.sockets[0].getsockname()[1]
    try:
        async with asyncssh.connect("127.0.0.1", port, username="u", known_hosts=None,
                                    client_keys=None) as conn:
            worker = await ShellWorker.start(conn, EnvSpec(), 30)
            try:
                assert await worker.run(["sh", "-c", "echo out; echo err >&2; exit 3"]) == (b"out\n", b"err\n", 3)
            finally:
                worker.close()
            await asyncio.wait_for(ended.wait(), 30)  # the session's bash has ended (EOF once it was closed)
    finally:
        server.close()
        await server.wait_closed()
