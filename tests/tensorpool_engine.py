"""A stand-in for TensorPool's engine on 127.0.0.1, for tests only: no TensorPool account is reachable here.

Written from the requests the real `tp` CLI (PyPI tensorpool 0.0.9, tensorpool/helpers.py) makes and the
fields it reads from the answers: `message` everywhere, `request_id` of 202 answers polled at /request/info,
`job_info.status` of /job/info, `download_map` of /job/pull, `command` of /ssh, and the websocket protocol of
/job/push and /job/listen (the key first, then a payload; `job_id`, `message`, `command`, `status` back).
The wording of messages is ours: TensorPool's own is unknown here. tests/integration/test_tensorpool_cli.py
drives the real CLI against it, so what hpcbridge is tested against is what the CLI accepts.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
import time
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket


@dataclass
class TpCluster:
    id: str
    instance_type: str
    num_nodes: int
    name: str
    public_keys: list[str]
    status: str = "PROVISIONING"
    instance_id: str = ""


@dataclass
class TpJob:
    id: str
    cluster_id: str
    config: dict[str, Any]
    started: float = field(default_factory=time.monotonic)
    status: str = "running"
    files: dict[str, bytes] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The job 'prints' one line per second for its configured number of seconds."""
        seconds = int(self.config.get("seconds", 3))
        done = min(seconds, int(time.monotonic() - self.started) + 1)
        return [f"step {i + 1}/{seconds}" for i in range(done)]

    def refresh(self) -> None:
        if self.status == "running" and time.monotonic() - self.started >= int(self.config.get("seconds", 3)):
            self.status = "completed"


