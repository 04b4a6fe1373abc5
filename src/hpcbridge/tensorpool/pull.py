"""Pulling a job's outputs home: which names and addresses the engine's `download_map` may use, and fetching them.

Whom to trust: the configured engine URL is the user's own configuration, so a download on the engine's origin
(same scheme, host and port) is fetched as is, loopback or not (the test stand-in runs on 127.0.0.1). Every
other URL in an engine answer is the engine's word: it must be https, and its host must be, and resolve only
to, public addresses (no loopback, private, link-local such as the 169.254.169.254 metadata service, CGNAT,
multicast, reserved or unspecified), so an engine answer cannot make hpcbridge fetch from the user's network.
The name is resolved once, every address is checked, and the connection goes to a checked address (the URL's
host kept for TLS and the Host header), so a DNS answer that changes between check and connect (rebinding)
cannot swap it. Redirects are followed only within the same origin, at most MAX_REDIRECTS, each checked again.

Everything is checked before anything is fetched, caps (file count, bytes per file, bytes in all) are counted
while streaming, and files land in a staging directory beside the job's: only a pull that finished whole is
moved into place, so a refusal leaves nothing partial in the results directory.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import secrets
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import httpx

from .. import private
from ..errors import PolicyError, SchedulerError, TransportError

MAX_REDIRECTS = 3
MAX_NAME = 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Limits:
    files: int
    file_bytes: int
    total_bytes: int


@dataclass(frozen=True)
class Item:
    name: str
    url: httpx.URL
    target: Path


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:g} {unit} ({n:,} bytes)"
    return f"{n:,} bytes"


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host.lower().rstrip("."), url.port or _DEFAULT_PORTS.get(url.scheme)


def file_name(name: object) -> str:
    """A name from the engine, as a relative path of plain parts: the CLI writes it wherever it points."""
    refused = f"the engine named a file to pull {str(name)[:200]!r}, which hpcbridge refuses"
    if not isinstance(name, str) or not name:
        raise PolicyError(f"{refused}: empty or not text")
    if len(name) > MAX_NAME:
        raise PolicyError(f"{refused}: longer than {MAX_NAME} characters")
    if name.startswith(("/", "~")):
        raise PolicyError(f"{refused}: an absolute path would land outside the results directory")
    if any(c in name for c in "\\\x00") or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise PolicyError(f"{refused}: it holds a backslash, NUL or control character")
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise PolicyError(f"{refused}: '.', '..' and empty parts are not file names (a name with them "
                          "could point outside the results directory)")
    return name


def _address_problem(address: IpAddress) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return _address_problem(address.ipv4_mapped)
    for kind in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(address, f"is_{kind}"):
            return f"a {kind.replace('_', '-')} address"
    return None if address.is_global else "not a public address"


def check_url(name: str, raw: object, engine_url: httpx.URL) -> httpx.URL:
    """What can be checked without the network: the form, the scheme, and an address written in the URL."""
    said = f"the engine's download address for {name!r}"
    try:
        url = httpx.URL(raw) if isinstance(raw, str) else None
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in _DEFAULT_PORTS or not url.host:
        raise PolicyError(f"{said} is not an http(s) URL: {str(raw)[:100]!r}")
    if url.userinfo:
        raise PolicyError(f"{said} carries a user name or password: refused")
    if _origin(url) == _origin(engine_url):
        return url
    try:
        problem = _address_problem(ipaddress.ip_address(url.host))
    except ValueError:
        problem = None
    if problem:
        raise PolicyError(f"{said} points at {url.host}, {problem}: only the engine's own address "
                          f"({engine_url.host}) or public addresses are fetched")
    if url.scheme != "https":
        raise PolicyError(f"{said} is plain http on another host ({url.host}): only https is fetched from hosts "
                          "other than the engine")
    return url


def plan(root: Path, download_map: object, engine_url: str, limits: Limits) -> list[Item]:
    """Every name, target and URL checked, and the count capped, before a byte is fetched."""
    if not isinstance(download_map, dict):
        raise PolicyError("the engine's download_map is not a map of file names to URLs: nothing was pulled")
    if len(download_map) > limits.files:
        raise PolicyError(f"the engine listed {len(download_map):,} files to pull, more than "
                          f"tensorpool_pull_max_files = {limits.files:,}: nothing was pulled (raise it in the "
                          "account's table to pull more)")
    engine = httpx.URL(engine_url)
    names = [file_name(name) for name in download_map]
    folders = {"/".join(n.split("/")[:i]) for n in names for i in range(1, n.count("/") + 1)}
    if clash := sorted(folders & set(names)):
        raise PolicyError(f"the engine named {clash[0]!r} both as a file and as a directory: nothing was pulled")
    base = root.resolve()
    items = []
    for name in names:
        target = (root / name).resolve()
        if not target.is_relative_to(base) or target == base:
            raise PolicyError(f"the engine named a file to pull outside the results directory: {name[:200]!r}")
        items.append(Item(name, check_url(name, download_map[name], engine), target))
    return items


async def pinned_address(name: str, url: httpx.URL) -> str:
    """Resolve the URL's host once; every address must be public; the first is the one connected to."""
    port = url.port or _DEFAULT_PORTS[url.scheme]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(url.host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise TransportError(f"cannot resolve {url.host} (the download address for {name!r}): {exc}") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    for address in addresses:
        if problem := _address_problem(address):
            raise PolicyError(f"the engine's download address for {name!r} names {url.host}, which resolves to "
                              f"{address}, {problem}: only the engine's own address or public addresses are "
                              "fetched")
    if not addresses:
        raise TransportError(f"{url.host} (the download address for {name!r}) resolves to no address")
    return str(addresses[0])


class Puller:
    """One pull: fetches each item into a staging directory, counting bytes against the caps."""

    def __init__(self, http: httpx.AsyncClient, engine_url: str, limits: Limits) -> None:
        self.http = http
        self.engine = httpx.URL(engine_url)
        self.limits = limits
        self.total = 0

    async def fetch(self, item: Item, into: Path) -> None:
        url = item.url
        for _ in range(MAX_REDIRECTS + 1):
            request = await self._request(item.name, url)
            async with self.http.stream("GET", request[0], headers=request[1], extensions=request[2]) as response:
                if response.is_redirect:
                    url = self._next(item.name, url, response.headers.get("location", ""))
                    continue
                if response.status_code != 200:
                    raise SchedulerError(f"downloading {item.name} failed: status {response.status_code}: "
                                         "nothing was pulled")
                await self._stream(item.name, response, into)
                return
        raise PolicyError(f"the download of {item.name!r} was redirected more than {MAX_REDIRECTS} times: "
                          "nothing was pulled")

    async def _request(self, name: str, url: httpx.URL) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
        if _origin(url) == _origin(self.engine):
            return url, {}, {}
        address = await pinned_address(name, url)
        return url.copy_with(host=address), {"Host": url.netloc.decode("ascii")}, {"sni_hostname": url.host}

    def _next(self, name: str, url: httpx.URL, location: str) -> httpx.URL:
        try:
            target = url.join(location)
        except httpx.InvalidURL:
            target = None
        if target is None or not location or _origin(target) != _origin(url):
            where = target.host if target is not None else location[:100]
            raise PolicyError(f"the download of {name!r} was redirected to another host ({where}): hpcbridge "
                              "follows redirects only within the same scheme, host and port: nothing was pulled")
        return check_url(name, str(target), self.engine)

    async def _stream(self, name: str, response: httpx.Response, into: Path) -> None:
        declared = response.headers.get("content-length", "")
        if declared.isdigit():
            self._count(name, int(declared), 0)
        size = 0
        private.make_dir(into.parent)
        with os.fdopen(os.open(into, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:  # never 0644
            async for chunk in response.aiter_bytes():
                self._count(name, size + len(chunk), size)
                size += len(chunk)
                fh.write(chunk)
        self.total += size

    def _count(self, name: str, size: int, before: int) -> None:
        if size > self.limits.file_bytes:
            raise PolicyError(f"{name!r} is larger than tensorpool_pull_max_file_bytes = "
                              f"{_size(self.limits.file_bytes)}: stopped, nothing was pulled")
        if self.total + size > self.limits.total_bytes:
            raise PolicyError(f"the job's files add up to more than tensorpool_pull_max_bytes = "
                              f"{_size(self.limits.total_bytes)} (reached at {name!r}): stopped, nothing was pulled")


async def pull(items: list[Item], root: Path, engine_url: str, limits: Limits, timeout: float) -> None:
    """Fetch all items into a staging directory beside root, then move them into place; on any failure the
    staging directory goes and nothing is moved."""
    private.make_dir(root.parent)
    staging = root.parent / f".pulling-{root.name}-{secrets.token_hex(4)}"  # ids start alphanumeric: no clash
    staging.mkdir(mode=0o700)
    try:
        # trust_env off: no proxy or .netrc credentials for hosts the engine chose
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as http:
            puller = Puller(http, engine_url, limits)
            for item in items:
                await puller.fetch(item, staging / item.name)
        for item in items:
            private.make_dir(item.target.parent)
            os.replace(staging / item.name, item.target)
    except httpx.HTTPError as exc:
        raise TransportError(f"pulling the job's files failed ({type(exc).__name__}: {exc}): nothing was "
                             "pulled") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
