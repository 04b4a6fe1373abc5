"""A Jupyter server's REST API and its kernels' websocket (the legacy JSON protocol of jupyter_server's
/api/kernels/<id>/channels): sessions, contents, interrupt/restart, and execute_request.

The token travels in the Authorization header only: never in a URL, which servers and proxies log.
One websocket per kernel stays open; messages are routed to the execution whose msg_id is their parent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from ..errors import HpcBridgeError, NotFound, TransportError

log = logging.getLogger("hpcbridge.jupyter")
logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
Address = Callable[[], Awaitable[tuple[str, int]]]
Message = dict[str, Any]
OnMessage = Callable[[str, Message], Awaitable[None]]


class ServerGone(HpcBridgeError):
    """The Jupyter server does not answer (its job ended, or the node is gone)."""


@dataclass(frozen=True)
class KernelSession:
    id: str  # the Jupyter session id
    path: str  # notebook path, relative to the server's root_dir
    kernel_id: str
    execution_state: str
    last_activity: str


def _session(data: dict[str, Any]) -> KernelSession:
    kernel = data.get("kernel") or {}
    return KernelSession(data["id"], data.get("path", ""), kernel.get("id", ""),
                         kernel.get("execution_state", ""), kernel.get("last_activity", ""))


class JupyterClient:
    def __init__(self, address: Address, token: str, timeout: float = 30.0) -> None:
        self._address = address  # asked again per connection: a forward is re-made after an SSH reconnect
        self._token = token
        self._timeout = timeout
        self._channels: dict[str, KernelChannel] = {}
        self._client: httpx.AsyncClient | None = None
        self._base = ""

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self._token}"}

    async def _http(self) -> httpx.AsyncClient:
        """One pooled client per address: keep-alive saves a forwarded channel and a TCP handshake per call;
        a new address (the forward re-made after an SSH reconnect) gets a new client."""
        host, port = await self._address()
        base = f"http://{host}:{port}"
        if self._client is None or self._base != base:
            if self._client is not None:
                await self._client.aclose()
            self._client = httpx.AsyncClient(base_url=base, headers=self._auth, timeout=self._timeout)
            self._base = base
        return self._client

    async def request(self, method: str, path: str, body: Any = None, timeout: float | None = None) -> Any:
        try:
            http = await self._http()
            response = await http.request(method, path, json=body, timeout=timeout or self._timeout)
        except (httpx.TransportError, OSError) as exc:
            raise ServerGone(f"the Jupyter server does not answer ({type(exc).__name__}: {exc})") from exc
        if response.status_code == 404:
            raise NotFound(f"{path}: not found on the Jupyter server")
        if response.status_code >= 400:
            raise TransportError(f"Jupyter server: {method} {path} -> {response.status_code} "
                                 f"{response.text[:300]}", transient=False)
        return response.json() if response.content else None

    async def status(self, timeout: float = 5.0) -> dict[str, Any]:
        return dict(await self.request("GET", "/api/status", timeout=timeout))

    async def sessions(self) -> list[KernelSession]:
        return [_session(s) for s in await self.request("GET", "/api/sessions")]

    async def new_kernel(self, kernel_name: str = "python3") -> str:
        """A kernel without a session (a warm start's spare), adopted later by new_session(kernel_id=...)."""
        return str((await self.request("POST", "/api/kernels", {"name": kernel_name}, timeout=120))["id"])

    async def new_session(self, path: str, kernel_name: str = "python3", kernel_id: str = "") -> KernelSession:
        # with an id the server adopts that kernel; one no longer there (culled when idle) gets a new kernel
        kernel = {"id": kernel_id} if kernel_id else {"name": kernel_name}
        body = {"path": path, "name": path.rsplit("/", 1)[-1], "type": "notebook", "kernel": kernel}
        return _session(await self.request("POST", "/api/sessions", body, timeout=120))

    async def end_session(self, session_id: str) -> None:
        await self.request("DELETE", f"/api/sessions/{quote(session_id)}")

    async def interrupt(self, kernel_id: str) -> None:
        await self.request("POST", f"/api/kernels/{quote(kernel_id)}/interrupt")

    async def restart(self, kernel_id: str) -> None:
        await self.request("POST", f"/api/kernels/{quote(kernel_id)}/restart", timeout=120)

    async def read_notebook(self, path: str) -> dict[str, Any] | None:
        try:
            model = await self.request("GET", f"/api/contents/{quote(path)}?type=notebook&content=1")
        except NotFound:
            return None
        return dict(model["content"])

    async def save_notebook(self, path: str, notebook: dict[str, Any]) -> None:
        await self.request("PUT", f"/api/contents/{quote(path)}",
                           {"type": "notebook", "format": "json", "content": notebook})

    def channel(self, kernel_id: str) -> KernelChannel:
        if kernel_id not in self._channels:
            self._channels[kernel_id] = KernelChannel(self, kernel_id)
        return self._channels[kernel_id]

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _open_socket(self, kernel_id: str, session: str) -> ClientConnection:
        host, port = await self._address()
        url = f"ws://{host}:{port}/api/kernels/{quote(kernel_id)}/channels?session_id={session}"
        try:
            return await connect(url, additional_headers=self._auth, max_size=256 * 1024 * 1024,
                                 open_timeout=self._timeout, ping_interval=20)
        except (OSError, TimeoutError, WebSocketException) as exc:
            if "404" in str(exc):
                raise NotFound(f"kernel {kernel_id} is not running on the Jupyter server") from exc
            raise ServerGone(f"cannot open the kernel's websocket ({type(exc).__name__}: {exc})") from exc


@dataclass
class Execution:
    msg_id: str
    messages: asyncio.Queue[Message]


class KernelChannel:
    """One websocket to one kernel; a reader task routes replies to the waiting execution."""

    def __init__(self, client: JupyterClient, kernel_id: str) -> None:
        self.client = client
        self.kernel_id = kernel_id
        self.session = uuid.uuid4().hex
        self._socket: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: dict[str, asyncio.Queue[Message]] = {}
        self._lock = asyncio.Lock()

    async def _ensure(self) -> ClientConnection:
        async with self._lock:
            if self._socket is None or self._reader is None or self._reader.done():
                self._socket = await self.client._open_socket(self.kernel_id, self.session)
                self._reader = asyncio.create_task(self._read(self._socket))
            return self._socket

    async def _read(self, socket: ClientConnection) -> None:
        try:
            async for raw in socket:
                msg = json.loads(raw)
                parent = (msg.get("parent_header") or {}).get("msg_id")
                queue = self._waiting.get(parent or "")
                if queue is not None:
                    queue.put_nowait(msg)
        except (WebSocketException, OSError, json.JSONDecodeError) as exc:
            log.info("kernel %s websocket closed: %s", self.kernel_id, exc)
        finally:
            for queue in self._waiting.values():
                queue.put_nowait({"msg_type": "_closed", "header": {"msg_type": "_closed"}, "content": {}})

    def _request(self, msg_type: str, content: dict[str, Any]) -> Message:
        header = {"msg_id": uuid.uuid4().hex, "username": "hpcbridge", "session": self.session,
                  "date": datetime.now(UTC).isoformat(), "msg_type": msg_type, "version": "5.3"}
        return {"header": header, "parent_header": {}, "metadata": {}, "content": content, "channel": "shell",
                "buffers": []}

    async def execute(self, code: str, on_message: OnMessage, store_history: bool = True) -> str:
        """Send code; hand every output message to on_message (awaited: one at a time, in order) until the
        kernel is idle again and has replied. Returns the reply's status (ok, error, aborted). Raises ServerGone if the socket closes."""
        socket = await self._ensure()
        msg = self._request("execute_request", {
            "code": code, "silent": False, "store_history": store_history, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True})
        queue: asyncio.Queue[Message] = asyncio.Queue()
        msg_id = msg["header"]["msg_id"]
        self._waiting[msg_id] = queue
        try:
            await socket.send(json.dumps(msg))
            return await self._collect(queue, on_message)
        except (WebSocketException, OSError) as exc:
            raise ServerGone(f"the kernel's websocket broke: {exc}") from exc
        finally:
            self._waiting.pop(msg_id, None)

    @staticmethod
    async def _collect(queue: asyncio.Queue[Message], on_message: OnMessage) -> str:
        idle, status = False, ""
        while not (idle and status):
            msg = await queue.get()
            kind = msg.get("msg_type") or msg["header"]["msg_type"]
            content = msg.get("content") or {}
            if kind == "_closed":
                raise ServerGone("the kernel's websocket closed while the code ran")
            if kind == "status":
                idle = idle or content.get("execution_state") == "idle"
            elif kind == "execute_reply":
                status = str(content.get("status", "ok"))
                if content.get("execution_count") is not None:
                    await on_message("_count", {"execution_count": content["execution_count"]})
            else:
                await on_message(kind, msg)
        return status

    async def close(self) -> None:
        if self._reader:
            self._reader.cancel()
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close()
        self._socket = None
