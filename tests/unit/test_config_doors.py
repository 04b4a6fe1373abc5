"""Issue 30 from the shell: `hpcbridge cluster show|set` and `hpcbridge settings get|set|list` through the one
editor: comments kept, secrets shown as *** (a database URL without its password), bad keys and values refused by
name with the file untouched, and `[config] editors` honoured by the editor for principals other than the owner."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from hpcbridge import principal
from hpcbridge.cli import main
from hpcbridge.config import Settings, load_settings
from hpcbridge.errors import PolicyError
from hpcbridge.services.config_editor import ConfigEditor

ORIGINAL = '''# lab config -- ask Ana
log_level = "INFO"  # quiet

[history]
database_url = "postgresql://hpcb:hunter2@db.example.org/hpcbridge"

[clusters.alpha]  # the old one
host = "alpha.example.org"   # login node
password = "s3cret-pass"
default = true
'''


@pytest.fixture(autouse=True)
def no_cluster_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLURM_SSH_HOST", "SLURM_TRANSPORT", "PBS_SERVER", "HPCBRIDGE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(ORIGINAL)
    monkeypatch.setenv("HPCBRIDGE_CONFIG", str(path))
    return path


def test_cluster_show_masks_the_password_and_set_keeps_comments(config: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cluster", "show", "alpha", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["password"] == "***" and "s3cret" not in json.dumps(shown)
    assert main(["cluster", "set", "alpha", "default_partition=gpu", "policy.max_gpus=4"]) == 0
    text = config.read_text()
    assert text.startswith(ORIGINAL.split("password")[0]) and "# login node" in text
    alpha = load_settings().clusters["alpha"]
    assert (alpha.default_partition, alpha.policy.max_gpus) == ("gpu", 4)
    assert main(["cluster", "set", "alpha", "--unset", "policy.max_gpus", "--unset", "default_partition"]) == 0
    assert "[clusters.alpha.policy]" not in config.read_text()
    assert load_settings().clusters["alpha"].default_partition is None


@pytest.mark.parametrize(("argv", "message"), [
    (["cluster", "set", "alpha", "password=x"], "visible to every user in `ps`"),
    (["cluster", "set", "alpha", "default_partiton=gpu"], "unknown key 'default_partiton'"),
    (["cluster", "set", "alpha", "max_channels=many"], "max_channels: Input should be a valid integer"),
    (["cluster", "set", "beta", "max_channels=4"], "cluster 'beta' is not in the file"),
    (["settings", "set", "history.active_minutes", "soon"], "[history] active_minutes"),
    (["settings", "set", "history.database_url", "sqlite://"], "holds a secret"),
    (["settings", "set", "toolsets", '["jobs", "nope"]'], "nope unknown"),
    (["settings", "get", "history.actve_minutes"], "unknown setting 'history.actve_minutes'"),
])
def test_bad_changes_are_refused_by_name_and_nothing_is_written(config: Path, capsys: pytest.CaptureFixture[str],
                                                                argv: list[str], message: str) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert config.read_text() == ORIGINAL


def test_settings_set_get_list(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["settings", "set", "history.active_minutes", "10"]) == 0
    assert main(["settings", "get", "history.active_minutes"]) == 0
    assert capsys.readouterr().out.strip() == "10"
    assert load_settings().history.active_minutes == 10
    assert main(["settings", "list", "--json"]) == 0
    listing = {line["key"]: line for line in json.loads(capsys.readouterr().out)}
    assert listing["history.database_url"]["value"] == "postgresql://hpcb:***@db.example.org/hpcbridge"
    assert listing["config.editors"] == {**listing["config.editors"], "value": ["local"], "in_file": False,
                                         "applies": "now"}
    assert main(["settings", "set", "history.active_minutes", "--unset"]) == 0
    assert "active_minutes" not in config.read_text() and "# quiet" in config.read_text()


async def test_the_editor_refuses_a_principal_not_in_editors_and_audits(config: Path,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    editor = ConfigEditor()  # a server's door (not the owner's CLI): [config] editors decides
    caplog.set_level(logging.INFO, logger="hpcbridge.audit")
    with principal.acting_as("ana"), pytest.raises(PolicyError, match="'ana' may not change the configuration"):
        await editor.set_setting("log_level", "DEBUG")
    assert config.read_text() == ORIGINAL
    await editor.set_setting("config.editors", ["local", "ana"])
    with principal.acting_as("ana"):
        await editor.update_cluster("alpha", {"default_partition": "cpu"})
    assert "config principal=ana refused: set log_level" in caplog.text
    assert "config principal=ana change cluster alpha keys=default_partition" in caplog.text
    assert "s3cret" not in caplog.text and "hunter2" not in caplog.text


@pytest.mark.parametrize("url", ["postgresql://:hunter2@db/h", "postgresql://u@db/h?password=hunter2&sslmode=require",
                                 "postgresql://u:hunter2@db/h", "not a url hunter2"])
def test_a_database_url_never_shows_its_password(url: str) -> None:
    from hpcbridge.settings_edit import shown

    assert "hunter2" not in shown("history.database_url", url)


@pytest.mark.parametrize(("key", "value", "read"), [
    ("mcp_tasks", "true", lambda s: s.mcp_tasks),
    ("dashboard.cookie_secure", "true", lambda s: s.dashboard.cookie_secure),
])
def test_a_boolean_setting_is_set_from_the_shell(config: Path, key: str, value: str,
                                                 read: Callable[[Settings], object]) -> None:
    """A TOML boolean: tomlkit hands it back as a plain bool (the first version called unwrap() on it)."""
    assert main(["settings", "set", key, value]) == 0
    assert read(load_settings()) is True
    assert main(["settings", "set", "mcp_tasks", '"yes"']) == 2
