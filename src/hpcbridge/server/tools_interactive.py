"""Interactive tools of the Slurm plan (18-26): one-shot srun, salloc sessions, saved profiles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastmcp import Context
from fastmcp.tools.base import ToolResult
from pydantic import Field

from .. import validate
from ..models import AllocationSpec
from ..services import profiles
from ..services.cluster import Cluster
from ..services.interactive import CommandOutput, SessionInfo, Sessions
from ..services.profiles import Profile
from . import render_sessions as render
from .outputs import NameDeleted
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
@dataclass(frozen=True)
class SessionList:
    sessions: list[SessionInfo]




@dataclass(frozen=True)
class ProfileList:
    profiles: list[Profile]


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
        spec = await profiles.allocation(c, partition, account, nodes, gpus_per_node, gpu_type, time_limit,
                                container_image, container_mounts, no_container_mount_home)
        out = await sessions.run_command(c, spec, command, working_directory, float(timeout))
        return reply(out, render.output(out))

    @kit.tool(read_only=False, destructive=False, idempotent=False, output=SessionInfo, task=True)
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
        spec = await profiles.allocation(c, partition, account, nodes, gpus_per_node, gpu_type, time_limit,
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
        python_env: Annotated[str | None, Field(description="Jupyter only: venv or conda directory to activate")] = None,
        modules: Annotated[list[str] | None, Field(description="Jupyter only: modules to load")] = None,
    ) -> ToolResult:
        """Save session settings under a name for start_session_from_profile (and start_kernel_session)."""
        profile = profiles.save(sessions.store, profile_name, {
            "partition": partition, "account": account, "nodes": nodes, "gpus_per_node": gpus_per_node,
            "gpu_type": gpu_type, "time_limit": time_limit, "container_image": container_image,
            "container_mounts": container_mounts, "no_container_mount_home": no_container_mount_home,
            "python_env": python_env, "modules": modules})
        return reply(profile, f"profile '{profile.name}' saved: " + render.profile_line(profile))

    @kit.tool(read_only=True, output=ProfileList)
    async def list_interactive_profiles(cluster: ClusterArg = None) -> ToolResult:
        """Saved and built-in (dev-8gpu, dev-1gpu, cpu-only) session profiles."""
        found = ProfileList(list(profiles.all_profiles(sessions.store, registry.get(cluster)).values()))
        return reply(found, "\n".join(render.profile_line(p) for p in found.profiles))

    @kit.tool(read_only=True, output=Profile)
    async def get_interactive_profile(profile_name: str, cluster: ClusterArg = None) -> ToolResult:
        """One profile's settings."""
        profile = profiles.one(sessions.store, registry.get(cluster), profile_name)
        return reply(profile, render.profile_line(profile))

    @kit.tool(read_only=False, destructive=True, idempotent=True, output=NameDeleted)
    async def delete_interactive_profile(profile_name: str) -> ToolResult:
        """Delete a saved profile (a built-in one cannot be deleted; a saved override of it can)."""
        profiles.delete(sessions.store, profile_name)
        return ToolResult(content=f"profile '{profile_name}' deleted", structured_content={"deleted": profile_name})

    @kit.tool(read_only=False, destructive=False, idempotent=False, output=SessionInfo, task=True)
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
        p = profiles.one(sessions.store, c, validate.name("profile_name", profile_name)).settings
        spec = await profiles.from_profile(c, p, time_limit)
        return await _start(c, spec, session_name, wait_timeout, on_timeout, ctx)
