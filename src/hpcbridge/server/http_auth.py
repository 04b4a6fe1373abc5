"""Who may use `serve --transport http`: bearer tokens (always), each with a name that is its principal.

A token comes from HPCBRIDGE_HTTP_TOKEN, a token file, or `[[http.tokens]]`; never from the command line,
where `ps` shows it. With none configured, one is generated into the state directory (mode 0600) and its
path, never its value, is logged. Host and Origin headers are checked by fastmcp's guard in strict mode
(DNS rebinding: a web page must not be able to drive a loopback server).
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import stat
from pathlib import Path

from fastmcp.server.auth import TokenVerifier
from fastmcp.server.auth.auth import AccessToken

from .. import private
from ..config import Settings
from ..errors import ConfigError

log = logging.getLogger("hpcbridge.http")
MIN_TOKEN_LENGTH = 32
TOKEN_FILE_NAME = "http-token"


class NamedTokenVerifier(TokenVerifier):
    """Accepts the configured tokens (compared in constant time); the token's name becomes the client id."""

    def __init__(self, tokens: dict[str, str]) -> None:
        super().__init__()
        self._tokens = [(name, token.encode()) for name, token in tokens.items()]

    async def verify_token(self, token: str) -> AccessToken | None:
        given = token.encode()
        found = None
        for name, expected in self._tokens:
            if hmac.compare_digest(given, expected):  # every token is compared: no early exit by position
                found = name
        return AccessToken(token=token, client_id=found, scopes=[], expires_at=None) if found else None


def _read_token_file(path: str, what: str) -> str:
    file = Path(path).expanduser()
    try:
        token = file.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read {file}: {exc.strerror}") from exc
    if file.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s: %s is readable by other users; chmod 600 it", what, file)
    return token


def _checked(name: str, token: str) -> str:
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(f"HTTP token '{name}' has {len(token)} characters; at least {MIN_TOKEN_LENGTH} are needed "
                          "(e.g. openssl rand -hex 32 > token-file)")
    return token


def generated_token(state_dir: Path) -> tuple[str, Path]:
    """The state directory's token (made now, mode 0600, if there is none), so restarts keep clients working."""
    path = state_dir / TOKEN_FILE_NAME
    private.make_dir(state_dir)
    if path.exists() and len(path.read_text().strip()) >= MIN_TOKEN_LENGTH:
        os.chmod(path, 0o600)
        return path.read_text().strip(), path
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token, path


def http_tokens(settings: Settings, state_dir: Path) -> dict[str, str]:
    """name -> token for every configured token; a generated one when nothing is configured."""
    tokens: dict[str, str] = {}
    if settings.http_token:
        tokens["default"] = _checked("default", settings.http_token.get_secret_value())
    if settings.http.token_file:
        tokens["default"] = _checked("default", _read_token_file(settings.http.token_file, "http token_file"))
    for named in settings.http.tokens:
        if named.name in tokens:
            raise ConfigError(f"[[http.tokens]]: the name '{named.name}' is used twice")
        tokens[named.name] = _checked(named.name, _read_token_file(named.token_file, f"token '{named.name}'"))
    if len(set(tokens.values())) != len(tokens):
        raise ConfigError("two HTTP tokens are the same; each principal needs its own token")
    if not tokens:
        token, path = generated_token(state_dir)
        log.warning("no HTTP token configured: generated one into %s (mode 0600); clients send it as "
                    "'Authorization: Bearer <contents of that file>'", path)
        tokens["default"] = token
    return tokens
