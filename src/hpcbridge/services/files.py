"""File operations inside the sandbox: capped reads that say when they were cut, atomic writes, deletes
that never remove a configured directory."""

from __future__ import annotations

import asyncio
import base64
import binascii
import posixpath
import secrets
from dataclasses import dataclass

from ..directories import is_inside, refuse_root_removal
from ..errors import HpcBridgeError, InvalidParameter, NotFound, PolicyError
from .cluster import Cluster
from .listing import bounded, iso_time, type_word
from .sandbox import Sandbox

DEFAULT_MAX_BYTES = 64 * 1024
# Fixed scripts with positional arguments: the path and the count are never part of the script text.
_HEAD_B64 = 'head -c "$1" -- "$2" | base64 -w0'
_TAIL_B64 = 'tail -c "$1" -- "$2" | base64 -w0'


@dataclass(frozen=True)
class FileContent:
    path: str
    content: str
    size_bytes: int
    returned_bytes: int
    truncated: bool
    note: str
    encoding: str = "utf-8"
    binary: bool = False


@dataclass(frozen=True)
class FileInfo:
    path: str
    name: str
    type: str  # file | directory | symlink | other
    size_bytes: int
    modified: str
    permissions: str
    owner: str
    group: str
    link_target: str = ""
    directory_type: str = ""


# A short list: any Python codec was accepted once, and `punycode` on 400 KB held the event loop for 38 s.
ENCODINGS = {"utf-8": "utf-8", "utf8": "utf-8", "utf-16": "utf-16", "utf16": "utf-16", "latin-1": "latin-1",
             "latin1": "latin-1", "iso-8859-1": "latin-1", "ascii": "ascii", "cp1252": "cp1252"}
RECURSIVE_CHECK_LIMIT = 100_000  # entries a recursive delete inspects before it refuses to go on


def check_encoding(encoding: str) -> str:
    if encoding.lower() not in ENCODINGS:
        raise InvalidParameter("encoding", f"{encoding!r} is not offered", "one of utf-8, utf-16, latin-1, "
                               "ascii, cp1252")
    return ENCODINGS[encoding.lower()]


async def _stat(cluster: Cluster, real: str) -> tuple[str, int]:
    result = await cluster.run(["stat", "-L", "-c", "%F\x1f%s", "--", real])
    if not result.ok:
        raise NotFound(f"{real}: cannot stat on {cluster.name}: {result.stderr.strip()}")
    kind, size = result.stdout.rstrip("\n").split("\x1f")
    return kind, int(size)


async def _fetch(cluster: Cluster, real: str, max_bytes: int, from_end: bool) -> bytes:
    script = _TAIL_B64 if from_end else _HEAD_B64
    result = await cluster.run(["sh", "-c", script, "hpcbridge", str(max_bytes), real])
    if not result.ok:
        raise HpcBridgeError(f"cannot read {real}: {result.stderr.strip()}")
    try:
        return base64.b64decode(result.stdout.strip())
    except binascii.Error as exc:
        raise HpcBridgeError(f"cannot read {real}: unexpected output ({exc})") from exc


async def read_file(
    cluster: Cluster, path: str, kind: str | None = None, *, tail_lines: int | None = None,
    head_lines: int | None = None, max_bytes: int = DEFAULT_MAX_BYTES, encoding: str = "utf-8",
    allow_binary: bool = False,
) -> FileContent:
    encoding = check_encoding(encoding)
    real, _ = await Sandbox(cluster).resolve(path, kind)
    file_kind, size = await _stat(cluster, real)
    if "regular" not in file_kind:
        raise InvalidParameter("path", f"{real} is a {file_kind}", "a regular file (list_directory for folders)")
    data = await _fetch(cluster, real, max_bytes, from_end=bool(tail_lines))
    binary = b"\x00" in data[:8192]
    if binary and not allow_binary:
        raise PolicyError(f"{real} looks binary ({size} bytes, NUL bytes in its start); pass allow_binary=true "
                          "to read it anyway (undecodable bytes are replaced)")
    text = await asyncio.to_thread(data.decode, encoding, "replace")  # up to 1 MB: never on the event loop
    lines = text.splitlines(keepends=True)
    notes: list[str] = []
    cut_by_bytes = size > len(data)
    if tail_lines:
        if cut_by_bytes and lines:
            lines = lines[1:]  # the first line of a byte-limited tail is partial
        lines = lines[-tail_lines:]
        notes.append(f"last {len(lines)} lines")
    elif head_lines:
        lines = lines[:head_lines]
        notes.append(f"first {len(lines)} lines")
    content = "".join(lines)
    returned = len(content.encode(encoding, errors="replace"))
    truncated = returned < size
    if truncated:
        notes.append(f"{returned} of {size} bytes shown" + (f"; cut at max_bytes={max_bytes}" if cut_by_bytes else ""))
    return FileContent(real, content, size, returned, truncated, "; ".join(notes) or "whole file", encoding, binary)


