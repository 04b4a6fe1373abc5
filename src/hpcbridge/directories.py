"""The cluster directories of the Slurm plan, their container mount points, and the sandbox rules.

Pure: no I/O. Paths given here are as configured; the services resolve them on the cluster (realpath)
before any check, so `..` and symlinks are judged by where they really lead.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from .errors import InvalidParameter, PolicyError

# directory type -> (default sub-directory of the user root, or None when there is no default; mount point)
DIRECTORY_TYPES: dict[str, tuple[str | None, str]] = {
    "datasets": ("data", "/datasets"),
    "results": ("results", "/results"),
    "models": ("models", "/models"),
    "logs": ("logs", "/logs"),
    "projects": ("Projects", "/projects"),
    "scratch": (None, "/scratch"),
    "home": (None, "/home"),
    "container_root": ("root", "/root"),
    "gpfs": (None, "/lustre"),
}
TYPE_FORM = "one of " + ", ".join(DIRECTORY_TYPES) + " (or none for an absolute path)"

# Files an agent must never read, write or delete, wherever they are (even inside a configured root).
SENSITIVE_PATTERNS = [
    r"(^|/)\.ssh(/|$)", r"\.pem$", r"\.key$", r"(^|/)\.netrc$", r"(^|/)\.git-credentials$",
    r"(^|/)\.[A-Za-z0-9_]*_history$", r"(^|/)\.aws(/|$)", r"(^|/)\.config/gcloud(/|$)", r"(^|/)\.azure(/|$)",
    r"(^|/)\.kube/config$", r"(^|/)\.docker/config\.json$", r"(^|/)\.pgpass$", r"(^|/)\.vault-token$",
    r"(^|/)id_(rsa|dsa|ecdsa|ed25519)(\.pub)?$", r"^/etc/munge(/|$)", r"(^|/)munge\.key$", r"^/etc/shadow",
    r"(^|/)\.(bashrc|bash_profile|profile|zshrc|bash_login|bash_logout|cshrc|tcshrc)$",
    # code that runs at the next login or interpreter start, and tokens of common tools (issue 10)
    r"(^|/)\.bashrc\.d(/|$)", r"(^|/)\.bash_aliases$", r"(^|/)\.(zshenv|zprofile|zlogin|zlogout)$",
    r"(^|/)\.config/fish(/|$)", r"(^|/)(site|dist)-packages/[^/]*\.pth$", r"(^|/)\.gitconfig$",
    r"(^|/)\.config/git(/|$)", r"(^|/)\.config/gh(/|$)", r"(^|/)\.cache/huggingface/(token|stored_tokens)$",
    r"(^|/)\.huggingface/token$", r"(^|/)\.pypirc$", r"(^|/)\.npmrc$", r"(^|/)\.my\.cnf$",
    r"(^|/)\.config/enroot(/|$)", r"(^|/)\.config/rclone(/|$)", r"(^|/)\.s3cfg$", r"(^|/)\.apptainer(/|$)",
    r"(^|/)\.singularity(/|$)", r"(^|/)id_[a-z0-9]+_sk(\.pub)?$", r"(^|/)\.config/hpcbridge(/|$)",
    r"(^|/)\.local/share/hpcbridge(/|$)", r"(^|/)\.kube(/|$)", r"(^|/)\.docker(/|$)",
]


@dataclass(frozen=True)
class DirectoryRoot:
    kind: str  # a DIRECTORY_TYPES key, or "images"
    path: str  # absolute; after resolution, the cluster's realpath
    mount: str | None  # container mount point (None for image directories)
    writable: bool = True


def directory_type(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    if value not in DIRECTORY_TYPES:
        raise InvalidParameter("directory_type", f"{value!r} is not a directory type", TYPE_FORM)
    return value


def configured_roots(
    user_root: str, explicit: dict[str, str | None], image_dirs: list[str]
) -> list[DirectoryRoot]:
    """Each directory type's path (explicit, else user_root/default), then read-only image directories."""
    roots = []
    for kind, (subdir, mount) in DIRECTORY_TYPES.items():
        path = explicit.get(kind) or (posixpath.join(user_root, subdir) if subdir else None)
        if path:
            roots.append(DirectoryRoot(kind, path, mount))
    roots.extend(DirectoryRoot("images", d, None, writable=False) for d in image_dirs)
    return roots


def mount_string(roots: list[DirectoryRoot]) -> str:
    """The Slurm plan's auto-generated --container-mounts value: 'host:container,...'."""
    return ",".join(f"{r.path}:{r.mount}" for r in roots if r.mount)