class Engine:
    """mode: "ok", "error" (every request answers 500) or "hang" (every request waits forever).

    Hostile answers, for tests/security: `pull_answer` replaces what /job/pull answers, `redirect_to` is where
    /redirect sends a client, `next_id` is the id the next created cluster or pushed job gets, and
    /stream/<n> sends n bytes without a Content-Length."""

    def __init__(self, key: str, ssh_command: str = "", push_command: str = "") -> None:
        self.key = key
        self.mode = "ok"
        self.ssh_command = ssh_command  # what /ssh/<instance> answers (the test cluster's sshd)
        self.push_command = push_command  # a local command /job/push asks the client to run ("" = none)
        self.clusters: dict[str, TpCluster] = {}
        self.jobs: dict[str, TpJob] = {}
        self.requests: dict[str, tuple[str, str, int]] = {}  # id -> (kind, target, polls left)
        self.seen: list[tuple[str, str, dict[str, str]]] = []  # method, path, headers (as received)
        self.pull_answer: dict[str, Any] | None = None
        self.redirect_to = ""
        self.next_id: str | None = None
        self.url = ""
        self._server: uvicorn.Server | None = None

    # --- plumbing -------------------------------------------------------------------------------------
    def app(self) -> Starlette:
        routes = [
            Route("/health", self.health, methods=["POST"]),
            Route("/user/info", self.user_info),
            Route("/cluster/create", self.cluster_create, methods=["POST"]),
            Route("/cluster/list", self.cluster_list),
            Route("/cluster/info/{cid}", self.cluster_info),
            Route("/cluster/{cid}", self.cluster_destroy, methods=["DELETE"]),
            Route("/request/info/{rid}", self.request_info),
            Route("/ssh/{iid}", self.ssh),
            Route("/job/list", self.job_list),
            Route("/job/info/{jid}", self.job_info),
            Route("/job/cancel/{jid}", self.job_cancel, methods=["POST"]),
            Route("/job/pull/{jid}", self.job_pull),
            Route("/files/{jid}/{path:path}", self.file),
            Route("/redirect", self.redirect),
            Route("/stream/{size:int}", self.stream),
            WebSocketRoute("/job/push", self.job_push),
            WebSocketRoute("/job/listen/{jid}", self.job_listen),
        ]
        return Starlette(routes=routes)

    def start(self) -> str:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=port, log_level="warning")
        self._server = uvicorn.Server(config)
        threading.Thread(target=self._server.run, daemon=True).start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def stop(self) -> None:
        if self._server:
            self._server.should_exit = True

    async def _gate(self, request: Request) -> Response | None:
        """Record the request; answer for the failure modes and a wrong key, else None (go on)."""
        self.seen.append((request.method, request.url.path, dict(request.headers)))
        if self.mode == "hang":
            await asyncio.sleep(3600)
        if self.mode == "error":
            return JSONResponse({"message": "Internal server error (stand-in)"}, status_code=500)
        if request.headers.get("authorization") != f"Bearer {self.key}":
            return JSONResponse({"message": "Invalid API key"}, status_code=401)
        return None

    # --- account and clusters -------------------------------------------------------------------------
    async def health(self, request: Request) -> Response:
        return await self._gate(request) or JSONResponse({"message": ""})

    async def user_info(self, request: Request) -> Response:
        return await self._gate(request) or JSONResponse({"message": "alice@hpcb.test (organization hpcb-tests)"})

    async def cluster_create(self, request: Request) -> Response:
        if refused := await self._gate(request):
            return refused
        body = await request.json()
        cid = self.next_id or "c-" + secrets.token_hex(4)
        self.clusters[cid] = TpCluster(cid, body["instance_type"], body.get("num_nodes") or 1,
                                       body.get("tp_cluster_name") or cid, body.get("public_keys") or [])
        rid = "r-" + secrets.token_hex(4)
        self.requests[rid] = ("create", cid, 2)
        return JSONResponse({"message": f"Cluster {cid} creation initiated", "request_id": rid, "cluster_id": cid},
                            status_code=202)

    async def request_info(self, request: Request) -> Response:
        if refused := await self._gate(request):
            return refused
        rid = request.path_params["rid"]
        if rid not in self.requests:
            return JSONResponse({"message": f"Request {rid} not found"}, status_code=404)
        kind, target, left = self.requests[rid]
        if left > 0:
            self.requests[rid] = (kind, target, left - 1)
            return JSONResponse({"status": "PENDING", "message": f"{kind} {target}: in progress"},
                                headers={"Retry-After": "1"})
        if kind == "create":
            self.clusters[target].status = "RUNNING"
            self.clusters[target].instance_id = "i-" + target[2:]
        else:
            self.clusters.pop(target, None)
        return JSONResponse({"status": "COMPLETED", "message": f"{kind} {target}: done"})

    def _cluster_line(self, c: TpCluster) -> str:
        return f"{c.id}  {c.name}  {c.instance_type} x{c.num_nodes}  {c.status}  {c.instance_id or '-'}"

    async def cluster_list(self, request: Request) -> Response:
        if refused := await self._gate(request):
            return refused
        lines = [self._cluster_line(c) for c in self.clusters.values()] or ["No clusters"]
        return JSONResponse({"message": "\n".join(lines)})

    async def cluster_info(self, request: Request) -> Response:
        if refused := await self._gate(request):
            return refused
        c = self.clusters.get(request.path_params["cid"])
        if c is None:
            return JSONResponse({"message": f"Cluster {request.path_params['cid']} not found"}, status_code=404)
        return JSONResponse({"message": self._cluster_line(c)})

    async def cluster_destroy(self, request: Request) -> Response:
        if refused := await self._gate(request):
            return refused
        cid = request.path_params["cid"]
        if cid not in self.clusters:
            return JSONResponse({"message": f"Cluster {cid} not found"}, status_code=404)
        self.clusters[cid].status = "DESTROYING"
        rid = "r-" + secrets.token_hex(4)
        self.requests[rid] = ("destroy", cid, 1)
        return JSONResponse({"message": f"Cluster {cid} destruction initiated", "request_id": rid}, status_code=202)

    async def ssh(self, request: Request) -> Response:
        if refused := await self._gate(request):
            return refused
        iid = request.path_params["iid"]
        if not any(c.instance_id == iid for c in self.clusters.values()):
            return JSONResponse({"message": f"Instance {iid} not found"}, status_code=404)
        return JSONResponse({"command": self.ssh_command, "message": f"Connecting to {iid}"})

    # --- jobs -----------------------------------------------------------------------------------------
    async def job_list(self, request: Request) -> Response:
        if refused := await self._gate(request):
            return refused
        for job in self.jobs.values():
            job.refresh()
        lines = [f"{j.id}  {j.cluster_id}  {j.status}" for j in self.jobs.values()] or ["No jobs"]
        return JSONResponse({"message": "\n".join(lines)})

    async def _job(self, request: Request) -> TpJob | Response:
        """The job the path names (refreshed), or the answer that refuses the request."""
        if refused := await self._gate(request):
            return refused
        job = self.jobs.get(request.path_params["jid"])
        if job is None:
            return JSONResponse({"message": f"Job {request.path_params['jid']} not found"}, status_code=404)
        job.refresh()
        return job

    async def job_info(self, request: Request) -> Response:
        job = await self._job(request)
        if isinstance(job, Response):
            return job
        return JSONResponse({"message": f"{job.id} on {job.cluster_id}: {job.status}",
                             "job_info": {"status": job.status}})

    async def job_cancel(self, request: Request) -> Response:
        job = await self._job(request)
        if isinstance(job, Response):
            return job
        if job.status != "running":
            return JSONResponse({"message": f"Job {job.id} is already {job.status}"}, status_code=409)
        job.status = "canceled"
        return JSONResponse({"message": f"Job {job.id} cancellation initiated"}, status_code=202)

    async def job_pull(self, request: Request) -> Response:
        job = await self._job(request)
        if isinstance(job, Response):
            return job
        if self.pull_answer is not None:
            return JSONResponse(self.pull_answer)
        urls = {path: f"{self.url}/files/{job.id}/{path}" for path in job.files}
        return JSONResponse({"download_map": urls, "message": f"{len(urls)} file(s) to pull"})

    async def file(self, request: Request) -> Response:
        job = self.jobs.get(request.path_params["jid"])
        data = job.files.get(request.path_params["path"]) if job else None
        return Response(data, media_type="application/octet-stream") if data is not None else \
            PlainTextResponse("not found", status_code=404)

    async def redirect(self, request: Request) -> Response:
        return RedirectResponse(self.redirect_to, status_code=302)

    async def stream(self, request: Request) -> Response:
        size = request.path_params["size"]

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, size, 65536):
                yield b"x" * min(65536, size - start)

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    async def _ws_key(self, ws: WebSocket) -> bool:
        await ws.accept()
        self.seen.append(("WS", ws.url.path, dict(ws.headers)))
        first = await ws.receive_json()
        if first.get("TENSORPOOL_KEY") != self.key:
            await ws.send_json({"status": "error", "message": "Invalid API key"})
            await ws.close(code=1008, reason="invalid API key")
            return False
        return True

    async def job_push(self, ws: WebSocket) -> None:
        if not await self._ws_key(ws):
            return
        payload = await ws.receive_json()
        if payload.get("cluster_id") not in self.clusters:
            await ws.close(code=4004, reason=f"cluster {payload.get('cluster_id')} not found")
            return
        config = tomllib.loads(payload["tp_config"])
        jid = self.next_id or "j-" + secrets.token_hex(4)
        outputs = config.get("outputs") or []
        job = TpJob(jid, payload["cluster_id"], config,
                    files={f"{o.rstrip('/')}/result.txt": f"{jid} {o}\n".encode() for o in outputs})
        self.jobs[jid] = job
        await ws.send_json({"job_id": jid, "message": f"Job {jid} pushed to {payload['cluster_id']}"})
        if self.push_command:
            await ws.send_json({"command": self.push_command, "message": "syncing files"})
            await ws.receive_json()  # command_result
        await ws.close(code=1000)

    async def job_listen(self, ws: WebSocket) -> None:
        if not await self._ws_key(ws):
            return
        job = self.jobs.get(ws.path_params["jid"])
        if job is None:
            await ws.send_json({"status": "error", "message": f"Job {ws.path_params['jid']} not found"})
            await ws.close(code=1000)
            return
        sent = 0
        while True:
            job.refresh()
            lines = job.lines()
            for line in lines[sent:]:
                await ws.send_json({"message": line})
            sent = len(lines)
            if job.status != "running":
                await ws.send_json({"status": "success", "message": f"Job {job.id} {job.status}"})
                await ws.close(code=1000)
                return
            await asyncio.sleep(0.2)
