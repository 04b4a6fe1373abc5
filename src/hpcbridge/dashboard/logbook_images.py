"""Images in logbook entries: pasted or dropped into the editor, uploaded here, kept in the state directory
under the hash of their bytes, and served back only as PNG, JPEG, GIF or WebP. The type is read from the
file's first bytes (never from the client's Content-Type or name), and every answer says nosniff, so an
"image" that is really HTML or SVG is refused at upload and could not run if it were served."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from .. import private
from ..errors import InvalidParameter, NotFound
from . import web
from .auth import Login, Logins, cookie_name, csrf_ok

EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}
NAME = re.compile(r"[0-9a-f]{32}\.(png|jpg|gif|webp)")


def sniff(data: bytes) -> str:
    """The image type by magic number, or "" for anything else (SVG is XML, and can carry script: refused)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) > 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return ""


def store(directory: Path, data: bytes, limit: int) -> str:
    """Keeps an image and returns its file name; the same bytes twice are one file."""
    if len(data) > limit:
        raise InvalidParameter("image", f"{len(data) // 1024} KB is over the {limit // 1024} KB limit",
                               "a smaller image, or raise [dashboard] image_max_kb")
    kind = sniff(data)
    if not kind:
        raise InvalidParameter("image", "is not a PNG, JPEG, GIF or WebP image", "one of those four formats")
    private.make_dir(directory)
    name = f"{hashlib.sha256(data).hexdigest()[:32]}.{EXTENSIONS[kind]}"
    path = directory / name
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.")  # 0600, then renamed into place
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    return name


def load(directory: Path, name: str) -> tuple[bytes, str]:
    if not NAME.fullmatch(name) or not (directory / name).is_file():
        raise NotFound(f"no logbook image {name[:80]!r}")
    data = (directory / name).read_bytes()
    return data, sniff(data) or "application/octet-stream"


def upload_endpoint(logins: Logins, directory: Path, limit_kb: int):  # type: ignore[no-untyped-def]
    """POST /logbook-images: the raw image as the body, the session's CSRF token in X-CSRF-Token. Not behind
    web.guarded, whose form reader caps bodies at 64 KB: the login and token are checked here, and the body
    is read only up to the image limit."""
    limit = limit_kb * 1024

    async def endpoint(request: Request) -> Response:
        login: Login | None = logins.find(request.cookies.get(cookie_name(request)))
        if login is None:
            return PlainTextResponse("log in first", status_code=401, headers=web.HEADERS)
        if not csrf_ok(login, request.headers.get("x-csrf-token", "")):
            return PlainTextResponse("missing or wrong CSRF token: reload the page", status_code=403,
                                     headers=web.HEADERS)
        declared = request.headers.get("content-length", "")
        too_big = PlainTextResponse(f"an image is at most {limit_kb} KB ([dashboard] image_max_kb)",
                                    status_code=413, headers={**web.HEADERS, "Connection": "close"})
        if declared.isdigit() and int(declared) > limit:
            return too_big
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return too_big
        try:
            name = store(directory, bytes(body), limit)
        except InvalidParameter as exc:
            return PlainTextResponse(exc.message, status_code=400, headers=web.HEADERS)
        url = f"/logbook-images/{name}"
        return Response(json.dumps({"url": url, "markdown": f"![image]({url})"}), media_type="application/json",
                        headers=web.HEADERS)

    return endpoint


def serve(directory: Path) -> web.Handler:
    async def image(request: Request, login: Login) -> Response:
        data, kind = load(directory, str(request.path_params.get("name", "")))
        # nosniff and the page CSP come with web.HEADERS; the bytes never change under a name: cache them
        return Response(data, media_type=kind, headers={**web.HEADERS, "Cache-Control": "private, max-age=86400"})

    return image
