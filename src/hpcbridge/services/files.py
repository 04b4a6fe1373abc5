"""Reading and writing files on the cluster: capped reads that say when they were cut, atomic writes.

Paths are resolved on the cluster (realpath) before use, and credential files are refused. The full
sandbox of configured directories builds on `resolve` (see the directories issue).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from ..errors import HpcBridgeError, InvalidParameter, NotFound, PolicyError
from .cluster import Cluster

DEFAULT_MAX_BYTES = 64 * 1024

# Files an agent must never read or overwrite, wherever they are.
_SENSITIVE = [
    r"(^|/)\.ssh(/|$)", r"\.pem$", r"\.key$", r"(^|/)\.netrc$", r"(^|/)\.git-credentials$",
    r"(^|/)\.[a-z]*_history$", r"(^|/)\.aws/", r"(^|/)\.config/gcloud/", r"(^|/)\.azure/",
    r"(^|/)\.kube/config$", r"(^|/)\.docker/config\.json$", r"^/etc/munge/", r"^/etc/shadow",
    r"(^|/)id_(rsa|dsa|ecdsa|ed25519)(\.pub)?$", r"(^|/)\.pgpass$", r"(^|/)\.vault-token$",
]


@dataclass(frozen=True)
class FileContent:
    path: str
    content: str
    size_bytes: int
    returned_bytes: int
    truncated: bool
    note: str


def check_path_text(parameter: str, path: str) -> str:
    if not path or "\x00" in path or "\n" in path:
        raise InvalidParameter(parameter, "empty or contains a NUL/newline", "a file path")
    if path.startswith("-"):
        raise InvalidParameter(parameter, f"{path!r} starts with '-'", "a path (use ./-name for such files)")
    return path


def refuse_sensitive(path: str) -> None:
    for pattern in _SENSITIVE:
        if re.search(pattern, path):
            raise PolicyError(f"{path} is a credential or private file; hpcbridge does not read or write it")


async def resolve(cluster: Cluster, path: str, *, must_exist: bool = True) -> str:
    """The cluster's own realpath of path (relative paths start in the user's home)."""
    argv = ["realpath", *([] if not must_exist else ["-e"]), "--", path]
    result = await cluster.run(argv)
    if not result.ok:
        raise NotFound(f"{path}: no such file on {cluster.name}")
    real = result.stdout.strip()
    refuse_sensitive(real)
    return real


async def read_capped(
    cluster: Cluster, path: str, *, tail_lines: int | None = None, head_lines: int | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> FileContent:
    real = await resolve(cluster, check_path_text("path", path))
    size_res = await cluster.run(["stat", "-L", "-c", "%s %F", "--", real])
    if not size_res.ok:
        raise NotFound(f"{real}: cannot stat on {cluster.name}: {size_res.stderr.strip()}")
    size_text, _, kind = size_res.stdout.strip().partition(" ")
    if kind != "regular file" and "regular" not in kind:
        raise InvalidParameter("path", f"{real} is a {kind}", "a regular file")
    size = int(size_text)
    if tail_lines:
        res = await cluster.run(["tail", "-c", str(max_bytes), "--", real])
    else:
        res = await cluster.run(["head", "-c", str(max_bytes), "--", real])
    if not res.ok:
        raise HpcBridgeError(f"cannot read {real}: {res.stderr.strip()}")
    text = res.stdout
    lines = text.splitlines(keepends=True)
    note_parts: list[str] = []
    cut_bytes = size > max_bytes
    if tail_lines:
        if cut_bytes and lines:
            lines = lines[1:]  # the first line of a byte-cut tail is partial
        if len(lines) > tail_lines:
            lines = lines[-tail_lines:]
        note_parts.append(f"last {len(lines)} lines")
    elif head_lines:
        if len(lines) > head_lines:
            lines = lines[:head_lines]
            cut_bytes = True
        note_parts.append(f"first {len(lines)} lines")
    content = "".join(lines)
    returned = len(content.encode())
    truncated = returned < size
    if truncated:
        note_parts.append(f"{returned} of {size} bytes shown (cut at max_bytes={max_bytes}"
                          if cut_bytes else f"{returned} of {size} bytes shown")
        if cut_bytes:
            note_parts[-1] += ")"
    return FileContent(real, content, size, returned, truncated, "; ".join(note_parts) or "whole file")


async def write_atomic(cluster: Cluster, path: str, data: bytes, *, make_dirs: bool = False) -> str:
    """Write to a temporary file beside the target, then rename over it: readers never see half a file."""
    check_path_text("remote_path", path)
    parent = path.rsplit("/", 1)[0] if "/" in path.rstrip("/") else "."
    if make_dirs:
        await cluster.run(["mkdir", "-p", "--", parent or "/"])
    parent_real = await resolve(cluster, parent or "/")
    name = path.rstrip("/").rsplit("/", 1)[-1]
    if not name or name in {".", ".."}:
        raise InvalidParameter("remote_path", f"{path!r} names a directory", "a file path")
    target = f"{parent_real.rstrip('/')}/{name}"
    refuse_sensitive(target)
    temp = f"{parent_real.rstrip('/')}/.{name}.hpcbridge-{secrets.token_hex(4)}.tmp"
    await cluster.transport.write_file(temp, data, timeout=cluster.config.command_timeout)
    moved = await cluster.run(["mv", "-f", "--", temp, target], idempotent=False)
    if not moved.ok:
        await cluster.run(["rm", "-f", "--", temp])
        raise HpcBridgeError(f"could not move the upload into place at {target}: {moved.stderr.strip()}")
    return target
