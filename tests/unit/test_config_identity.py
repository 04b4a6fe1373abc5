"""Hosts and users of a cluster's config (issue 23, item 1): plain names and IP literals only, checked in the
config model so every door inherits it; the transports check again before building a command."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hpcbridge import validate
from hpcbridge.config import load_settings, validate_clusters
from hpcbridge.errors import ConfigError, InvalidParameter
from hpcbridge.transport.openssh import OpenSshOptions, OpenSshTransport
from hpcbridge.transport.ssh import SshOptions, SshTransport

GOOD_HOSTS = ["login", "login-1.hpc.example.org", "my_alias", "hpc.", "10.0.0.7", "::1", "fe80::1",
              "2001:db8::8a2e:370:7334", "::ffff:192.0.2.1", "a" * 253]
BAD_HOSTS = ["", "a b", "-oProxyCommand=id", "x:1", "[::1]", "fe80::1%eth0", "%h", "login%h", "'login'",
             '"login"', "login;id", "$(id)", "a\nb", "a\tb", ".hidden", "alice@login", "a/b", "a" * 254, "1:2:3"]
GOOD_USERS = ["alice", "first.last", "a-b", "svc_user", "u1", "1000", "jdoe@CORP.EXAMPLE.ORG"]
BAD_USERS = ["", "a b", "-x", "-oProxyCommand=id", "%u", "%r", "'alice'", '"alice"', ".x", "@x", "a;b", "a\nb",
             "a/b", "a" * 129]


@pytest.mark.parametrize("host", GOOD_HOSTS)
def test_plain_hosts_and_ip_literals_pass(host: str) -> None:
    assert validate.host_problem(host) is None
    assert validate_clusters({"c": {"host": host}}, lambda name: "test")["c"].host == host


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_hosts_with_blanks_quotes_options_ports_or_tokens_are_refused(host: str) -> None:
    with pytest.raises(ConfigError, match=r"cluster 'c' \(test\): host: .* is not a host name or IP address( \(.*\))?; "
                                          r"expected a host name"):
        validate_clusters({"c": {"host": host, "user": "alice"}}, lambda name: "test")
    with pytest.raises(InvalidParameter, match="invalid host"):
        validate.ssh_host("host", host)


@pytest.mark.parametrize("user", GOOD_USERS)
def test_plain_user_names_pass(user: str) -> None:
    assert validate_clusters({"c": {"host": "h", "user": user}}, lambda name: "test")["c"].user == user


@pytest.mark.parametrize("user", BAD_USERS)
def test_users_with_blanks_quotes_options_or_tokens_are_refused(user: str) -> None:
    with pytest.raises(ConfigError, match=r"user: .* is not a user name; expected a user name"):
        validate_clusters({"c": {"host": "h", "user": user}}, lambda name: "test")


def test_the_message_cuts_a_long_value_and_keeps_braces_literal() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_clusters({"c": {"host": "{detail} " + "x" * 500}}, lambda name: "test")
    assert "'{detail} xxx" in str(caught.value) and "x" * 100 not in str(caught.value)


def test_environment_values_are_refused_naming_the_variable(tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    for variable, value in (("SLURM_SSH_HOST", "a b"), ("SLURM_SSH_USER", "-x")):
        env = {"HPCBRIDGE_CONFIG": str(empty), "SLURM_SSH_HOST": "login", variable: value}
        with pytest.raises(ConfigError, match=rf"environment: .*{variable}='{value}' is not a"):
            load_settings(env)
    env = {"HPCBRIDGE_CONFIG": str(empty), "SLURM_SSH_HOST": "::1", "SLURM_SSH_USER": "first.last"}
    assert load_settings(env).cluster(None).host == "::1"


@pytest.mark.parametrize("host", ["-oProxyCommand=id", "a b"])
def test_the_transports_check_the_host_again_before_any_command(host: str, tmp_path: Path) -> None:
    """Built directly (no config): what a future door that skips the config model would reach."""
    openssh = OpenSshTransport(OpenSshOptions(host=host, cluster="c", control_path=str(tmp_path / "none")))
    for build in (openssh.login_argv, openssh.check_argv):
        with pytest.raises(InvalidParameter, match="invalid host"):
            build()
    with pytest.raises(InvalidParameter, match="invalid user"):
        OpenSshTransport(OpenSshOptions(host="h", user="-x", cluster="c", control_path="/x")).base_argv()
    with pytest.raises(InvalidParameter, match="invalid host"):
        asyncio.run(SshTransport(SshOptions(host=host)).connection())


def test_a_missing_key_file_is_a_configuration_error_before_any_connection(tmp_path: Path) -> None:
    for key in (tmp_path / "absent", tmp_path):
        transport = SshTransport(SshOptions(host="unused.invalid", key_path=str(key)))
        with pytest.raises(ConfigError, match=r"key_path .* is not a file") as caught:
            asyncio.run(transport.connection())
        assert not caught.value.transient
