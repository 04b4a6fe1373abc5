"""`hpcbridge cluster add|list|remove`: the file keeps the person's comments, every change is checked as the
server reads it, and nothing is written when a change is refused."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from hpcbridge.cli import main
from hpcbridge.config import load_settings

ORIGINAL = '''# our clusters -- ask Ana before changing
log_level = "INFO"

[clusters.alpha]  # the old one
host = "alpha.example.org"   # login node
default = true
'''


@pytest.fixture(autouse=True)
def no_cluster_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLURM_SSH_HOST", "SLURM_TRANSPORT", "PBS_SERVER"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(ORIGINAL)
    monkeypatch.setenv("HPCBRIDGE_CONFIG", str(path))
    return path


def test_add_keeps_comments_and_moves_the_default(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cluster", "add", "beta", "--host", "beta.example", "--user", "me", "--port", "2222", "--default",
                 "--set", "max_channels=4", "--set", "policy.max_gpus=8", "--set", 'gpu_partitions=["a", "b"]']) == 0
    text = config.read_text()
    assert text.startswith(ORIGINAL.split("default = true")[0])  # comments and layout of the rest untouched
    assert "# login node" in text and "[clusters.beta.policy]" in text
    settings = load_settings()
    beta = settings.clusters["beta"]
    assert settings.default_cluster == "beta" and not settings.clusters["alpha"].default
    assert (beta.host, beta.user, beta.port, beta.max_channels, beta.policy.max_gpus, beta.gpu_partitions) == (
        "beta.example", "me", 2222, 4, 8, ["a", "b"])
    assert "now the default instead of 'alpha'" in capsys.readouterr().err
    assert main(["cluster", "list"]) == 0
    assert "beta (default): slurm over ssh me@beta.example:2222" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["alpha", "--host", "h"], "already in the file; expected another name, or --replace"),
    (["g", "--set", "password=hunter2"], "visible to every user in `ps`"),
    (["g", "--host", "h", "--set", "max_chanels=4"], "unknown key 'max_chanels'"),
    (["g", "--host", "h", "--set", "max_channels=many"], "max_channels: Input should be a valid integer"),
    (["g"], "transport 'ssh' needs host"),
    (["a b", "--host", "h"], "'a b' is not a cluster name"),
    (["g", "--host", "h", "--set", "policy.max_gpu=1"], "unknown key 'policy.max_gpu'"),
])
def test_refused_changes_name_the_problem_and_write_nothing(config: Path, capsys: pytest.CaptureFixture[str],
                                                            args: list[str], message: str) -> None:
    assert main(["cluster", "add", *args]) == 2
    assert message in capsys.readouterr().err
    assert config.read_text() == ORIGINAL


def test_remove_and_replace(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cluster", "add", "beta", "--transport", "local", "--scheduler", "pbs"]) == 0
    assert main(["cluster", "add", "beta", "--host", "b2", "--replace"]) == 0
    assert load_settings().clusters["beta"].host == "b2"
    assert main(["cluster", "remove", "alpha"]) == 0
    text = config.read_text()
    assert "alpha" not in text and text.startswith("# our clusters") and text.endswith("\n")
    assert main(["cluster", "remove", "zeta"]) == 2
    assert "clusters there: beta" in capsys.readouterr().err


def test_a_new_file_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "new" / "config.toml"
    monkeypatch.setenv("HPCBRIDGE_CONFIG", str(path))
    assert main(["cluster", "add", "here", "--transport", "local"]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_settings().clusters["here"].transport == "local"
