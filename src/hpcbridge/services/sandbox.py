"""Where file tools may go: the configured directories, resolved on the cluster itself.

Every path is turned into the cluster's realpath before it is judged, so `..`, symlinks that lead out and
absolute paths elsewhere are refused with the list of allowed roots. Commands then use the resolved path,
never the caller's text. (A directory swapped for a symlink between the check and the use is not caught;
that needs a hostile co-tenant in the user's own directories.)
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from ..directories import (
    DirectoryRoot,
    check_allowed,
    configured_roots,
    directory_type,
    is_sensitive,
    join_under,
    private_dot_entry,
)
from ..errors import HpcBridgeError, NotFound

if TYPE_CHECKING:
    from .cluster import Cluster

ROOTS_TTL = 300.0


class Sandbox:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    async def _home(self) -> str:
        result = await self.cluster.run(["printenv", "HOME"])
        home = result.stdout.rstrip("\n")
        if not result.ok or not home.startswith("/"):
            raise HpcBridgeError(f"cannot find the login user's home directory on {self.cluster.name}")
        return home

    async def _realpaths(self, paths: list[str]) -> list[str]:
        """The cluster's realpath of each, byte-exact: NUL-separated, never stripped (a name may end in a
        blank; stripping it once let `a ` stand for the symlink `a`)."""
        result = await self.cluster.run(["realpath", "-m", "-z", "--", *paths])
        real = result.stdout.split("\0")[:-1]
        if not result.ok or len(real) != len(paths):
            raise NotFound(f"{paths[0] if len(paths) == 1 else 'the configured directories'}: cannot resolve on "
                           f"{self.cluster.name}: {result.stderr.strip()}")
        return real

    async def _resolve_roots(self) -> tuple[str, list[DirectoryRoot]]:
        cfg = self.cluster.config
        home = await self._home()
        user_root = cfg.user_root or home
        roots = configured_roots(user_root, cfg.explicit_dirs(), cfg.image_dirs)
        real = await self._realpaths([home, user_root, *(r.path for r in roots)])
        return real[0], [DirectoryRoot("user_root", real[1], None)] + [
            replace(r, path=p) for r, p in zip(roots, real[2:], strict=True)
        ]

    async def _layout(self) -> tuple[str, list[DirectoryRoot]]:
        layout: tuple[str, list[DirectoryRoot]] = await self.cluster.cache.get(
            "sandbox-roots", ROOTS_TTL, self._resolve_roots)
        return layout

    async def roots(self) -> list[DirectoryRoot]:
        """The user root first, then each directory type, then image directories (read-only)."""
        return (await self._layout())[1]

    async def home(self) -> str:
        return (await self._layout())[0]

    async def hidden(self) -> Callable[[str], bool]:
        """A test for paths a listing must leave out: credential files and the home's private dot-entries."""
        home, roots = await self._layout()
        return lambda path: is_sensitive(path) or private_dot_entry(path, home, roots) is not None

    async def root_of(self, kind: str) -> DirectoryRoot:
        for root in await self.roots():
            if root.kind == kind:
                return root
        configured = ", ".join(r.kind for r in await self.roots() if r.kind != "user_root")
        raise NotFound(f"the {kind} directory is not configured on {self.cluster.name}; configured: {configured}")

    async def base(self, kind: str | None) -> str:
        return (await self.root_of(directory_type(kind) or "user_root")).path

    async def realpath(self, path: str) -> str:
        return (await self._realpaths([path]))[0]

    async def resolve(
        self, path: str, kind: str | None = None, *, writing: bool = False, must_exist: bool = True,
        follow_last: bool = True,
    ) -> tuple[str, DirectoryRoot]:
        """(realpath, root) of path, relative paths taken under the directory type (else the user root).
        With follow_last=False the last component is not resolved (to act on a symlink, not its target)."""
        full = join_under(await self.base(kind), path)
        parent, name = posixpath.split(full.rstrip("/") or "/")
        if follow_last or name in ("", ".", ".."):
            real = await self.realpath(full)
        else:
            real = posixpath.join(await self.realpath(parent or "/"), name)
        home, roots = await self._layout()
        root = check_allowed(real, roots, writing=writing, shown=path, home=home)
        # not there; unless the last component was kept unresolved and is a (dangling) symlink
        if must_exist and not (await self.cluster.run(["test", "-e", real])).ok and (
            follow_last or not (await self.cluster.run(["test", "-L", real])).ok
        ):
            raise NotFound(f"{path}: no such file or directory on {self.cluster.name}")
        return real, root
