"""The SSH transport against the real sshd of the test cluster: reuse, limits, reconnects, fallbacks."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from hpcbridge.errors import CommandTimeout, TransportError
from hpcbridge.transport.local import LocalTransport
from hpcbridge.transport.ssh import SshOptions, SshTransport

from ..conftest import ROOT, TC_DIR

pytestmark = pytest.mark.cluster


def _options(env: dict[str, str], **overrides: object) -> SshOptions:
    base = {"host": env["SLURM_SSH_HOST"], "port": int(env["SLURM_SSH_PORT"]), "user": env["SLURM_SSH_USER"],
                "key_path": env["SLURM_SSH_KEY_PATH"], "known_hosts": env["SLURM_SSH_KNOWN_HOSTS"]}
    base.update(overrides)
    return SshOptions(**base)  # type: ignore[arg-type]


async def test_thirty_parallel_commands_share_one_connection_under_maxsessions(tc_env: dict[str, str]) -> None:
    transport = SshTransport(_options(tc_env))
    try:
        results = await asyncio.gather(*(transport.run(["echo", str(i)], timeout=30) for i in range(30)))
        assert [r.stdout.strip() for r in results] == [str(i) for i in range(30)]
        assert transport.connects == 1
    finally:
        await transport.close()


async def test_timeout_kills_the_command_and_the_connection_stays_usable(tc_env: dict[str, str]) -> None:
    transport = SshTransport(_options(tc_env))
    try:
        with pytest.raises(CommandTimeout, match="did not finish within 1s"):
            await transport.run(["sleep", "10"], timeout=1)
        assert (await transport.run(["echo", "ok"], timeout=10)).stdout.strip() == "ok"
        assert transport.connects == 1
    finally:
        await transport.close()


async def test_unknown_host_key_is_refused(tc_env: dict[str, str], tmp_path: Path) -> None:
    wrong = tmp_path / "known_hosts"
    await asyncio.to_thread(subprocess.run, ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")],
                            check=True)
    wrong.write_text(f"[127.0.0.1]:{tc_env['SLURM_SSH_PORT']} {(tmp_path / 'k.pub').read_text()}")
    transport = SshTransport(_options(tc_env, known_hosts=str(wrong)))
    with pytest.raises(TransportError) as err:
        await transport.run(["true"], timeout=10)
    assert not err.value.transient and "host key" in str(err.value).lower()


async def test_wrong_key_is_refused_with_a_clear_message(tc_env: dict[str, str], tmp_path: Path) -> None:
    await asyncio.to_thread(subprocess.run, ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                                             str(tmp_path / "other")], check=True)
    transport = SshTransport(_options(tc_env, key_path=str(tmp_path / "other")))
    with pytest.raises(TransportError, match="refused"):
        await transport.run(["true"], timeout=10)


async def test_write_without_sftp_falls_back_to_dd(tc_env: dict[str, str]) -> None:
    extra = dict(line.split("=", 1) for line in (TC_DIR / "testcluster.env").read_text().split())
    transport = SshTransport(_options(tc_env, port=int(extra["HPCB_TC_SSH_PORT_NOSFTP"])))
    try:
        data = b"no sftp here\n$(not run) 'quoted'\n"
        await transport.write_file("/tmp/hpcb-nosftp-test.txt", data, timeout=10)
        assert transport._sftp_ok is False
        back = await transport.run(["cat", "/tmp/hpcb-nosftp-test.txt"], timeout=10)
        assert back.stdout.encode() == data
    finally:
        await transport.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="restarting the test cluster's sshd needs root")
async def test_sshd_restart_then_next_command_reconnects(tc_env: dict[str, str]) -> None:
    transport = SshTransport(_options(tc_env))
    try:
        assert (await transport.run(["echo", "before"], timeout=10)).ok
        # Kill the listener and every per-connection sshd of the ordinary user, then bring sshd back.
        pid = (TC_DIR / "sshd.pid").read_text().strip()
        await asyncio.to_thread(subprocess.run, ["kill", pid], check=True)
        await asyncio.to_thread(subprocess.run, ["pkill", "-f", f"sshd: {tc_env['SLURM_SSH_USER']}"], check=False)
        await asyncio.sleep(0.5)
        await asyncio.to_thread(subprocess.run, ["bash", str(ROOT / "testcluster" / "cluster.sh"), "up"], check=True,
                                capture_output=True)
        result = await transport.run(["echo", "after"], timeout=20)
        assert result.stdout.strip() == "after" and transport.connects == 2
    finally:
        await transport.close()


async def test_local_transport_runs_argv_without_a_shell() -> None:
    local = LocalTransport()
    result = await local.run(["printf", "%s", "$(id) `id` ;"], timeout=10)
    assert result.stdout == "$(id) `id` ;"
    missing = await local.run(["no-such-program-hpcb"], timeout=10)
    assert missing.exit_status == 127


def _ssh_config(tmp_path: Path, env: dict[str, str], body: str) -> Path:
    cfg = tmp_path / "ssh_config"
    cfg.write_text(body.format(port=env["SLURM_SSH_PORT"], user=env["SLURM_SSH_USER"],
                               key=env["SLURM_SSH_KEY_PATH"], known=env["SLURM_SSH_KNOWN_HOSTS"]))
    return cfg


async def test_ssh_config_alias_supplies_host_port_user_and_key(tc_env: dict[str, str], tmp_path: Path) -> None:
    cfg = _ssh_config(tmp_path, tc_env, "Host hpcb-alias\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n"
                                        "  IdentityFile {key}\n  UserKnownHostsFile {known}\n")
    transport = SshTransport(SshOptions(host="hpcb-alias", ssh_config=str(cfg),
                                        known_hosts=tc_env["SLURM_SSH_KNOWN_HOSTS"]))
    try:
        assert (await transport.run(["id", "-un"], timeout=10)).stdout.strip() == tc_env["SLURM_SSH_USER"]
    finally:
        await transport.close()


async def test_proxyjump_from_ssh_config(tc_env: dict[str, str], tmp_path: Path) -> None:
    # The login node (sshd :2222) is reached through a bastion: the test cluster's second sshd (:2223).
    extra = dict(line.split("=", 1) for line in (TC_DIR / "testcluster.env").read_text().split())
    bastion_log = TC_DIR / "log" / "sshd-nosftp.log"
    logins_before = bastion_log.read_text().count("Accepted publickey")
    cfg = _ssh_config(tmp_path, tc_env,
                      "Host hpcb-bastion\n  HostName 127.0.0.1\n  Port " + extra["HPCB_TC_SSH_PORT_NOSFTP"] +
                      "\n  User {user}\n  IdentityFile {key}\n  UserKnownHostsFile {known}\n"
                      "Host hpcb-behind\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {key}\n"
                      "  UserKnownHostsFile {known}\n  ProxyJump hpcb-bastion\n")
    transport = SshTransport(SshOptions(host="hpcb-behind", ssh_config=str(cfg),
                                        known_hosts=tc_env["SLURM_SSH_KNOWN_HOSTS"]))
    try:
        result = await transport.run(["id", "-un"], timeout=15)
        assert result.stdout.strip() == tc_env["SLURM_SSH_USER"]
    finally:
        await transport.close()
    assert bastion_log.read_text().count("Accepted publickey") == logins_before + 1


async def test_worker_shell_frames_output_exactly(tc_env: dict[str, str]) -> None:
    transport = SshTransport(_options(tc_env))
    try:
        no_newline = await transport.run(["printf", "a\nb"], timeout=10)
        assert no_newline.stdout == "a\nb" and no_newline.exit_status == 0
        both = await transport.run(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=10)
        assert (both.stdout, both.stderr, both.exit_status) == ("out\n", "err\n", 3)
        spoof = await transport.run(["printf", "\n\x1eabc 0\n"], timeout=10)  # a marker with the wrong token
        assert spoof.stdout == "\n\x1eabc 0\n"
        big = await transport.run(["seq", "1", "200000"], timeout=20)
        assert big.stdout.splitlines()[-1] == "200000" and len(big.stdout.splitlines()) == 200000
        missing = await transport.run(["no-such-program-hpcb"], timeout=10)
        assert missing.exit_status == 127
        assert len(transport._workers) >= 1 and transport.connects == 1
    finally:
        await transport.close()


async def test_worker_takes_an_output_bigger_than_the_ssh_window(tc_env: dict[str, str]) -> None:
    # asyncssh's readuntil gives up once its buffer holds the channel's window (2 MiB): the worker then failed
    # and the command ran a second time on a channel (a 12,000-task squeue, twice). Counted on the cluster.
    transport = SshTransport(_options(tc_env))
    runs = f"/tmp/hpcb-worker-runs-{os.getpid()}"
    try:
        big = await transport.run(["sh", "-c", 'echo run >> "$1"; head -c 3000000 /dev/zero | tr "\\000" x', "sh", runs],
                                  timeout=30)
        assert big.stdout == "x" * 3_000_000 and big.exit_status == 0
        assert (await transport.run(["cat", runs], timeout=10)).stdout == "run\n"
        assert (await transport.run(["echo", "next"], timeout=10)).stdout == "next\n"
    finally:
        await transport.run(["rm", "-f", runs], timeout=10)
        await transport.close()


async def test_worker_timeout_then_the_next_command_works(tc_env: dict[str, str]) -> None:
    transport = SshTransport(_options(tc_env))
    try:
        with pytest.raises(CommandTimeout):
            await transport.run(["sleep", "10"], timeout=1)
        assert (await transport.run(["echo", "fine"], timeout=10)).stdout == "fine\n"
    finally:
        await transport.close()


async def test_worker_environment_is_neutralised(tc_env: dict[str, str]) -> None:
    from hpcbridge.backends.registry import command_env
    from hpcbridge.config import ClusterConfig

    transport = SshTransport(_options(tc_env), command_env(ClusterConfig(name="c")))
    try:
        via_worker = await transport.run(["sh", "-c", 'echo "$LC_ALL:${SQUEUE_FORMAT-unset}"'], timeout=10)
        via_channel = await transport.run(["sh", "-c", 'echo "$LC_ALL:${SQUEUE_FORMAT-unset}"'], timeout=10,
                                          idempotent=False)
        assert via_worker.stdout == via_channel.stdout == "C:unset\n"
    finally:
        await transport.close()
