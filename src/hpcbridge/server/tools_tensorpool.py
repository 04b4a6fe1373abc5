"""TensorPool's tools (the TensorPool MCP server's ten, plus tp me, live output, request handles, and adding
an instance as an ordinary SSH cluster). Costly or destructive calls need confirm=true; none is retried."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastmcp import Context
from fastmcp.tools.base import ToolResult
from pydantic import Field

from .. import validate
from ..config import ClusterConfig, config_file_path
from ..config_edit import add_cluster, read_document, write_document
from ..errors import InvalidParameter
from ..tensorpool.service import Pulled, Said, TensorPool
from . import confirm as confirming
from .toolkit import ToolKit, reply

Account = Annotated[str | None, Field(description="TensorPool account: a cluster table with provider = "
                                                  "\"tensorpool\" (default: the first)")]
Confirm = Annotated[bool, Field(description="true: go ahead without asking the user (needed when the client "
                                             "cannot ask): this costs money or cannot be undone")]
Wait = Annotated[int, Field(description="Seconds to follow the operation with progress before returning its "
                                        "request handle (0: return at once)", ge=0, le=600)]
ClusterId = Annotated[str, Field(description="TensorPool cluster id, e.g. c-1a2b3c")]
JobId = Annotated[str, Field(description="TensorPool job id")]


@dataclass(frozen=True)
class ConfigWritten:
    config_name: str
    path: str
    content: str


@dataclass(frozen=True)
class SshClusterAdded:
    cluster: str
    host: str
    user: str | None
    port: int | None
    config_file: str
    note: str


def _text(said: Said) -> str:
    facts = [f"{k}={v}" for k, v in (("cluster", said.cluster_id), ("job", said.job_id),
                                       ("request", said.request_id), ("status", said.status)) if v]
    head = f"[{said.account}{': ' + ', '.join(facts) if facts else ''}]"
    return "\n".join([head, said.message, *said.notes]).strip()


def register(kit: ToolKit, tp: TensorPool) -> None:
    def progress_of(ctx: Context):  # type: ignore[no-untyped-def]
        async def progress(message: str) -> None:
            await ctx.report_progress(0, None, message)

        return progress

    @kit.tool(read_only=True, output=Said)
    async def tensorpool_me(account: Account = None) -> ToolResult:
        """Check the API key and show who it belongs to (tp me)."""
        said = await tp.me(account)
        return reply(said, _text(said))

    @kit.tool(read_only=False, destructive=False, idempotent=False, output=Said)
    async def tensorpool_cluster_create(
        ctx: Context, instance_type: Annotated[str, Field(description="e.g. 1xH100, 8xB200")],
        ssh_public_key: Annotated[str, Field(description="One OpenSSH public key line (ssh-ed25519 AAAA... me@host)")],
        confirm: Confirm = False, num_nodes: Annotated[int, Field(ge=1, le=64)] = 1,
        name: Annotated[str | None, Field(description="Cluster name")] = None, wait_seconds: Wait = 0,
        account: Account = None,
    ) -> ToolResult:
        """Create a GPU cluster (billed while it exists): refused without confirm=true. Returns a request
        handle; wait_seconds follows provisioning with progress."""
        ok = await confirming.consent(ctx, confirm, f"Create a TensorPool cluster of {num_nodes} x {instance_type}? "
                                      "It is billed while it exists.", f"creating a {instance_type} cluster")
        if isinstance(ok, ToolResult):
            return ok
        said = await tp.cluster_create(account, instance_type, ssh_public_key, num_nodes, name, ok,
                                       float(wait_seconds), progress_of(ctx))
        return reply(said, _text(said))

    @kit.tool(read_only=True, output=Said)
    async def tensorpool_cluster_list(account: Account = None) -> ToolResult:
        """Your TensorPool clusters (the engine's listing)."""
        said = await tp.cluster_list(account)
        return reply(said, _text(said))

    @kit.tool(read_only=True, output=Said)
    async def tensorpool_cluster_info(cluster_id: ClusterId, account: Account = None) -> ToolResult:
        """One TensorPool cluster: nodes, status, instances."""
        said = await tp.cluster_info(account, cluster_id)
        return reply(said, _text(said))

    @kit.tool(read_only=False, destructive=True, idempotent=False, output=Said)
    async def tensorpool_cluster_destroy(ctx: Context, cluster_id: ClusterId, confirm: Confirm = False,
                                         wait_seconds: Wait = 0, account: Account = None) -> ToolResult:
        """Destroy a cluster (its jobs and disks go): refused without confirm=true; returns a request handle."""
        ok = await confirming.consent(ctx, confirm, f"Destroy TensorPool cluster {cluster_id}? Its jobs and disks go.",
                                      f"destroying cluster {cluster_id}")
        if isinstance(ok, ToolResult):
            return ok
        said = await tp.cluster_destroy(account, cluster_id, ok, float(wait_seconds), progress_of(ctx))
        return reply(said, _text(said))

    @kit.tool(read_only=True, output=Said)
    async def tensorpool_request_status(request_id: Annotated[str, Field(description="From create or destroy")],
                                        account: Account = None) -> ToolResult:
        """Where a cluster creation or destruction stands (PENDING, COMPLETED, FAILED)."""
        said = await tp.request_status(account, request_id)
        return reply(said, _text(said))

    @kit.tool(read_only=False, destructive=False, idempotent=True, output=ConfigWritten)
    async def tensorpool_job_write_config(
        config_name: Annotated[str, Field(description="Name of the config (letters, digits, . _ + -)")],
        commands: Annotated[list[str], Field(description="Commands the job runs, in order")],
        outputs: Annotated[list[str] | None, Field(description="Paths to keep as outputs, e.g. checkpoints/")] = None,
        ignore: Annotated[list[str] | None, Field(description="Paths not to upload, e.g. .venv")] = None,
        instance_type: Annotated[str | None, Field(description="e.g. 1xH100")] = None, account: Account = None,
    ) -> ToolResult:
        """Write a job config (tp.toml) into hpcbridge's TensorPool directory, for tensorpool_job_push."""
        path = tp.write_config(account, config_name, commands, outputs or [], ignore or [], instance_type)
        written = ConfigWritten(config_name, str(path), path.read_text())
        return reply(written, f"wrote {path}:\n{written.content}")

    @kit.tool(read_only=False, destructive=True, idempotent=False, output=Said)  # runs the job's commands
    async def tensorpool_job_push(config_name: Annotated[str, Field(description="A config written before")],
                                  cluster_id: ClusterId, teardown: Annotated[bool, Field(
                                      description="Destroy the cluster when the job ends")] = False,
                                  account: Account = None) -> ToolResult:
        """Push a job to a cluster. Commands the engine asks the client to run locally are refused (said)."""
        said = await tp.job_push(account, config_name, cluster_id, teardown)
        return reply(said, _text(said))

    @kit.tool(read_only=True, output=Said)
    async def tensorpool_job_list(account: Account = None) -> ToolResult:
        """Your TensorPool jobs (the engine's listing)."""
        said = await tp.job_list(account)
        return reply(said, _text(said))

    @kit.tool(read_only=True, output=Said)
    async def tensorpool_job_info(job_id: JobId, account: Account = None) -> ToolResult:
        """One job: the engine's description and its status (running, completed, canceled, failed)."""
        said = await tp.job_info(account, job_id)
        return reply(said, _text(said))

    @kit.tool(read_only=True, output=Said)
    async def tensorpool_job_listen(ctx: Context, job_id: JobId, seconds: Annotated[int, Field(
            description="Follow the live output this long", ge=1, le=600)] = 30, account: Account = None) -> ToolResult:
        """A job's live output (tp job listen) for up to `seconds`, each line also sent as progress."""
        said = await tp.job_listen(account, job_id, float(seconds), progress_of(ctx))
        return reply(said, _text(said))

    @kit.tool(read_only=False, destructive=False, idempotent=True, output=Pulled)
    async def tensorpool_job_pull(job_id: JobId, overwrite: Annotated[bool, Field(
            description="Replace files pulled before")] = False, account: Account = None) -> ToolResult:
        """Download a job's outputs into the account's results directory (<results>/<job id>/); a name that
        would land outside it is refused before anything is written."""
        pulled = await tp.job_pull(account, job_id, overwrite)
        text = (f"{len(pulled.written)} file(s) into {pulled.directory}: {', '.join(pulled.written) or 'none'}"
                + (f"; kept existing: {', '.join(pulled.skipped)}" if pulled.skipped else ""))
        return reply(pulled, text)

    @kit.tool(read_only=False, destructive=True, idempotent=False, output=Said)
    async def tensorpool_job_cancel(ctx: Context, job_id: JobId, confirm: Confirm = False,
                                    account: Account = None) -> ToolResult:
        """Cancel a job: the user is asked where the client can ask, else refused without confirm=true."""
        ok = await confirming.consent(ctx, confirm, f"Cancel TensorPool job {job_id}? It stops for good.",
                                      f"cancelling job {job_id}")
        if isinstance(ok, ToolResult):
            return ok
        said = await tp.job_cancel(account, job_id, ok)
        return reply(said, _text(said))

    @kit.tool(read_only=False, destructive=False, idempotent=False, output=SshClusterAdded)
    async def tensorpool_add_ssh_cluster(
        instance_id: Annotated[str, Field(description="Instance id from tensorpool_cluster_info, e.g. i-1a2b3c")],
        cluster_name: Annotated[str, Field(description="Name for the new hpcbridge cluster")],
        key_path: Annotated[str | None, Field(description="Private key for it (default: agent, ~/.ssh/id_*)")] = None,
        known_hosts: Annotated[str | None, Field(description="known_hosts file holding its host key "
                                                             "(default ~/.ssh/known_hosts)")] = None,
        account: Account = None,
    ) -> ToolResult:
        """Add a TensorPool instance (a Slurm login node) as an ordinary SSH cluster, in this server and in the
        config file; every other tool then works on it. Its host key must already be in known_hosts."""
        tp.check_writable(account, "adding an instance as a cluster")  # no writable cluster from a read-only one
        name = validate.name("cluster_name", cluster_name)
        target = await tp.ssh_target(account, instance_id)
        values: dict[str, object] = {"host": target.host}
        if target.user:
            values["user"] = target.user
        if target.port:
            values["port"] = target.port
        if key_path:
            values["key_path"] = validate.directory_path("key_path", key_path)
        if known_hosts:
            values["known_hosts"] = validate.directory_path("known_hosts", known_hosts)
        if name in kit.registry.settings.clusters:
            raise InvalidParameter("cluster_name", f"cluster '{name}' exists already", "a new name")
        path = config_file_path()
        doc = read_document(path)
        add_cluster(doc, name, values, replace=False)  # checked as the server reads it before it is written
        write_document(path, doc)
        kit.registry.settings.clusters[name] = ClusterConfig.model_validate({**values, "name": name})
        added = SshClusterAdded(name, target.host, target.user, target.port, str(path),
                                f"cluster '{name}' added; tools take cluster='{name}'")
        return reply(added, f"{added.note} ({target.user + '@' if target.user else ''}{target.host}"
                            f"{':' + str(target.port) if target.port else ''}; written to {path})")
