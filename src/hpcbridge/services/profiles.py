"""Interactive session profiles (built-in, and saved per principal) and the allocation a request describes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .. import principal, validate
from ..errors import InvalidParameter, NotFound
from ..models import AllocationSpec
from ..store import Store
from . import containers
from .cluster import Cluster

PROFILE_KEYS = ("partition", "account", "nodes", "gpus_per_node", "gpu_type", "time_limit", "container_image",
                "container_mounts", "no_container_mount_home", "python_env", "modules")


@dataclass(frozen=True)
class Profile:
    name: str
    built_in: bool
    settings: dict[str, Any]


def built_in(c: Cluster) -> dict[str, dict[str, Any]]:
    cfg = c.config
    image = "default" if cfg.default_image else None
    cpu = (cfg.cpu_partitions or [cfg.default_partition or cfg.interactive_partition])[0]
    return {
        "dev-8gpu": {"partition": cfg.interactive_partition, "gpus_per_node": cfg.interactive_default_gpus,
                     "time_limit": cfg.interactive_default_time, "container_image": image},
        "dev-1gpu": {"partition": cfg.interactive_partition, "gpus_per_node": 1, "time_limit": "2:00:00",
                     "container_image": image},
        "cpu-only": {"partition": cpu, "gpus_per_node": None, "time_limit": cfg.interactive_default_time},
    }


def all_profiles(store: Store, c: Cluster) -> dict[str, Profile]:
    """The built-ins, overridden by the caller's saved profiles of the same name."""
    found = {n: Profile(n, True, s) for n, s in built_in(c).items()}
    found.update({n: Profile(n, False, s) for n, s in store.profiles(principal.name()).items()})
    return found


def one(store: Store, c: Cluster, name: str) -> Profile:
    found = all_profiles(store, c)
    if name not in found:
        raise NotFound(f"no profile '{name}'; profiles: {', '.join(found)}")
    profile = found[name]
    unknown = set(profile.settings) - set(PROFILE_KEYS)
    if unknown:
        raise InvalidParameter("profile_name", f"profile has unknown keys {sorted(unknown)}", "a saved profile")
    return profile


def save(store: Store, name: str, settings: dict[str, Any]) -> Profile:
    name = validate.name("profile_name", name)
    if settings.get("time_limit"):
        validate.walltime_minutes("time_limit", settings["time_limit"])
    if settings.get("python_env"):
        validate.directory_path("python_env", settings["python_env"])
    for module in settings.get("modules") or []:
        validate.module_name("modules", module)
    checked = {**settings, "partition": validate.optional_name("partition", settings.get("partition")),
               "account": validate.optional_name("account", settings.get("account")),
               "gpu_type": validate.optional_name("gpu_type", settings.get("gpu_type"))}
    store.save_profile(principal.name(), name, checked)
    return Profile(name, False, checked)


def delete(store: Store, name: str) -> None:
    if not store.delete_profile(principal.name(), validate.name("profile_name", name)):
        raise NotFound(f"no saved profile '{name}' (built-in profiles cannot be deleted)")


async def allocation(c: Cluster, partition: str | None, account: str | None, nodes: int, gpus: int | None,
                     gpu_type: str | None, time_limit: str | None, image: str | None, mounts: str | None,
                     no_home: bool) -> AllocationSpec:
    """The allocation a session or one-shot command asks for, with the cluster's interactive defaults."""
    cfg = c.config
    time_text = (time_limit or cfg.interactive_default_time).strip()
    validate.walltime_minutes("time_limit", time_text)
    container = None
    if image:
        container, _ = await containers.prepare(c, image, used_by="step", mounts=mounts, no_mount_home=no_home)
    elif mounts:
        raise InvalidParameter("container_mounts", "given without container_image", "a container_image as well")
    return AllocationSpec(
        partition=validate.name("partition", partition or cfg.interactive_partition),
        nodes=nodes, gpus_per_node=gpus or None, gpu_type=validate.optional_name("gpu_type", gpu_type),
        time_limit=time_text,
        account=validate.optional_name("account", account or cfg.interactive_account or cfg.account),
        container=container)


async def from_profile(c: Cluster, p: dict[str, Any], time_limit: str | None) -> AllocationSpec:
    return await allocation(c, p.get("partition"), p.get("account"), p.get("nodes") or 1, p.get("gpus_per_node"),
                            p.get("gpu_type"), time_limit or p.get("time_limit"), p.get("container_image"),
                            p.get("container_mounts"), p.get("no_container_mount_home", True))


def with_size(spec: AllocationSpec, cpus: int | None, memory: str | None) -> AllocationSpec:
    """CPUs and memory on top of a call's or a profile's allocation."""
    return replace(spec, cpus_per_task=cpus or spec.cpus_per_task, memory=memory or spec.memory)
