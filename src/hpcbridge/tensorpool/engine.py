"""TensorPool's engine, spoken directly: the same requests, headers and websocket messages as the `tp` CLI
(tensorpool 0.0.9, tensorpool/helpers.py), without the CLI (docs/decisions.md says why).

The API key goes in the Authorization header (HTTP) or as the first websocket message, as the CLI sends it;
it is never logged, and every text that comes back is scrubbed of it before anyone sees it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from .. import principal
from ..errors import CommandTimeout, HpcBridgeError, NotFound, PrivilegeError, TransportError

audit = logging.getLogger("hpcbridge.audit")
DEFAULT_ENGINE = "https://engine.tensorpool.dev"
CLIENT_VERSION = "0.0.9"  # the CLI release whose requests these are


class EngineError(HpcBridgeError):
    """The engine answered, and said no (its message is in ours)."""


@dataclass(frozen=True)
class Answer:
    status: int
    data: dict[str, Any]

    @property
    def message(self) -> str:
        """The CLI's _response_message: message, else error, else external_message."""
        for key in ("message", "error", "external_message"):
            if self.data.get(key):
                return str(self.data[key])
        return ""


class Engine:
    def __init__(self, account: str, url: str, key: str, timeout: float) -> None:
        self.account = account
        self.url = url.rstrip("/")
        self._key = key
        self.timeout = timeout

    def scrub(self, text: str) -> str:
        return text.replace(self._key, "[API key]") if self._key else text

    def _headers(self) -> dict[str, str]:
        return {"X-Client-Type": "cli", "Content-Type": "application/json", "Authorization": f"Bearer {self._key}"}

    async def request(self, method: str, path: str, *, body: Any = None, params: dict[str, Any] | None = None,
                      ok: tuple[int, ...] = (200,)) -> Answer:
        """One HTTP request, never retried (creating and destroying cost money). Raises with the engine's own
        message on any status outside `ok`."""
        started = time.monotonic()
        outcome = "error"
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as http:
                response = await http.request(method, self.url + path, json=body, params=params,
                                              headers=self._headers())
            outcome = str(response.status_code)
        except httpx.TimeoutException as exc:
            outcome = "timeout"
            raise CommandTimeout(f"TensorPool engine ({self.url}) did not answer {method} {path} within "
                                 f"{self.timeout:g}s; nothing was retried") from exc
        except httpx.HTTPError as exc:
            raise TransportError(f"cannot reach the TensorPool engine at {self.url}: {self.scrub(str(exc))}") from exc
        finally:
            audit.info("account=%s principal=%s engine %s %s -> %s %.3fs", self.account, principal.name(), method,
                       path, outcome, time.monotonic() - started)
        try:
            data = response.json()
        except ValueError:
            data = {}
        answer = Answer(response.status_code, data if isinstance(data, dict) else {})
        if response.status_code in ok:
            return answer
        said = self.scrub(answer.message) or f"status {response.status_code}"
        if response.status_code in (401, 403):
            raise PrivilegeError(f"TensorPool refused the API key: {said}")
        if response.status_code == 404:
            raise NotFound(f"TensorPool: {said}")
        if response.status_code >= 500:
            raise EngineError(f"TensorPool engine error {response.status_code} on {method} {path}: {said}",
                              transient=True)
        raise EngineError(f"TensorPool: {said} ({method} {path} -> {response.status_code})")

    @asynccontextmanager
    async def socket(self, path: str, payload: dict[str, Any] | None) -> AsyncIterator[ClientConnection]:
        """A websocket as the CLI opens it: the key first, then the payload."""
        url = self.url.replace("https://", "wss://").replace("http://", "ws://") + path
        audit.info("account=%s principal=%s engine WS %s", self.account, principal.name(), path)
        try:
            async with connect(url, open_timeout=self.timeout, ping_interval=5, ping_timeout=10) as ws:
                await ws.send(json.dumps({"TENSORPOOL_KEY": self._key}))
                if payload is not None:
                    await ws.send(json.dumps(payload))
                yield ws
        except TimeoutError as exc:
            raise CommandTimeout(f"TensorPool engine ({self.url}) did not answer on {path} within "
                                 f"{self.timeout:g}s") from exc
        except ConnectionClosed:
            raise
        except (OSError, WebSocketException) as exc:
            raise TransportError(f"TensorPool engine websocket {path}: {self.scrub(str(exc))}") from exc
