"""Configuration mistakes a newcomer makes are refused in the file's words: an unknown key is called unknown,
with the closest real key (pydantic says 'Extra inputs are not permitted'); a port out of range is refused
when the file is read (it was an OverflowError traceback at the first connect); an environment variable is
named as it is spelt (SLURM_SSH_PORT, not ssh_port)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcbridge.config import load_settings
from hpcbridge.config_edit import parse_settings
from hpcbridge.errors import ConfigError, InvalidParameter


def load(tmp_path: Path, text: str, **env: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text)
    load_settings({"HPCBRIDGE_CONFIG": str(config), **env})


@pytest.mark.parametrize(("text", "expected"), [
    ('[clusters.a]\nhost = "h"\nkey_pth = "/k"\n', "cluster 'a' (%s): unknown key 'key_pth' (did you mean 'key_path'?)"),
    ('[clusters.a]\nhost = "h"\n[clusters.a.policy]\nmax_gpu = 4\n',
     "cluster 'a' (%s): unknown key 'policy.max_gpu' (did you mean 'policy.max_gpus'?)"),
    ('[clusters.a]\nhost = "h"\n[history]\nactive_minute = 3\n',
     "[history]: unknown key 'active_minute' (did you mean 'active_minutes'?)"),
    ('[clusters.a]\nhost = "h"\nzzz = 1\n', "cluster 'a' (%s): unknown key 'zzz'"),
])
def test_an_unknown_key_is_called_unknown_with_the_closest_key(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    assert str(caught.value) == (expected % (tmp_path / "config.toml") if "%s" in expected else expected)


@pytest.mark.parametrize("port", [0, 65536, 99999])
def test_a_port_out_of_range_is_refused_when_the_file_is_read(tmp_path: Path, port: int) -> None:
    with pytest.raises(ConfigError, match=r"cluster 'a' .*: port: Input should be"):
        load(tmp_path, f'[clusters.a]\nhost = "h"\nport = {port}\n')


def test_an_environment_variable_is_named_as_it_is_spelt(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "", SLURM_SSH_HOST="login", SLURM_SSH_PORT="70000")
    assert str(caught.value) == "environment: SLURM_SSH_PORT: Input should be less than or equal to 65535"


def test_cluster_set_names_the_closest_key() -> None:
    with pytest.raises(InvalidParameter, match=r"unknown key 'max_channel' \(did you mean 'max_channels'\?\)"):
        parse_settings(["max_channel=4"])
    with pytest.raises(InvalidParameter, match=r"unknown key 'policy.max_gpu' \(did you mean 'policy.max_gpus'\?\)"):
        parse_settings(["policy.max_gpu=4"])


@pytest.mark.parametrize(("key", "value"), [("max_channels", 0), ("connect_timeout", 0), ("command_timeout", -1),
                                            ("shell_workers", -1), ("cache_ttl", -5)])
def test_a_count_or_a_time_that_cannot_work_is_refused_by_name(tmp_path: Path, key: str, value: int) -> None:
    """max_channels = 0 hung every command on a semaphore of size 0; a negative command_timeout failed each
    command as 'did not finish within -1s'."""
    with pytest.raises(ConfigError, match=rf"cluster 'a' .*: {key}: Input should be greater than"):
        load(tmp_path, f'[clusters.a]\nhost = "h"\n{key} = {value}\n')


def test_a_log_level_logging_does_not_know_is_refused(tmp_path: Path) -> None:
    """'LOUD' was taken as INFO without a word (and `hpcbridge settings set log_level LOUD` wrote it)."""
    with pytest.raises(ConfigError, match=r"^log_level: 'LOUD' is not a log level; expected DEBUG, INFO"):
        load(tmp_path, 'log_level = "LOUD"\n[clusters.a]\nhost = "h"\n')
    with pytest.raises(ConfigError, match=r"^log_level: 'verbose' is not a log level"):
        load(tmp_path, '[clusters.a]\nhost = "h"\n', HPCBRIDGE_LOG_LEVEL="verbose")
    config = tmp_path / "config.toml"
    config.write_text('log_level = "debug"\n[clusters.a]\nhost = "h"\n')
    assert load_settings({"HPCBRIDGE_CONFIG": str(config)}).log_level == "DEBUG"


@pytest.mark.parametrize(("host", "hint"), [
    ("me@login.example.org", "(the user goes in user: user = 'me', host = 'login.example.org')"),
    ("login.example.org:2222", "(the port goes in port: host = 'login.example.org', port = 2222)"),
])
def test_a_login_written_as_ssh_would_says_where_its_parts_go(tmp_path: Path, host: str, hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, f'[clusters.a]\nhost = "{host}"\n')
    assert f"host: '{host}' is not a host name or IP address {hint}; expected a host name" in str(caught.value)


def test_hpcbridge_log_level_wins_over_the_file(tmp_path: Path) -> None:
    """README's troubleshooting says HPCBRIDGE_LOG_LEVEL=DEBUG shows every command: a log_level in the file
    silently won over it (unlike HPCBRIDGE_TOOLSETS and the other variables)."""
    config = tmp_path / "config.toml"
    config.write_text('log_level = "WARNING"\n[clusters.a]\nhost = "h"\n')
    assert load_settings({"HPCBRIDGE_CONFIG": str(config)}).log_level == "WARNING"
    assert load_settings({"HPCBRIDGE_CONFIG": str(config), "HPCBRIDGE_LOG_LEVEL": "DEBUG"}).log_level == "DEBUG"
