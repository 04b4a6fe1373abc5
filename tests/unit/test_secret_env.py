"""hpcbridge's own secrets are kept from every child process (issue 23, item 5): the list in config, the command
environment builder that carries it, the local and OpenSSH children, and the Jupyter server script."""

from __future__ import annotations

import os
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from hpcbridge.config import ClusterConfig
from hpcbridge.config_env import SECRET_ENV, ServerEnv, SlurmEnv
from hpcbridge.jupyter import launch
from hpcbridge.services.registry import command_env, make_transport
from hpcbridge.tensorpool import checks
from hpcbridge.transport.local import LocalTransport
from hpcbridge.transport.openssh import OpenSshOptions, OpenSshTransport

SECRETS = {"HPCBRIDGE_HTTP_TOKEN": "t0ken", "HPCBRIDGE_DATABASE_URL": "postgresql://u:pw@h/db",
           "SLURM_SSH_PASSWORD": "pa55", "TENSORPOOL_KEY": "tpk", "TENSORPOOL_API_KEY": "tpak"}
# what jobs and ssh need, or the user's own (a job may need its cloud credentials): all kept
KEPT = {"PATH": "/usr/bin:/bin", "HOME": "/home/a", "SSH_AUTH_SOCK": "/tmp/agent", "SLURM_JOB_ID": "7",
        "SLURM_CONF": "/etc/slurm/slurm.conf", "HPCBRIDGE_CONFIG": "/c.toml", "HPCBRIDGE_STATE_DIR": "/s",
        "HPCBRIDGE_TOOLSETS": "all", "TENSORPOOL_ENGINE": "https://e", "AWS_SECRET_ACCESS_KEY": "users-own",
        "JUPYTER_TOKEN": "users-own", "SLURM_SSH_HOST": "login"}


def secret(name: str) -> bool:
    return any(fnmatchcase(name, pattern) for pattern in SECRET_ENV)


def test_every_variable_hpcbridge_reads_a_secret_from_is_on_the_list() -> None:
    from_settings = [f"{prefix}{field.upper()}" for prefix, model in (("HPCBRIDGE_", ServerEnv), ("SLURM_", SlurmEnv))
                     for field, info in model.model_fields.items() if "SecretStr" in str(info.annotation)]
    tensorpool = [name for name in ("TENSORPOOL_KEY", "TENSORPOOL_API_KEY")
                  if checks.api_key({name: "k"}, None) == "k"]
    assert set(from_settings) == {"HPCBRIDGE_HTTP_TOKEN", "HPCBRIDGE_DATABASE_URL", "SLURM_SSH_PASSWORD"}
    assert len(tensorpool) == 2  # both names are read by the TensorPool service
    assert [n for n in [*from_settings, *tensorpool] if n not in SECRET_ENV] == []  # named, not only by rule


@pytest.mark.parametrize("name", ["HPCBRIDGE_SMTP_PASSWORD", "HPCBRIDGE_DASHBOARD_SECRET", "HPCBRIDGE_OTHER_TOKEN",
                                  "HPCBRIDGE_HTTP_TOKEN_FILE", "TENSORPOOL_ACCESS_TOKEN", "SLURM_SSH_KEY_PASSPHRASE"])
def test_the_rule_catches_secrets_added_later(name: str) -> None:
    assert secret(name)


def test_the_rule_keeps_what_jobs_need_and_the_users_own() -> None:
    assert [n for n in KEPT if secret(n)] == []


@pytest.mark.parametrize("scheduler", ["slurm", "pbs"])
def test_the_command_environment_drops_secrets_and_still_neutralises(scheduler: str) -> None:
    config = ClusterConfig(name="c", scheduler=scheduler, transport="local", pbs_server="pbs01")
    env = command_env(config)
    applied = env.apply({**SECRETS, **KEPT, "SQUEUE_FORMAT": "%i", "LC_ALL": "de_DE.UTF-8"})
    assert applied == {**KEPT, "LC_ALL": "C", **({"PBS_SERVER": "pbs01", "PBS_DEFAULT": "pbs01"}
                                                 if scheduler == "pbs" else {})}
    assert env.inherited({**SECRETS, **KEPT}) == KEPT
    # a remote command's environment never held hpcbridge's: its argv does not name them
    assert not [a for a in env.argv_prefix() if secret(a.split("=")[0])]


@pytest.mark.parametrize("transport", ["local", "ssh", "openssh"])
def test_every_transport_is_built_with_the_secret_list(transport: str) -> None:
    config = ClusterConfig(name="c", transport=transport, host=None if transport == "local" else "login")
    assert make_transport(config).env.private == SECRET_ENV  # type: ignore[attr-defined]


async def test_a_local_command_runs_without_the_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HPCBRIDGE_STATE_DIR", "/kept")
    transport = make_transport(ClusterConfig(name="c", transport="local"))
    assert isinstance(transport, LocalTransport)
    out = (await transport.run(["env"], timeout=10)).stdout
    assert "HPCBRIDGE_STATE_DIR=/kept" in out and "LC_ALL=C" in out
    assert [n for n in SECRETS if f"{n}=" in out] == []


async def test_the_local_ssh_of_the_openssh_transport_gets_no_secret(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    """A stand-in for the ssh binary, since what is tested is the environment the local ssh process receives
    (a ProxyCommand or SendEnv would pass it on); the real ssh over a master is tested in e2e/test_openssh.py."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    fake_ssh = tmp_path / "ssh"
    fake_ssh.write_text("#!/bin/sh\nenv\n")
    fake_ssh.chmod(0o755)
    socket = tmp_path / "master.sock"
    socket.touch()  # run() asks for the master's socket before starting ssh
    options = OpenSshOptions(host="login", cluster="c", control_path=str(socket), ssh_binary=str(fake_ssh))
    transport = OpenSshTransport(options, command_env(ClusterConfig(name="c", transport="openssh", host="login")))
    out = (await transport.run(["true"], timeout=10)).stdout
    assert f"PATH={os.environ['PATH']}" in out
    assert [n for n in SECRETS if f"{n}=" in out] == []
    assert [n for n in SECRETS if f"{n}=" in "".join(f"{k}={v}" for k, v in transport.child_environ().items())] == []


def test_the_jupyter_server_drops_inherited_tokens_and_keeps_the_token_file() -> None:
    script = launch.server_script(launch.ServerPlan("/r", "/n", 30, "/opt/venv", ("cuda/12.6",)))
    lines = script.splitlines()
    unset = lines.index("unset JUPYTER_TOKEN JUPYTERHUB_API_TOKEN JPY_API_TOKEN")
    assert lines.index("source /opt/venv/bin/activate") < unset  # after what may set them
    assert unset < next(i for i, line in enumerate(lines) if line.startswith("exec bash -c"))  # the server's start
    assert "export JUPYTER_TOKEN_FILE=/r/token" in lines
