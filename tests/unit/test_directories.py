"""Directory layout, mount strings, sandbox decisions and container directives (pure)."""

from __future__ import annotations

import pytest

from hpcbridge import validate
from hpcbridge.backends.slurm import build as b
from hpcbridge.directories import (
    DirectoryRoot,
    age_minutes,
    check_allowed,
    configured_roots,
    glob_pattern,
    is_sensitive,
    mount_string,
    refuse_root_removal,
    size_bytes,
)
from hpcbridge.errors import InvalidParameter, PolicyError

from ..conftest import DATA


def test_defaults_under_the_user_root_and_mounts() -> None:
    roots = configured_roots("/lustre/u", {"gpfs": "/lustre", "scratch": None}, ["/img"])
    paths = {r.kind: r.path for r in roots}
    assert paths == {"datasets": "/lustre/u/data", "results": "/lustre/u/results", "models": "/lustre/u/models",
                     "logs": "/lustre/u/logs", "projects": "/lustre/u/Projects", "container_root": "/lustre/u/root",
                     "gpfs": "/lustre", "images": "/img"}
    assert mount_string(roots) == ("/lustre/u/data:/datasets,/lustre/u/results:/results,/lustre/u/models:/models,"
                                   "/lustre/u/logs:/logs,/lustre/u/Projects:/projects,/lustre/u/root:/root,"
                                   "/lustre:/lustre")


ROOTS = [DirectoryRoot("user_root", "/lustre/u", None), DirectoryRoot("models", "/lustre/u/models", "/models"),
         DirectoryRoot("images", "/img", None, writable=False)]


@pytest.mark.parametrize("real", ["/etc/passwd", "/lustre/u2/x", "/lustre", "/", "/lustre/uu", "/img2/a"])
def test_outside_is_refused_naming_the_roots(real: str) -> None:
    with pytest.raises(PolicyError) as err:
        check_allowed(real, ROOTS, writing=False, shown=real)
    assert "/lustre/u (user_root)" in str(err.value) and "/img (images)" in str(err.value)


def test_inside_is_allowed_and_the_most_specific_root_wins() -> None:
    assert check_allowed("/lustre/u/models/llama/ckpt", ROOTS, writing=True, shown="x").kind == "models"
    assert check_allowed("/img/a.sqsh", ROOTS, writing=False, shown="x").kind == "images"
    with pytest.raises(PolicyError, match="read-only images directory"):
        check_allowed("/img/a.sqsh", ROOTS, writing=True, shown="x")  # image directories are read-only


def test_an_image_directory_inside_a_writable_root_stays_read_only() -> None:
    roots = [DirectoryRoot("user_root", "/lustre/u", None), DirectoryRoot("images", "/lustre/u/images", None, False)]
    assert check_allowed("/lustre/u/images/x.sqsh", roots, writing=False, shown="x").kind == "images"
    with pytest.raises(PolicyError, match="read-only images directory /lustre/u/images"):
        check_allowed("/lustre/u/images/x.sqsh", roots, writing=True, shown="images/x.sqsh")


HOME_ROOTS = [DirectoryRoot("user_root", "/home/a", None), DirectoryRoot("datasets", "/home/a/.cache/ds", "/datasets")]


@pytest.mark.parametrize("path", ["/home/a/.bashrc.d/x.sh", "/home/a/.zshenv", "/home/a/.config/anything",
                                  "/home/a/.local/share/hpcbridge/hpcbridge.sqlite3", "/home/a/.cache/other",
                                  "/home/a/.newtool/token", "/home/a/.cache"])
def test_dot_entries_of_the_login_home_are_private(path: str) -> None:
    with pytest.raises(PolicyError, match="private"):
        check_allowed(path, HOME_ROOTS, writing=False, shown=path, home="/home/a")


def test_a_configured_directory_inside_a_dot_directory_is_usable() -> None:
    assert check_allowed("/home/a/.cache/ds/x.csv", HOME_ROOTS, writing=True, shown="x", home="/home/a").kind \
        == "datasets"
    assert check_allowed("/home/a/results/x", HOME_ROOTS, writing=True, shown="x", home="/home/a").kind \
        == "user_root"


