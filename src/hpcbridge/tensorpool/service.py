"""TensorPool accounts (`[clusters.NAME] provider = "tensorpool"`): clusters that cost money while they exist,
jobs pushed to them, their output pulled home. Every change that costs or destroys needs confirm=true, and
nothing is ever retried; long operations return a request handle instead of holding the call.

Two things the `tp` CLI does that hpcbridge refuses (tensorpool/helpers.py): it runs, with a shell and the
API key in its environment, any `command` the engine sends during push and pull; and it writes pulled files
wherever the engine's names point. hpcbridge runs no engine-sent command (it answers that it refused) and
writes pulled files only inside the account's results directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import tomlkit
from websockets.exceptions import ConnectionClosed

from .. import private, validate
from ..config import ClusterConfig
from ..errors import InvalidParameter, NotFound, PolicyError, SchedulerError
from ..services.cluster import refuse_if_read_only
from . import checks, pull
from .engine import DEFAULT_ENGINE, Engine

Progress = Callable[[str], Awaitable[None]]
TEXT_CAP = 16 * 1024


@dataclass(frozen=True)
class Said:
    """What the engine said (scrubbed, capped), with the facts its protocol carries."""

    account: str
    message: str
    status: str = ""
    request_id: str | None = None
    cluster_id: str | None = None
    job_id: str | None = None
    done: bool = True
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Pulled:
    account: str
    job_id: str
    directory: str
    written: list[str]
    skipped: list[str]
    message: str


def _cap(text: str) -> str:
    return text if len(text) <= TEXT_CAP else text[:TEXT_CAP] + f"\n[cut: {len(text):,} characters]"


def price_class(instance_type: str, num_nodes: int) -> str:
    count, _, gpu = instance_type.partition("x")
    gpus = int(count) * num_nodes
    return f"{num_nodes} node(s) of {instance_type}: {gpus} {gpu} GPU(s) billed per hour while the cluster exists"


class TensorPool:
    def __init__(self, accounts: dict[str, ClusterConfig], environ: dict[str, str] | None = None) -> None:
        self.accounts = accounts
        self._environ = dict(os.environ if environ is None else environ)
        self._engines: dict[str, Engine] = {}

    def engine(self, account: str | None) -> Engine:
        name = account or next(iter(self.accounts), "")
        if name not in self.accounts:
            raise NotFound(f"no TensorPool account '{name}'; accounts: {', '.join(self.accounts) or 'none'} "
                           "(a [clusters.NAME] table with provider = \"tensorpool\")")
        if name not in self._engines:
            cfg = self.accounts[name]
            url = cfg.tensorpool_engine or self._environ.get("TENSORPOOL_ENGINE") or DEFAULT_ENGINE
            key = checks.api_key(self._environ, cfg.tensorpool_key_file)
            self._engines[name] = Engine(name, url, key, cfg.command_timeout)
        return self._engines[name]

    def check_writable(self, account: str | None, action: str) -> None:
        """The cluster object's read-only rule for an account (`read_only = true`): first in every change."""
        name = account or next(iter(self.accounts), "")
        if name in self.accounts:
            refuse_if_read_only(self.accounts[name], action)

    def _said(self, engine: Engine, message: str, **facts: object) -> Said:
        return Said(engine.account, _cap(engine.scrub(message)), **facts)  # type: ignore[arg-type]

    # --- account --------------------------------------------------------------------------------------
    async def me(self, account: str | None) -> Said:
        engine = self.engine(account)
        await engine.request("POST", "/health", body={"package_version": "hpcbridge (tp 0.0.9 protocol)"})
        return self._said(engine, (await engine.request("GET", "/user/info")).message)

    # --- clusters -------------------------------------------------------------------------------------
    async def cluster_create(self, account: str | None, instance_type: str, ssh_public_key: str, num_nodes: int,
                             name: str | None, confirm: bool, wait: float, progress: Progress) -> Said:
        self.check_writable(account, "creating a TensorPool cluster")
        kind = checks.instance_type(instance_type)
        key = checks.public_key(ssh_public_key)
        name = validate.optional_name("name", name)
        if not confirm:
            raise PolicyError(f"creating a TensorPool cluster costs money ({price_class(kind, num_nodes)}): "
                              "call again with confirm=true")
        engine = self.engine(account)
        body: dict[str, object] = {"instance_type": kind, "num_nodes": num_nodes, "deletion_protection": False,
                                   "public_keys": [key]}
        if name:
            body["tp_cluster_name"] = name
        answer = await engine.request("POST", "/cluster/create", body=body, ok=(202,))
        made = "The engine accepted the creation: check tensorpool_cluster_list, it may bill."
        rid = checks.engine_id("request id", answer.data.get("request_id"), made)
        cid = checks.engine_id("cluster id", answer.data.get("cluster_id"), made)
        said = self._said(engine, answer.message or "cluster creation initiated", request_id=rid,
                          cluster_id=cid, status="PENDING", done=False)
        return await self._follow(engine, said, wait, progress)

    async def cluster_list(self, account: str | None) -> Said:
        engine = self.engine(account)
        return self._said(engine, (await engine.request("GET", "/cluster/list")).message)

    async def cluster_info(self, account: str | None, cluster_id: str) -> Said:
        engine = self.engine(account)
        path = f"/cluster/info/{checks.identifier('cluster_id', cluster_id)}"
        return self._said(engine, (await engine.request("GET", path)).message, cluster_id=cluster_id)

    async def cluster_destroy(self, account: str | None, cluster_id: str, confirm: bool, wait: float,
                              progress: Progress) -> Said:
        self.check_writable(account, "destroying a TensorPool cluster")
        cid = checks.identifier("cluster_id", cluster_id)
        if not confirm:
            raise PolicyError(f"destroying TensorPool cluster {cid} ends every job on it and deletes its disks: "
                              "call again with confirm=true")
        engine = self.engine(account)
        answer = await engine.request("DELETE", f"/cluster/{cid}", ok=(202,))
        said = self._said(engine, answer.message or f"cluster {cid} destruction initiated",
                          request_id=checks.engine_id("request id", answer.data.get("request_id"),
                                                      f"The engine accepted destroying {cid}."),
                          cluster_id=cid, status="PENDING", done=False)
        return await self._follow(engine, said, wait, progress)

    async def request_status(self, account: str | None, request_id: str) -> Said:
        engine = self.engine(account)
        answer = await engine.request("GET", f"/request/info/{checks.identifier('request_id', request_id)}")
        status = str(answer.data.get("status", "")).upper()
        return self._said(engine, answer.message, request_id=request_id, status=status,
                          done=status in ("COMPLETED", "FAILED"))

    async def _follow(self, engine: Engine, said: Said, wait: float, progress: Progress) -> Said:
        """Poll the request up to `wait` seconds with progress; past that, return the handle."""
        if not said.request_id or wait <= 0:
            return said
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            now = await self.request_status(engine.account, said.request_id)
            await progress(f"{now.status}: {now.message}")
            if now.done:
                if now.status == "FAILED":
                    raise SchedulerError(f"TensorPool request {said.request_id} failed: {now.message}")
                return Said(said.account, now.message, now.status, said.request_id, said.cluster_id, done=True)
            await asyncio.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
        return Said(said.account, said.message, "PENDING", said.request_id, said.cluster_id, done=False,
                    notes=[f"still in progress after {wait:g}s: follow it with tensorpool_request_status"])

    # --- jobs -----------------------------------------------------------------------------------------
    def config_dir(self, account: str | None) -> Path:
        name = account or next(iter(self.accounts), "")
        return private.state_subdir("tensorpool", name, "configs")

    def results_dir(self, account: str | None) -> Path:
        name = account or next(iter(self.accounts), "")
        configured = self.accounts[name].tensorpool_results_dir if name in self.accounts else None
        return private.make_dir(Path(configured).expanduser()) if configured else \
            private.state_subdir("tensorpool", name, "results")

    def write_config(self, account: str | None, name: str, commands: list[str], outputs: list[str],
                     ignore: list[str], instance_type: str | None) -> Path:
        self.engine(account)  # the account exists
        name = validate.name("config_name", name)
        if not commands or any("\n" in c or not c.strip() for c in commands):
            raise InvalidParameter("commands", "empty, or a command with a newline", "a list of one-line commands")
        for path in [*outputs, *ignore]:
            if path.startswith("/") or ".." in Path(path).parts:
                raise InvalidParameter("outputs", f"{path!r}", "paths relative to the job's directory")
        doc = tomlkit.document()
        if instance_type:
            doc["instance_type"] = checks.instance_type(instance_type)
        doc["commands"], doc["outputs"], doc["ignore"] = commands, outputs, ignore
        target = self.config_dir(account) / f"{name}.tp.toml"
        private.write_text(target, tomlkit.dumps(doc))
        return target

    async def job_push(self, account: str | None, config_name: str, cluster_id: str, teardown: bool) -> Said:
        self.check_writable(account, "pushing a TensorPool job")
        engine = self.engine(account)
        path = self.config_dir(account) / f"{validate.name('config_name', config_name)}.tp.toml"
        if not path.exists():
            raise NotFound(f"no job config '{config_name}': write it with tensorpool_job_write_config")
        payload = {"tp_config": path.read_text(), "system": "Linux",
                   "cluster_id": checks.identifier("cluster_id", cluster_id), "teardown_cluster": teardown}
        job_id, said, notes = None, [], []
        try:
            async with engine.socket("/job/push", payload) as ws:
                async for raw in ws:
                    data = json.loads(raw)
                    job_id = job_id or checks.engine_id("job id", data.get("job_id"),
                                                        "The push may have started a job: check tensorpool_job_list.")
                    if data.get("message"):
                        said.append(str(data["message"]))
                    if data.get("command"):
                        notes.append(f"the engine asked to run a local command, which hpcbridge does not do: "
                                     f"{engine.scrub(str(data['command']))[:300]}")
                        await ws.send(json.dumps({"type": "command_result", "command": data["command"],
                                                  "exit_code": 1, "command_stdout": "",
                                                  "command_stderr": "refused: hpcbridge runs no engine command"}))
        except ConnectionClosed as exc:
            if exc.rcvd is None or exc.rcvd.code not in (1000, 1001):
                reason = exc.rcvd.reason if exc.rcvd else "connection lost"
                raise SchedulerError(f"TensorPool refused the push: {engine.scrub(reason)}"
                                     + (f" (job {job_id} may exist: check tensorpool_job_list)" if job_id else "")) from None
        if not job_id:
            raise SchedulerError("the push ended without a job id: " + engine.scrub(" | ".join(said))[:500])
        return Said(engine.account, _cap(engine.scrub("\n".join(said))), "running", job_id=job_id,
                    cluster_id=cluster_id, notes=notes)

    async def job_list(self, account: str | None) -> Said:
        engine = self.engine(account)
        return self._said(engine, (await engine.request("GET", "/job/list")).message)

    async def job_info(self, account: str | None, job_id: str) -> Said:
        engine = self.engine(account)
        answer = await engine.request("GET", f"/job/info/{checks.identifier('job_id', job_id)}")
        status = str((answer.data.get("job_info") or {}).get("status", ""))
        return self._said(engine, answer.message, status=status, job_id=job_id,
                          done=status in ("completed", "canceled", "error", "failed"))

    async def job_cancel(self, account: str | None, job_id: str, confirm: bool) -> Said:
        self.check_writable(account, "cancelling a TensorPool job")
        jid = checks.identifier("job_id", job_id)
        if not confirm:
            raise PolicyError(f"cancelling TensorPool job {jid} stops it for good: call again with confirm=true")
        engine = self.engine(account)
        answer = await engine.request("POST", f"/job/cancel/{jid}", ok=(200, 202))
        return self._said(engine, answer.message or f"job {jid} cancellation initiated", job_id=jid, done=False)

    async def job_listen(self, account: str | None, job_id: str, seconds: float, progress: Progress) -> Said:
        """Live output for up to `seconds` (each line also as progress); says whether the job is still on."""
        engine = self.engine(account)
        jid = checks.identifier("job_id", job_id)
        lines: list[str] = []
        final = ""
        try:
            async with asyncio.timeout(seconds):
                async with engine.socket(f"/job/listen/{jid}", None) as ws:
                    async for raw in ws:
                        data = json.loads(raw)
                        if data.get("status") in ("success", "error"):
                            final = str(data.get("message") or data["status"])
                            break
                        if data.get("message"):
                            lines.append(engine.scrub(str(data["message"])))
                            await progress(lines[-1][-200:])
        except TimeoutError:
            pass
        except ConnectionClosed:
            pass
        text = _cap("\n".join(lines)) + (f"\n{final}" if final else f"\n[still running after {seconds:g}s]")
        return Said(engine.account, text, "finished" if final else "running", job_id=jid, done=bool(final))

    async def job_pull(self, account: str | None, job_id: str, overwrite: bool) -> Pulled:
        engine = self.engine(account)
        jid = checks.identifier("job_id", job_id)
        answer = await engine.request("GET", f"/job/pull/{jid}", params={"dry_run": False, "system": "linux"})
        if answer.data.get("command"):
            raise PolicyError("the engine asked to run a local command to pull this job, which hpcbridge does "
                              f"not do: {engine.scrub(str(answer.data['command']))[:300]}")
        root = self.results_dir(account) / jid
        cfg = self.accounts[engine.account]
        limits = pull.Limits(cfg.tensorpool_pull_max_files, cfg.tensorpool_pull_max_file_bytes,
                             cfg.tensorpool_pull_max_bytes)
        items = pull.plan(root, answer.data.get("download_map") or {}, engine.url, limits)  # before any fetch
        fetched = [i for i in items if overwrite or not i.target.exists()]
        await pull.pull(fetched, root, engine.url, limits, engine.timeout)
        skipped = [i.name for i in items if i.name not in {f.name for f in fetched}]
        return Pulled(engine.account, jid, str(root), [i.name for i in fetched], skipped,
                      engine.scrub(answer.message))

    async def ssh_target(self, account: str | None, instance_id: str) -> checks.SshTarget:
        engine = self.engine(account)
        answer = await engine.request("GET", f"/ssh/{checks.identifier('instance_id', instance_id)}",
                                      params={"system": "Linux"})
        if not answer.data.get("command"):
            raise SchedulerError(f"TensorPool gave no ssh command for {instance_id}: {answer.message}")
        return checks.ssh_target(str(answer.data["command"]))

