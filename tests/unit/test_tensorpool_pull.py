"""What a pull accepts from the engine's download_map before fetching (hpcbridge.tensorpool.pull); the live
replay against the stand-in engine is tests/security/test_tensorpool_pulls.py."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from hpcbridge.errors import PolicyError
from hpcbridge.tensorpool import pull

ENGINE = "http://127.0.0.1:8123"
LIMITS = pull.Limits(files=3, file_bytes=10, total_bytes=20)


def test_names_are_plain_relative_paths() -> None:
    for good in ("ok.txt", "ckpt/model.pt", "a.b/..c/d..", ".hidden", "spaces are fine"):
        assert pull.file_name(good) == good
    for bad in (".", "..", "a/..", "a/./b", "../x", "/etc/x", "~/x", "a//b", "a/", "a\\b", "a\x00b", "a\rb", "",
                "x" * 1025, 7, None):
        with pytest.raises(PolicyError, match="the engine named a file to pull"):
            pull.file_name(bad)


@pytest.mark.parametrize("address, kind", [
    ("127.0.0.2", "loopback"), ("::1", "loopback"), ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("10.1.2.3", "private"), ("192.168.0.1", "private"), ("fd00::1", "private"), ("100.64.0.1", "not a public"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"), ("240.0.0.1", "reserved"), ("0.0.0.0", "unspecified"),
    ("::ffff:10.0.0.1", "private"), ("::ffff:127.0.0.1", "loopback")])
def test_internal_addresses_are_named(address: str, kind: str) -> None:
    assert kind in (pull._address_problem(ipaddress.ip_address(address)) or "")


def test_public_addresses_pass() -> None:
    for address in ("8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"):
        assert pull._address_problem(ipaddress.ip_address(address)) is None


def test_the_engines_own_origin_is_trusted_and_other_hosts_need_https() -> None:
    engine = httpx.URL(ENGINE)
    assert pull.check_url("a", f"{ENGINE}/files/a", engine).host == "127.0.0.1"  # configured: loopback is fine
    assert pull.check_url("a", "https://storage.example/a?sig=1", engine).host == "storage.example"
    for bad, why in [("http://127.0.0.1:8124/a", "loopback"), ("https://127.0.0.1/a", "loopback"),
                     ("http://storage.example/a", "plain http"), ("file:///etc/passwd", "not an http"),
                     ("https://u:p@storage.example/a", "user name or password"), ("https://", "not an http"),
                     (None, "not an http")]:
        with pytest.raises(PolicyError, match=why):
            pull.check_url("a", bad, engine)


def test_plan_checks_everything_first(tmp_path: Path) -> None:
    root = tmp_path / "results" / "j-1"
    url = f"{ENGINE}/files/x"
    items = pull.plan(root, {"a": url, "d/b": url}, ENGINE, LIMITS)
    assert [(i.name, i.target) for i in items] == [("a", root.resolve() / "a"), ("d/b", root.resolve() / "d" / "b")]
    with pytest.raises(PolicyError, match="listed 4 files to pull, more than tensorpool_pull_max_files = 3"):
        pull.plan(root, {str(i): url for i in range(4)}, ENGINE, LIMITS)
    with pytest.raises(PolicyError, match="'d' both as a file and as a directory"):
        pull.plan(root, {"d": url, "d/b": url}, ENGINE, LIMITS)
    root.mkdir(parents=True)
    (root / "link").symlink_to(tmp_path)  # a symlink left in the results directory does not lead out
    with pytest.raises(PolicyError, match="outside the results directory"):
        pull.plan(root, {"link/x": url}, ENGINE, LIMITS)


async def test_a_name_is_resolved_once_and_every_address_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Public DNS cannot be reached from here, so the resolver's answer is given (the only mock): a name with a
    private address among public ones is refused, and a public one is connected to by address, with the name
    kept for TLS (SNI, certificate) and the Host header."""
    answers: dict[str, list[str]] = {"mixed.example": ["93.184.215.14", "10.0.0.5"], "ok.example": ["93.184.215.14"]}

    async def getaddrinfo(host: str, port: int, **_: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in answers[host]]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
    with pytest.raises(PolicyError, match=r"mixed\.example, which resolves to 10\.0\.0\.5, a private address"):
        await pull.pinned_address("a", httpx.URL("https://mixed.example/a"))
    async with httpx.AsyncClient() as http:
        puller = pull.Puller(http, ENGINE, LIMITS)
        url, headers, extensions = await puller._request("a", httpx.URL("https://ok.example:8443/a?sig=1"))
    assert str(url) == "https://93.184.215.14:8443/a?sig=1"
    assert headers == {"Host": "ok.example:8443"} and extensions == {"sni_hostname": "ok.example"}
