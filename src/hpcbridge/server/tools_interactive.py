"""Interactive tools of the Slurm plan (18-26): one-shot srun, salloc sessions, saved profiles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastmcp import Context
from fastmcp.tools.base import ToolResult
from pydantic import Field

from .. import principal, validate
from ..errors import InvalidParameter, NotFound
from ..models import AllocationSpec
from ..services import containers
from ..services.cluster import Cluster
from ..services.interactive import CommandOutput, SessionInfo, Sessions
from . import render_sessions as render
from .outputs import Profile
from .params import ClusterArg
from .toolkit import ToolKit, reply

Partition = Annotated[str | None, Field(description="Partition (default: the interactive partition)")]
Account = Annotated[str | None, Field(description="Account to charge")]
Nodes = Annotated[int, Field(description="Nodes", ge=1, le=64)]
Gpus = Annotated[int | None, Field(description="GPUs per node", ge=0, le=64)]
GpuType = Annotated[str | None, Field(description="GPU type, e.g. a100")]
TimeLimit = Annotated[str | None, Field(description="Time limit, e.g. 1:00:00 (default: configured)")]
Image = Annotated[str | None, Field(description="Container .sqsh image, or 'default'")]
Mounts = Annotated[str | None, Field(description="Container mounts SRC:DST,... (default: configured dirs)")]
NoHome = Annotated[bool, Field(description="Do not mount $HOME in the container")]
Command = Annotated[str, Field(description="Command line, run with bash -c")]
WorkDir = Annotated[str | None, Field(description="Working directory")]
Timeout = Annotated[int, Field(description="Seconds before the command is killed", ge=1, le=86400)]
SessionId = Annotated[str, Field(description="Session id (or name) from start_interactive_session")]
PROFILE_KEYS = ("partition", "account", "nodes", "gpus_per_node", "gpu_type", "time_limit", "container_image",
                "container_mounts", "no_container_mount_home")


@dataclass(frozen=True)
class SessionList:
    sessions: list[SessionInfo]




@dataclass(frozen=True)
class ProfileList:
    profiles: list[Profile]


def built_in_profiles(c: Cluster) -> dict[str, dict[str, Any]]:
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


async def allocation(c: Cluster, partition: str | None, account: str | None, nodes: int, gpus: int | None,
                     gpu_type: str | None, time_limit: str | None, image: str | None, mounts: str | None,
                     no_home: bool) -> AllocationSpec:
    cfg = c.config
    time_text = (time_limit or cfg.interactive_default_time).strip()
    validate.walltime_minutes("time_limit", time_text)
    container = None
    if image:
        container, _ = await containers.prepare(c, image, mounts=mounts, no_mount_home=no_home)
    elif mounts:
        raise InvalidParameter("container_mounts", "given without container_image", "a container_image as well")
    return AllocationSpec(
        partition=validate.name("partition", partition or cfg.interactive_partition),
        nodes=nodes, gpus_per_node=gpus or None, gpu_type=validate.optional_name("gpu_type", gpu_type),
        time_limit=time_text,
        account=validate.optional_name("account", account or cfg.interactive_account or cfg.account),
        container=container)


def register(kit: ToolKit, sessions: Sessions) -> None:
    registry = kit.registry

    async def _start(c: Cluster, spec: AllocationSpec, name: str | None, wait: int, on_timeout: str,
                     ctx: Context) -> ToolResult:
        async def progress(message: str) -> None:
            await ctx.report_progress(0, None, message)

        info = await sessions.start(c, spec, name, float(wait), on_timeout, progress)
        return reply(info, render.session(info))

    @kit.tool(read_only=False, destructive=True, idempotent=False, output=CommandOutput)  # runs any code
    async def run_interactive_command(
        command: Command, partition: Partition = None, account: Account = None, nodes: Nodes = 1,
        gpus_per_node: Gpus = None, gpu_type: GpuType = None, time_limit: TimeLimit = None,
        container_image: Image = None, container_mounts: Mounts = None, no_container_mount_home: NoHome = True,
        working_directory: WorkDir = None, timeout: Timeout = 600, cluster: ClusterArg = None,
    ) -> ToolResult:
        """Run one command on compute resources: srun allocates, runs it, and releases. On timeout the
        allocation is cancelled. Best for independent one-off commands."""
        c = registry.get(cluster)
        spec = await allocation(c, partition, account, nodes, gpus_per_node, gpu_type, time_limit,
                                container_image, container_mounts, no_container_mount_home)
        out = await sessions.run_command(c, spec, command, working_directory, float(timeout))
        return reply(out, render.output(out))

    @kit.tool(read_only=False, destructive=False, idempotent=False, output=SessionInfo)
    async def start_interactive_session(
        ctx: Context, session_name: Annotated[str | None, Field(description="Name for the session")] = None,
        partition: Partition = None, account: Account = None, nodes: Nodes = 1, gpus_per_node: Gpus = None,
        gpu_type: GpuType = None, time_limit: TimeLimit = None, container_image: Image = None,
        container_mounts: Mounts = None, no_container_mount_home: NoHome = True,
        wait_timeout: Annotated[int, Field(description="Seconds to wait for the allocation", ge=1, le=3600)] = 120,
        on_timeout: Annotated[Literal["cancel", "keep_waiting"], Field(
            description="If still pending after wait_timeout: cancel it, or keep waiting in the background"
        )] = "cancel",
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """Allocate resources with salloc and keep them; run commands with exec_in_session. While pending,
        progress notifications carry the pending reason. Ended by end_interactive_session, the idle
        timeout, or this server stopping."""
        c = registry.get(cluster)
        spec = await allocation(c, partition, account, nodes, gpus_per_node, gpu_type, time_limit,
                                container_image, container_mounts, no_container_mount_home)
        return await _start(c, spec, session_name, wait_timeout, on_timeout, ctx)

    @kit.tool(read_only=False, destructive=True, idempotent=False, output=CommandOutput)  # runs any code
    async def exec_in_session(session_id: SessionId, command: Command, working_directory: WorkDir = None,
                              timeout: Timeout = 600) -> ToolResult:
        """Run a command in a session's allocation (srun --jobid --overlap), with its container if it has one."""
        out = await sessions.exec(session_id, command, working_directory, float(timeout))
        return reply(out, render.output(out))

    @kit.tool(read_only=True, output=SessionList)
    async def list_interactive_sessions() -> ToolResult:
        """Sessions of this server: status (active, pending, ended and why), resources, time left."""
        found = SessionList(await sessions.overview())
        return reply(found, render.sessions(found.sessions))

    @kit.tool(read_only=True, output=SessionInfo)
    async def get_interactive_session_info(session_id: SessionId) -> ToolResult:
        """One session: resources, nodes, time remaining, container, and its recent commands."""
        info = await sessions.info(session_id)
        return reply(info, render.session(info))

    @kit.tool(read_only=False, destructive=True, idempotent=True, output=SessionInfo)
    async def end_interactive_session(session_id: SessionId) -> ToolResult:
        """End a session and release its allocation."""
        info = await sessions.end(session_id)
        return reply(info, render.session(info))

    @kit.tool(read_only=False, destructive=False, idempotent=True, output=Profile)
    async def save_interactive_profile(
        profile_name: Annotated[str, Field(description="Profile name, e.g. ml-research")],
        partition: Partition = None, account: Account = None, nodes: Nodes = 1, gpus_per_node: Gpus = None,
        gpu_type: GpuType = None, time_limit: TimeLimit = None, container_image: Image = None,
        container_mounts: Mounts = None, no_container_mount_home: NoHome = True,
    ) -> ToolResult:
        """Save session settings under a name for start_session_from_profile."""
        name = validate.name("profile_name", profile_name)
        if time_limit:
            validate.walltime_minutes("time_limit", time_limit)
        settings = {"partition": validate.optional_name("partition", partition),
                    "account": validate.optional_name("account", account), "nodes": nodes,
                    "gpus_per_node": gpus_per_node, "gpu_type": validate.optional_name("gpu_type", gpu_type),
                    "time_limit": time_limit, "container_image": container_image,
                    "container_mounts": container_mounts, "no_container_mount_home": no_container_mount_home}
        sessions.store.save_profile(principal.name(), name, settings)
        profile = Profile(name, False, settings)
        return reply(profile, f"profile '{name}' saved: " + render.profile_line(profile))

    def _profiles(cluster: str | None) -> dict[str, Profile]:
        found = {n: Profile(n, True, s) for n, s in built_in_profiles(registry.get(cluster)).items()}
        found.update({n: Profile(n, False, s) for n, s in sessions.store.profiles(principal.name()).items()})
        return found

    def _profile(name: str, cluster: str | None) -> Profile:
        found = _profiles(cluster)
        if name not in found:
            raise NotFound(f"no profile '{name}'; profiles: {', '.join(found)}")
        return found[name]

    @kit.tool(read_only=True, output=ProfileList)
    async def list_interactive_profiles(cluster: ClusterArg = None) -> ToolResult:
        """Saved and built-in (dev-8gpu, dev-1gpu, cpu-only) session profiles."""
        found = ProfileList(list(_profiles(cluster).values()))
        return reply(found, "\n".join(render.profile_line(p) for p in found.profiles))

    @kit.tool(read_only=True, output=Profile)
    async def get_interactive_profile(profile_name: str, cluster: ClusterArg = None) -> ToolResult:
        """One profile's settings."""
        profile = _profile(profile_name, cluster)
        return reply(profile, render.profile_line(profile))

    @kit.tool(read_only=False, destructive=True, idempotent=True)
    async def delete_interactive_profile(profile_name: str) -> ToolResult:
        """Delete a saved profile (a built-in one cannot be deleted; a saved override of it can)."""
        if not sessions.store.delete_profile(principal.name(), validate.name("profile_name", profile_name)):
            raise NotFound(f"no saved profile '{profile_name}' (built-in profiles cannot be deleted)")
        return ToolResult(content=f"profile '{profile_name}' deleted", structured_content={"deleted": profile_name})

    @kit.tool(read_only=False, destructive=False, idempotent=False, output=SessionInfo)
    async def start_session_from_profile(
        ctx: Context, profile_name: Annotated[str, Field(description="Profile to use")],
        session_name: Annotated[str | None, Field(description="Name for the session")] = None,
        time_limit: TimeLimit = None,
        wait_timeout: Annotated[int, Field(description="Seconds to wait for the allocation", ge=1, le=3600)] = 120,
        on_timeout: Annotated[Literal["cancel", "keep_waiting"], Field(description="See start_interactive_session")] = "cancel",
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """Start a session with a profile's settings (optionally a different time limit)."""
        c = registry.get(cluster)
        p = _profile(validate.name("profile_name", profile_name), cluster).settings
        unknown = set(p) - set(PROFILE_KEYS)
        if unknown:
            raise InvalidParameter("profile_name", f"profile has unknown keys {sorted(unknown)}", "a saved profile")
        spec = await allocation(c, p.get("partition"), p.get("account"), p.get("nodes") or 1, p.get("gpus_per_node"),
                                p.get("gpu_type"), time_limit or p.get("time_limit"), p.get("container_image"),
                                p.get("container_mounts"), p.get("no_container_mount_home", True))
        return await _start(c, spec, session_name, wait_timeout, on_timeout, ctx)
