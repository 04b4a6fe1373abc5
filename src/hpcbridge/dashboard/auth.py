"""Dashboard logins: the same bearer tokens as /mcp, typed once into a login page.

A login gets a random session id in an HttpOnly, SameSite=Strict cookie (the token itself never goes into a
cookie or a page) and a CSRF token that every state-changing request must echo (form field `csrf` or header
X-CSRF-Token). Sessions live in memory: a restart logs everyone out, which is the safe direction.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

from fastmcp.server.auth import TokenVerifier
from starlette.requests import Request

COOKIE = "hpcbridge_session"
LIFETIME_S = 12 * 3600


@dataclass(frozen=True)
class Login:
    principal: str
    csrf: str
    expires: float


class Logins:
    def __init__(self, verifier: TokenVerifier | None) -> None:
        self.verifier = verifier
        self._by_id: dict[str, Login] = {}

    async def log_in(self, token: str) -> tuple[str, Login] | None:
        """A session for a valid token; None otherwise (the caller says only "not accepted")."""
        if self.verifier is None or not token or len(token) > 4096:
            return None
        access = await self.verifier.verify_token(token.strip())
        if access is None:
            return None
        self._expire()
        session_id = secrets.token_urlsafe(32)
        login = Login(access.client_id or "default", secrets.token_urlsafe(32), time.time() + LIFETIME_S)
        self._by_id[session_id] = login
        return session_id, login

    def find(self, session_id: str | None) -> Login | None:
        login = self._by_id.get(session_id or "")
        if login is None or login.expires < time.time():
            return None
        return login

    def log_out(self, session_id: str | None) -> None:
        self._by_id.pop(session_id or "", None)

    def _expire(self) -> None:
        now = time.time()
        for key in [k for k, v in self._by_id.items() if v.expires < now]:
            del self._by_id[key]


def cookie_name(request: Request) -> str:
    """`hpcbridge_session_PORT`, the port this server listens on. Browsers keep cookies per host, not per port:
    two dashboards on one host (two users of a login node, two tunnels) would otherwise overwrite each other's
    session cookie, and each would be offered the other's."""
    server = request.scope.get("server")
    return f"{COOKIE}_{server[1]}" if server and server[1] else COOKIE


def csrf_ok(login: Login, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(login.csrf.encode(), (given or "").encode())
