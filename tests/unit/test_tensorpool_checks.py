"""What is checked before anything reaches TensorPool or the disk (hpcbridge.tensorpool.checks)."""

from __future__ import annotations

from pathlib import Path

import asyncssh
import pytest

from hpcbridge.errors import ConfigError, InvalidParameter, PolicyError
from hpcbridge.tensorpool import checks
from hpcbridge.tensorpool.service import price_class

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmlD8SyHbbzrBG/ZB0u5uFVNuw3CAXxRjnNrK6QSlhv me@laptop"


def test_public_keys() -> None:
    assert checks.public_key(f"  {ED25519}\n") == ED25519
    rsa = asyncssh.generate_private_key("ssh-rsa", key_size=2048).export_public_key().decode().strip()
    assert checks.public_key(rsa) == rsa
    blob = ED25519.split()[1]
    for bad, why in [("", "empty"), (f"{ED25519}\n{ED25519}", "more than one line"),
                     ("-----BEGIN OPENSSH PRIVATE KEY-----", "key type"), ("ssh-dss AAAA", "key type"),
                     ("ssh-ed25519 AAAAnotbase64", "not a valid"), (f"ssh-rsa {blob}", "not a valid|declared")]:
        with pytest.raises(InvalidParameter, match=f"invalid ssh_public_key: .*({why})"):
            checks.public_key(bad)


def test_ssh_commands_are_understood_or_refused() -> None:
    assert checks.ssh_target("ssh -p 2222 ubuntu@10.0.0.7") == checks.SshTarget("10.0.0.7", "ubuntu", 2222)
    assert checks.ssh_target("ssh -o StrictHostKeyChecking=accept-new 10.0.0.7") == checks.SshTarget("10.0.0.7", None, None)
    for bad in ("bash -c id", "ssh -J jump h", "ssh a b", "ssh", "ssh 'unterminated"):
        with pytest.raises(PolicyError):
            checks.ssh_target(bad)


def test_the_key_comes_from_the_environment_or_a_private_file(tmp_path: Path) -> None:
    assert checks.api_key({"TENSORPOOL_KEY": "a", "TENSORPOOL_API_KEY": "b"}, None) == "a"
    assert checks.api_key({"TENSORPOOL_API_KEY": " b\n"}, None) == "b"
    with pytest.raises(ConfigError, match="no TensorPool API key"):
        checks.api_key({}, None)
    key = tmp_path / "key"
    key.write_text("from-file\n")
    key.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        checks.api_key({}, str(key))
    key.chmod(0o600)
    assert checks.api_key({}, str(key)) == "from-file"


def test_ids_and_instance_types_and_the_price_class() -> None:
    assert checks.instance_type("8xH100") == "8xH100"
    for bad in ("H100", "8xH100; rm", "x"):
        with pytest.raises(InvalidParameter, match="instance_type"):
            checks.instance_type(bad)
    with pytest.raises(InvalidParameter, match="invalid job_id"):
        checks.identifier("job_id", "../j-1")
    assert price_class("8xH100", 2) == "2 node(s) of 8xH100: 16 H100 GPU(s) billed per hour while the cluster exists"


def test_an_account_is_not_a_scheduler_cluster(tmp_path: Path) -> None:
    from hpcbridge.config import load_settings

    config = tmp_path / "c.toml"
    config.write_text('[clusters.tp]\nprovider = "tensorpool"\n[clusters.hpc]\nhost = "login"\n')
    settings = load_settings({"HPCBRIDGE_CONFIG": str(config)})
    assert list(settings.clusters) == ["hpc"] and list(settings.providers) == ["tp"]
    assert settings.default_cluster == "hpc"
    config.write_text('[clusters.tp]\nprovider = "tensorpool"\ndefault = true\n[clusters.hpc]\nhost = "login"\n')
    with pytest.raises(ConfigError, match="a tensorpool account cannot be the default"):
        load_settings({"HPCBRIDGE_CONFIG": str(config)})