@pytest.mark.parametrize("path", [
    "/lustre/u/.bash_aliases", "/lustre/u/.zprofile", "/lustre/u/.zlogin", "/lustre/u/.config/fish/config.fish",
    "/lustre/u/venv/lib/python3.11/site-packages/evil.pth", "/lustre/u/.gitconfig", "/lustre/u/.config/gh/hosts.yml",
    "/lustre/u/.cache/huggingface/token", "/lustre/u/.pypirc", "/lustre/u/.npmrc", "/lustre/u/.my.cnf",
    "/lustre/u/.config/enroot/.credentials", "/lustre/u/.config/rclone/rclone.conf", "/lustre/u/.s3cfg",
    "/lustre/u/.apptainer/docker-config.json", "/lustre/u/.ssh2/id_ed25519_sk", "/lustre/u/id_ecdsa_sk",
    "/lustre/u/.config/hpcbridge/config.toml",
])
def test_named_secret_and_startup_files_are_refused_outside_home(path: str) -> None:
    with pytest.raises(PolicyError):
        check_allowed(path, ROOTS, writing=False, shown=path)


@pytest.mark.parametrize("path", [
    "/lustre/u/.ssh/id_ed25519", "/lustre/u/.ssh", "/lustre/u/data/server.pem", "/lustre/u/tls.key",
    "/lustre/u/.netrc", "/lustre/u/.git-credentials", "/lustre/u/.bash_history", "/lustre/u/.python_history",
    "/lustre/u/.aws/credentials", "/lustre/u/.config/gcloud/credentials.db", "/lustre/u/.kube/config",
    "/lustre/u/.docker/config.json", "/etc/munge/munge.key", "/lustre/u/id_rsa", "/lustre/u/.bashrc",
    "/lustre/u/.pgpass",
])
def test_sensitive_files_are_refused_even_inside_a_root(path: str) -> None:
    assert is_sensitive(path)
    with pytest.raises(PolicyError, match="credential or private"):
        check_allowed(path, ROOTS, writing=False, shown=path)


@pytest.mark.parametrize("path", ["/lustre/u/data/train.key.txt.gz", "/lustre/u/keys/readme.md",
                                  "/lustre/u/models/ssh-notes.txt"])
def test_ordinary_names_are_not_mistaken_for_secrets(path: str) -> None:
    assert not is_sensitive(path)


def test_roots_and_their_parents_are_never_deleted() -> None:
    for real in ("/lustre/u", "/lustre/u/models", "/lustre", "/"):
        with pytest.raises(PolicyError, match="never deletes"):
            refuse_root_removal(real, ROOTS)
    refuse_root_removal("/lustre/u/models/old", ROOTS)


def test_sizes_ages_patterns() -> None:
    assert size_bytes("min_size", "1G") == 1024**3 and size_bytes("min_size", "100M") == 100 * 1024**2
    assert size_bytes("min_size", "512") == 512 and age_minutes("max_age", "30d") == 43200
    assert age_minutes("max_age", "24h") == 1440 and glob_pattern("pattern", "checkpoint-*") == "checkpoint-*"
    for bad in ("1X", "big"):
        with pytest.raises(InvalidParameter, match="min_size"):
            size_bytes("min_size", bad)
    for bad in ("../x*", "a/b", "$(id)", "a'b"):
        with pytest.raises(InvalidParameter, match="pattern"):
            glob_pattern("pattern", bad)


def test_container_job_script_reference() -> None:
    spec = b.ContainerSpec(image="/lustre/images/pytorch-24.01.sqsh", mounts="/data:/data:ro,/scratch:/scratch",
                           workdir="/workspace", env_names=("WANDB_MODE", "HF_HOME"), name="dev",
                           mount_home=False, remap_root=True)
    req = b.JobRequest(script_content="python train.py", partition="gpu", gpus=4, gpu_type="a100",
                       time_limit="24:00:00", env={"WANDB_MODE": "offline"}, container=spec)
    assert b.render_script(req) == (DATA / "scripts" / "container-training.sh").read_text()
    assert spec.argv()[-2:] == ["--no-container-mount-home", "--container-remap-root"]


def test_container_env_and_mounts_forms() -> None:
    assert validate.container_env("A=1,B, C=x=y") == (("A", "B", "C"), {"A": "1", "C": "x=y"})
    assert validate.container_mounts(" /a:/b , /c:/d:ro ") == "/a:/b,/c:/d:ro"
    for bad in ("/a:/b;id", "/a b:/c", "$(id):/x"):
        with pytest.raises(InvalidParameter, match="container_mounts"):
            validate.container_mounts(bad)
    with pytest.raises(InvalidParameter, match="env"):
        validate.container_env("A-B=1")
