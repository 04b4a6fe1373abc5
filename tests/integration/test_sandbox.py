"""The sandbox on the real cluster: every escape in the corpus is refused, naming the allowed roots."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from hpcbridge.errors import HpcBridgeError, InvalidParameter, PolicyError
from hpcbridge.services import files, listing
from hpcbridge.services.cluster import Cluster

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
async def traps(cluster: Cluster, tc_env: dict[str, str]) -> str:
    """Symlinks that lead out, and secrets inside a root, made as the ordinary user."""
    root = tc_env["SLURM_USER_ROOT"]
    script = """set -e; cd "$1"
    ln -sfn /etc data/etc-link; ln -sfn "$HOME/.ssh" data/ssh-link; ln -sfn /tmp results/tmp-link
    ln -sfn ../models data/models-link; ln -sfn /etc/passwd data/passwd-link
    echo machine x login y password z > data/.netrc; echo KEY > data/server.pem; echo KEY > data/id_rsa
    echo history > results/.bash_history; mkdir -p models/inside && echo ok > models/inside/ok.txt"""
    result = await cluster.run(["sh", "-c", script, "traps", root])
    assert result.ok, result.stderr
    return root


CORPUS: list[tuple[str, str | None]] = [
    ("../../../../etc/passwd", "datasets"), ("/etc/passwd", None), ("/etc/shadow", None),
    ("etc-link/passwd", "datasets"), ("etc-link", "datasets"), ("passwd-link", "datasets"),
    ("ssh-link/authorized_keys", "datasets"), ("tmp-link/escape.txt", "results"),
    ("data/../../../../../etc/hostname", None), ("/lustre/../etc/passwd", None), ("//etc//passwd", None),
    ("/home/alice/.ssh/authorized_keys", None), ("/var/lib/hpcbridge-testcluster/user_key", None),
    (".netrc", "datasets"), ("server.pem", "datasets"), ("id_rsa", "datasets"), (".bash_history", "results"),
    ("/home/alice/.bashrc", None), ("/proc/self/environ", None), ("./../../../../etc", "models"),
    ("/etc/munge/munge.key", None), ("/root/.bash_history", None), ("..", "gpfs"),
]


def _operations(cluster: Cluster) -> dict[str, Callable[[str, str | None], Awaitable[object]]]:
    return {
        "read_file": lambda p, k: files.read_file(cluster, p, k),
        "write_file": lambda p, k: files.write_file(cluster, p, b"x", k, make_dirs=True),
        "append": lambda p, k: files.write_file(cluster, p, b"x", k, append=True),
        "file_info": lambda p, k: files.file_info(cluster, p, k),
        "delete": lambda p, k: files.delete_path(cluster, p, k, recursive=True),
        "list_directory": lambda p, k: listing.list_directory(cluster, p, k),
        "find_files": lambda p, k: listing.find_files(cluster, "*", k, path=p),
    }


# get_file_info and delete_file act on a symlink itself, not on where it points: a link that lives inside
# a root may be described or removed (test_deleting_a_symlink_...); only following it is an escape.
LINK_ITSELF = {("etc-link", "file_info"), ("etc-link", "delete"), ("passwd-link", "file_info"),
               ("passwd-link", "delete")}


async def test_the_whole_corpus_is_refused_for_every_operation(cluster: Cluster, traps: str) -> None:
    refused = attempted = 0
    failures = []
    for path, kind in CORPUS:
        for name, op in _operations(cluster).items():
            if (path, name) in LINK_ITSELF:
                continue
            attempted += 1
            try:
                await op(path, kind)
            except PolicyError as err:
                text = str(err)
                if "allowed:" in text and "/lustre/users/alice (user_root)" in text or "credential" in text:
                    refused += 1
                else:
                    failures.append((name, path, text))
            except HpcBridgeError as err:
                failures.append((name, path, f"{type(err).__name__}: {err}"))
            else:
                failures.append((name, path, "ALLOWED"))
    assert not failures, failures
    assert refused == attempted == len(CORPUS) * 7 - len(LINK_ITSELF)
    assert not Path("/tmp/escape.txt").exists()


async def test_a_link_out_is_described_not_followed(cluster: Cluster, traps: str) -> None:
    info = await files.file_info(cluster, "etc-link", "datasets")
    assert info.type == "symlink" and info.link_target == "/etc" and info.path.startswith(traps)


async def test_symlinks_that_stay_inside_are_followed(cluster: Cluster, traps: str) -> None:
    content = await files.read_file(cluster, "models-link/inside/ok.txt", "datasets")
    assert content.content == "ok\n" and content.path.endswith("/models/inside/ok.txt")


async def test_roots_and_their_parents_cannot_be_deleted(cluster: Cluster, traps: str) -> None:
    for path, kind in ((".", "models"), ("", "datasets"), ("/lustre/users", None), ("/lustre", None)):
        with pytest.raises(PolicyError, match="never deletes|outside"):
            await files.delete_path(cluster, path or ".", kind, recursive=True)
    assert (await cluster.run(["test", "-d", f"{traps}/models"])).ok


async def test_a_directory_is_not_deleted_without_recursive(cluster: Cluster, traps: str) -> None:
    await files.write_file(cluster, "doomed/a.txt", b"a", "results", make_dirs=True)
    with pytest.raises(InvalidParameter, match="recursive"):
        await files.delete_path(cluster, "doomed", "results")
    await files.delete_path(cluster, "doomed", "results", recursive=True)
    assert not (await cluster.run(["test", "-e", f"{traps}/results/doomed"])).ok


async def test_deleting_a_symlink_removes_the_link_not_its_target(cluster: Cluster, traps: str) -> None:
    await cluster.run(["ln", "-sfn", f"{traps}/models/inside", f"{traps}/data/inside-link"])
    await files.delete_path(cluster, "inside-link", "datasets")
    assert (await cluster.run(["test", "-f", f"{traps}/models/inside/ok.txt"])).ok


async def test_concurrent_writes_leave_one_whole_version_and_no_temp_files(cluster: Cluster, traps: str) -> None:
    name = f"race-{uuid.uuid4().hex[:6]}.txt"
    versions = [(f"writer {i}\n" * 5000).encode() for i in range(12)]
    await asyncio.gather(*(files.write_file(cluster, name, v, "results") for v in versions))
    final = await files.read_file(cluster, name, "results", max_bytes=1024 * 1024)
    assert final.content.encode() in versions
    leftovers = await cluster.run(["sh", "-c", 'ls -a "$1" | grep -c hpcbridge || true', "x", f"{traps}/results"])
    assert leftovers.stdout.strip() == "0"


async def test_concurrent_appends_lose_nothing(cluster: Cluster, traps: str) -> None:
    name = f"append-{uuid.uuid4().hex[:6]}.log"
    await files.write_file(cluster, name, b"", "logs")
    await asyncio.gather(*(files.write_file(cluster, name, f"line {i}\n".encode(), "logs", append=True)
                           for i in range(20)))
    lines = (await files.read_file(cluster, name, "logs")).content.splitlines()
    assert sorted(lines) == sorted(f"line {i}" for i in range(20))


async def test_large_file_reads_are_capped_and_say_so(cluster: Cluster, traps: str) -> None:
    await cluster.run(["sh", "-c", 'seq 1 1000000 > "$1/big.txt"', "x", f"{traps}/results"])
    head = await files.read_file(cluster, "big.txt", "results")
    assert head.truncated and head.returned_bytes <= 64 * 1024 and head.size_bytes == 6888896
    assert "max_bytes=65536" in head.note and head.content.startswith("1\n2\n3\n")
    tail = await files.read_file(cluster, "big.txt", "results", tail_lines=3)
    assert tail.content == "999998\n999999\n1000000\n" and tail.truncated
    first = await files.read_file(cluster, "big.txt", "results", head_lines=2)
    assert first.content == "1\n2\n" and "first 2 lines" in first.note


async def test_binary_needs_consent_and_encodings_work(cluster: Cluster, traps: str) -> None:
    await cluster.run(["sh", "-c", 'printf "a\\000b" > "$1/blob.bin"; printf "caf\\351\\n" > "$1/latin.txt"',
                       "x", f"{traps}/results"])
    with pytest.raises(PolicyError, match="allow_binary"):
        await files.read_file(cluster, "blob.bin", "results")
    assert (await files.read_file(cluster, "blob.bin", "results", allow_binary=True)).binary
    assert (await files.read_file(cluster, "latin.txt", "results", encoding="latin-1")).content == "café\n"
    with pytest.raises(InvalidParameter, match="encoding"):
        await files.read_file(cluster, "latin.txt", "results", encoding="klingon")


@pytest.mark.skipif(os.geteuid() != 0, reason="hiding the Pyxis stand-in from sbatch needs root")
async def test_a_cluster_without_pyxis_is_named_before_submission(cluster: Cluster) -> None:
    from hpcbridge.services import containers

    conf = Path("/etc/slurm/plugstack.conf.d/pyxis.conf")
    saved = conf.read_text()
    conf.unlink()
    cluster.cache.invalidate("containers:")
    try:
        with pytest.raises(HpcBridgeError, match="does not know --container-image"):
            await containers.prepare(cluster, "default", used_by="batch")
    finally:
        conf.write_text(saved)
        cluster.cache.invalidate("containers:")
    spec, _ = await containers.prepare(cluster, "default", used_by="batch")
    assert spec.image.endswith("pytorch-24.01.sqsh")


async def test_policy_restricts_images_to_approved_directories(cluster: Cluster) -> None:
    from hpcbridge.config import Policy
    from hpcbridge.services import containers
    from hpcbridge.services.cluster import Cluster as ClusterService

    config = cluster.config.model_copy(update={"policy": Policy(allowed_image_dirs=["/lustre/approved"])})
    restricted = ClusterService(config, cluster.transport)
    check = await containers.check_image(restricted, "/lustre/images/pytorch-24.01.sqsh")
    assert not check.valid and any("approved" in p for p in check.problems) and check.squashfs
    with pytest.raises(PolicyError, match="approved image directory"):
        await containers.require_image(restricted, "/lustre/images/pytorch-24.01.sqsh")
