"""Container images (.sqsh for Pyxis/enroot): discovery, validation, and what submit_job needs."""

from __future__ import annotations

from dataclasses import dataclass

from .. import validate
from ..backends.base import ContainerUse
from ..directories import DirectoryRoot, glob_pattern, is_inside, mount_string
from ..errors import InvalidParameter, NotFound, PolicyError
from ..models import ContainerSpec
from .cluster import Cluster
from .listing import iso_time
from .sandbox import Sandbox

SQUASHFS_MAGIC = b"hsqs"  # little-endian 0x73717368, the first 4 bytes of every squashfs image


@dataclass(frozen=True)
class ContainerImage:
    name: str
    path: str
    size_bytes: int
    modified: str


@dataclass(frozen=True)
class ImageCheck:
    path: str
    valid: bool
    exists: bool
    readable: bool
    squashfs: bool
    size_bytes: int
    modified: str
    problems: list[str]


async def image_roots(cluster: Cluster) -> list[DirectoryRoot]:
    roots = [r for r in await Sandbox(cluster).roots() if r.kind == "images"]
    if not roots:
        raise NotFound(f"no image directory is configured for {cluster.name} (SLURM_IMAGE_DIR or image_dirs)")
    return roots


async def list_images(cluster: Cluster, image_dir: str | None = None, pattern: str | None = None) -> list[ContainerImage]:
    dirs = [r.path for r in await image_roots(cluster)]
    if image_dir:
        real, _ = await Sandbox(cluster).resolve(image_dir)
        dirs = [real]
    name = glob_pattern("pattern", pattern) if pattern else "*"
    if not name.endswith(".sqsh") and not name.endswith("*"):
        name += "*"
    images: list[ContainerImage] = []
    for directory in dirs:
        result = await cluster.run(["find", directory, "-maxdepth", "1", "-type", "f", "-name", name,
                                    "-name", "*.sqsh", "-printf", "%s\t%T@\t%p\\0"])
        for record in result.stdout.split("\0"):
            parts = record.split("\t", 2)
            if len(parts) == 3:
                images.append(ContainerImage(parts[2].rsplit("/", 1)[-1], parts[2], int(parts[0]),
                                             iso_time(float(parts[1]))))
    images.sort(key=lambda i: i.modified, reverse=True)
    return images


async def check_image(cluster: Cluster, path: str) -> ImageCheck:
    real, _ = await Sandbox(cluster).resolve(path, must_exist=False)
    problems: list[str] = []
    allowed = cluster.config.policy.allowed_image_dirs
    if allowed and not any(is_inside(real, d) for d in allowed):
        problems.append(f"not in an approved image directory ({', '.join(allowed)})")
    stat = await cluster.run(["stat", "-L", "-c", "%s\x1f%Y\x1f%F", "--", real])
    if not stat.ok:
        return ImageCheck(real, False, False, False, False, 0, "", [*problems, "does not exist"])
    size, mtime, kind = stat.stdout.strip().split("\x1f")
    if "regular" not in kind:
        problems.append(f"is a {kind}, not an image file")
    readable = (await cluster.run(["test", "-r", real])).ok
    if not readable:
        problems.append("is not readable by the cluster user")
    magic = await cluster.run(["head", "-c", "4", "--", real]) if readable else None
    squashfs = bool(magic and magic.stdout.encode("utf-8", "replace") == SQUASHFS_MAGIC)
    if readable and not squashfs:
        problems.append("is not a squashfs image (its first bytes are not 'hsqs')")
    return ImageCheck(real, not problems, True, readable, squashfs, int(size), iso_time(float(mtime)), problems)


async def require_image(cluster: Cluster, path: str) -> str:
    """The resolved image path, or a refusal saying what is wrong and what images exist."""
    check = await check_image(cluster, path)
    if check.valid:
        return check.path
    images = await list_images(cluster)
    names = ", ".join(i.path for i in images[:10]) or "none found"
    problems = "; ".join(check.problems)
    if any("approved" in p for p in check.problems):
        raise PolicyError(f"container image {path} {problems}; images: {names}")
    raise InvalidParameter("container_image", f"{path} {problems}", f"an image such as {names}")


async def default_mounts(cluster: Cluster) -> str:
    return mount_string(await Sandbox(cluster).roots())


async def prepare(
    cluster: Cluster, image: str, *, used_by: ContainerUse, mounts: str | None = None,
    workdir: str | None = None, env: str | None = None, name: str | None = None,
    no_mount_home: bool | None = None, remap_root: bool | None = None,
) -> tuple[ContainerSpec, dict[str, str]]:
    """A checked ContainerSpec, plus the NAME=value pairs of `env` that the script must export (Pyxis's
    --container-env takes variable names; their values come from the job's environment). `used_by` says
    where the options go: a batch script's directives, or an srun step (sessions, one-shots, the Jupyter
    server step)."""
    if not cluster.capabilities.containers:
        raise cluster.refuse(f"container_image (Pyxis containers) on '{cluster.name}'",
                     "start the container inside the script instead (e.g. apptainer exec IMAGE ...)")
    await cluster.check_containers(used_by)
    if image == "default":
        if not cluster.config.default_image:
            raise InvalidParameter("container_image", "'default' asked but no default image is configured",
                                   "an image path (list_container_images shows them)")
        image = cluster.config.default_image
    real = await require_image(cluster, image)
    names, values = validate.container_env(env)
    spec = ContainerSpec(
        image=real,
        mounts=validate.container_mounts(mounts) if mounts is not None else (await default_mounts(cluster) or None),
        workdir=validate.directive_text("container_workdir", workdir) if workdir else None,
        env_names=names,
        name=validate.name("container_name", name) if name else None,
        mount_home=None if no_mount_home is None else not no_mount_home,
        remap_root=remap_root,
    )
    return spec, values
