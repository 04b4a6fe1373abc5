from __future__ import annotations

from pathlib import Path

import pytest

from hpcbridge.config import load_settings
from hpcbridge.errors import ConfigError


def test_env_alone_defines_one_cluster() -> None:
    s = load_settings({"SLURM_SSH_HOST": "login1", "SLURM_SSH_USER": "u", "SLURM_GPU_PARTITIONS": "gpu, a100",
                       "SLURM_COMMAND_TIMEOUT": "30", "HPCBRIDGE_CONFIG": ""})
    c = s.cluster(None)
    assert (c.name, c.host, c.user, c.gpu_partitions, c.command_timeout) == ("default", "login1", "u",
                                                                            ["gpu", "a100"], 30.0)
    assert c.port is None and c.verify_host_key and not c.allow_shell


def test_toml_many_clusters_env_overrides_same_name(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[clusters.alpha]\nhost = "a"\ndefault = true\n[clusters.alpha.policy]\nmax_gpus = 8\n'
        '[clusters.beta]\nhost = "b"\nport = 2200\n[clusters.login]\ntransport = "local"\n'
    )
    s = load_settings({"HPCBRIDGE_CONFIG": str(cfg), "SLURM_CLUSTER_NAME": "beta", "SLURM_SSH_HOST": "b2"})
    assert s.default_cluster == "alpha" and s.cluster("alpha").policy.max_gpus == 8
    assert s.cluster("beta").host == "b2" and s.cluster("beta").port == 2200
    assert s.cluster("login").transport == "local"


@pytest.mark.parametrize(
    ("toml", "message"),
    [("[clusters.a]\nhost = 1\n", "host"), ("[clusters.a]\nhots = 'x'\n", "hots"),
     ("[clusters.a]\ntransport = 'ssh'\n", "needs host"), ("not toml [", "not valid TOML"),
     ("[clusters.a]\nhost='x'\ndefault=true\n[clusters.b]\nhost='y'\ndefault=true\n", "more than one"),
     ("default_cluster = 'b'\n[clusters.a]\nhost='x'\n[clusters.b]\nhost='y'\n",
      "unknown top-level key 'default_cluster'.*default = true")],
)
def test_bad_config_says_what_and_where(tmp_path: Path, toml: str, message: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml)
    with pytest.raises(ConfigError, match=message):
        load_settings({"HPCBRIDGE_CONFIG": str(cfg)})


def test_nothing_configured(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SLURM_SSH_HOST"):
        load_settings({"HPCBRIDGE_CONFIG": "", "XDG_CONFIG_HOME": str(tmp_path)})


def test_pbs_plan_variables_make_a_pbs_cluster(tmp_path: Path) -> None:
    s = load_settings({"HPCBRIDGE_CONFIG": "", "XDG_CONFIG_HOME": str(tmp_path), "PBS_SERVER": "pbs01",
                       "PBS_ACCOUNT": "datascience"})
    c = s.cluster(None)
    assert (c.scheduler, c.pbs_server, c.account, c.transport) == ("pbs", "pbs01", "datascience", "local")
    over_ssh = load_settings({"HPCBRIDGE_CONFIG": "", "PBS_SERVER": "pbs01", "SLURM_SSH_HOST": "login",
                              "SLURM_ACCOUNT": "mine", "PBS_ACCOUNT": "theirs"}).cluster(None)
    assert (over_ssh.transport, over_ssh.host, over_ssh.account) == ("ssh", "login", "mine")
    assert load_settings({"HPCBRIDGE_CONFIG": "", "SLURM_SSH_HOST": "h"}).cluster(None).scheduler == "slurm"


def test_tool_aliases_setting(tmp_path: Path) -> None:
    assert load_settings({"HPCBRIDGE_CONFIG": "", "SLURM_SSH_HOST": "h",
                          "HPCBRIDGE_TOOL_ALIASES": "pbs"}).tool_aliases == ["pbs"]
    with pytest.raises(ConfigError, match="tool_aliases"):
        load_settings({"HPCBRIDGE_CONFIG": "", "SLURM_SSH_HOST": "h", "HPCBRIDGE_TOOL_ALIASES": "lsf"})