async def write_file(
    cluster: Cluster, path: str, data: bytes, kind: str | None = None, *, append: bool = False,
    make_dirs: bool = False,
) -> str:
    """Replace atomically (temporary file beside the target, then rename), or append with O_APPEND."""
    cluster.check_writable(f"writing {path}")
    sandbox = Sandbox(cluster)
    target, _ = await sandbox.resolve(path, kind, writing=True, must_exist=False)
    name = posixpath.basename(target)
    if not name or path.endswith("/"):
        raise InvalidParameter("path", f"{path!r} names a directory", "a file path")
    parent = posixpath.dirname(target)
    if make_dirs:
        made = await cluster.run(["mkdir", "-p", "--", parent])
        if not made.ok:
            raise HpcBridgeError(f"cannot create {parent}: {made.stderr.strip()}")
    elif not (await cluster.run(["test", "-d", parent])).ok:
        raise NotFound(f"{parent} does not exist; pass make_dirs=true to create it")
    if (await cluster.run(["test", "-d", target])).ok:
        raise InvalidParameter("path", f"{target} is a directory", "a file path")
    timeout = cluster.config.command_timeout
    if append:
        result = await cluster.run(["dd", f"of={target}", "oflag=append", "conv=notrunc", "status=none"],
                                   stdin=data, idempotent=False, timeout=timeout)
        if not result.ok:
            raise HpcBridgeError(f"cannot append to {target}: {result.stderr.strip()}")
        return target
    temp = posixpath.join(parent, f".{name}.hpcbridge-{secrets.token_hex(4)}.tmp")
    await cluster.write_file(temp, data)  # the runner's twin: audited, and read_only checked
    moved = await cluster.run(["mv", "-f", "--", temp, target], idempotent=False)
    if not moved.ok:
        await cluster.run(["rm", "-f", "--", temp])
        raise HpcBridgeError(f"could not move the new content into place at {target}: {moved.stderr.strip()}")
    return target


async def file_info(cluster: Cluster, path: str, kind: str | None = None) -> FileInfo:
    real, root = await Sandbox(cluster).resolve(path, kind, follow_last=False)
    fmt = "%F\x1f%s\x1f%Y\x1f%A\x1f%U\x1f%G"
    result = await cluster.run(["stat", "-c", fmt, "--", real])
    if not result.ok:
        raise NotFound(f"{path}: cannot stat on {cluster.name}: {result.stderr.strip()}")
    ftype, size, mtime, perms, owner, group = result.stdout.rstrip("\n").split("\x1f")
    link = ""
    if ftype == "symbolic link":
        link = (await cluster.run(["readlink", "-z", "--", real])).stdout.split("\0")[0]
    return FileInfo(real, posixpath.basename(real), type_word(ftype), int(size), iso_time(float(mtime)), perms,
                    owner, group, link, root.kind)


async def _refuse_protected_inside(cluster: Cluster, sandbox: Sandbox, real: str) -> None:
    """A recursive delete checks everything inside, not only the target: `.config` holding `.config/gcloud`
    must not go."""
    script = 'n=$1; shift; find "$@" -print0 | head -z -n "$n"'
    seconds = max(cluster.config.command_timeout, 120)
    argv = ["sh", "-c", script, "hpcbridge", str(RECURSIVE_CHECK_LIMIT + 1), real, "-mindepth", "1"]
    found = await cluster.run(bounded(argv, seconds), timeout=seconds)
    paths = found.stdout.split("\0")[:-1]
    if len(paths) > RECURSIVE_CHECK_LIMIT:
        raise PolicyError(f"{real} holds more than {RECURSIVE_CHECK_LIMIT} entries, too many to check before "
                          "deleting; delete its sub-directories one by one")
    hidden = await sandbox.hidden()
    home, roots = await sandbox.home(), await sandbox.roots()
    for path in paths:
        if hidden(path) or any(not r.writable and is_inside(path, r.path) for r in roots):
            raise PolicyError(f"{real} holds {path}, which hpcbridge protects (credentials, private dot-files of "
                              f"{home}, or a read-only directory); nothing was deleted")


async def delete_path(cluster: Cluster, path: str, kind: str | None = None, *, recursive: bool = False) -> str:
    cluster.check_writable(f"deleting {path}")
    sandbox = Sandbox(cluster)
    real, _ = await sandbox.resolve(path, kind, writing=True, follow_last=False)
    refuse_root_removal(real, await sandbox.roots())
    is_dir = (await cluster.run(["test", "-d", real])).ok and not (await cluster.run(["test", "-L", real])).ok
    if is_dir and not recursive:
        raise InvalidParameter("recursive", f"{real} is a directory", "recursive=true to delete a directory")
    if is_dir:
        await _refuse_protected_inside(cluster, sandbox, real)
    argv = ["rm", "-r", "-f", "--one-file-system", "--", real] if is_dir else ["rm", "-f", "--", real]
    result = await cluster.run(argv, idempotent=False, timeout=max(cluster.config.command_timeout, 300))
    if not result.ok:
        raise HpcBridgeError(f"could not delete {real}: {result.stderr.strip()}")
    return real