def is_inside(path: str, root: str) -> bool:
    root = root.rstrip("/") or "/"
    return path == root or path.startswith(root + "/") or root == "/"


def refuse_sensitive(path: str) -> None:
    for pattern in SENSITIVE_PATTERNS:
        if re.search(pattern, path):
            raise PolicyError(f"{path} is a credential or private file; hpcbridge does not read, write or list it")


def is_sensitive(path: str) -> bool:
    return any(re.search(p, path) for p in SENSITIVE_PATTERNS)


def roots_text(roots: list[DirectoryRoot], *, writing: bool) -> str:
    usable = [r for r in roots if r.writable or not writing]
    return ", ".join(f"{r.path} ({r.kind})" for r in usable) or "none configured"


def private_dot_entry(real: str, home: str | None, roots: list[DirectoryRoot]) -> str | None:
    """The dot-file or dot-directory of the login home that holds real, unless a configured directory points
    into it (then whatever lies inside that directory is allowed)."""
    if not home or home == "/" or not is_inside(real, home) or real == home.rstrip("/"):
        return None
    first = real[len(home.rstrip("/")) + 1:].split("/", 1)[0]
    if not first.startswith("."):
        return None
    dot = posixpath.join(home, first)
    if any(is_inside(r.path, dot) and is_inside(real, r.path) for r in roots):
        return None
    return dot


def check_allowed(real: str, roots: list[DirectoryRoot], *, writing: bool, shown: str,
                  home: str | None = None) -> DirectoryRoot:
    """The root that contains real (the cluster's realpath of the caller's `shown` path), else refuse."""
    refuse_sensitive(real)
    dot = private_dot_entry(real, home, roots)
    if dot:
        raise PolicyError(f"{shown} is inside {dot}, a private dot-file or dot-directory of the login home; "
                          "hpcbridge does not read, write, list or delete there unless a configured directory "
                          "points into it")
    read_only = [r for r in roots if is_inside(real, r.path) and not r.writable]
    if writing and read_only:
        raise PolicyError(f"{shown} is inside the read-only {read_only[0].kind} directory {read_only[0].path}; "
                          "hpcbridge never writes or deletes there")
    candidates = [r for r in roots if is_inside(real, r.path) and (r.writable or not writing)]
    if not candidates:
        where = f" (it resolves to {real})" if real != shown else ""
        raise PolicyError(f"{shown}{where} is outside the allowed directories; allowed: "
                          f"{roots_text(roots, writing=writing)}")
    return max(candidates, key=lambda r: len(r.path))  # the most specific root


def refuse_root_removal(real: str, roots: list[DirectoryRoot]) -> None:
    for r in roots:
        if is_inside(r.path, real):
            raise PolicyError(f"{real} is (or contains) the configured {r.kind} directory {r.path}; "
                              "hpcbridge never deletes a configured directory")


def join_under(base: str, path: str) -> str:
    """A relative path under base; an absolute path stays as given (the sandbox judges it later)."""
    if "\x00" in path or "\n" in path:
        raise InvalidParameter("path", "contains a NUL or newline", "a file path")
    return path if path.startswith("/") else posixpath.join(base, path)


_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGTP]?)i?B?\s*$", re.IGNORECASE)
_AGE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([smhdw])\s*$", re.IGNORECASE)


def size_bytes(parameter: str, value: str) -> int:
    m = _SIZE.match(value)
    if not m:
        raise InvalidParameter(parameter, f"{value!r} is not a size", "a size like 500K, 100M, 1G or 2T")
    return int(float(m.group(1)) * 1024 ** "BKMGTP".index(m.group(2).upper() or "B"))


def age_minutes(parameter: str, value: str) -> int:
    m = _AGE.match(value)
    if not m:
        raise InvalidParameter(parameter, f"{value!r} is not an age", "an age like 90m, 24h, 7d or 2w")
    factor = {"s": 1 / 60, "m": 1, "h": 60, "d": 1440, "w": 10080}[m.group(2).lower()]
    return max(1, int(float(m.group(1)) * factor))


_GLOB = re.compile(r"^[A-Za-z0-9_.*?\[\]+@%=,:~ -]{1,200}$")


def glob_pattern(parameter: str, value: str) -> str:
    """A name pattern for find -name: no slashes, quotes, $ or backticks (it is an argv element anyway)."""
    if not _GLOB.match(value):
        raise InvalidParameter(parameter, f"{value!r} is not a name pattern", "a glob like '*.pt' or 'checkpoint-*'")
    return value
