"""Directory layout, mount strings, sandbox decisions and container directives (pure)."""

from __future__ import annotations

import pytest

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
from hpcbridge.schedulers import slurm_build as b

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
    with pytest.raises(PolicyError, match="outside"):
        check_allowed("/img/a.sqsh", ROOTS, writing=True, shown="x")  # image directories are read-only


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
    assert b.parse_container_env("A=1,B, C=x=y") == (("A", "B", "C"), {"A": "1", "C": "x=y"})
    assert b.container_mounts(" /a:/b , /c:/d:ro ") == "/a:/b,/c:/d:ro"
    for bad in ("/a:/b;id", "/a b:/c", "$(id):/x"):
        with pytest.raises(InvalidParameter, match="container_mounts"):
            b.container_mounts(bad)
    with pytest.raises(InvalidParameter, match="env"):
        b.parse_container_env("A-B=1")
