"""`hpcbridge check`: tell a person exactly what works and what does not, one line per fact."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass

from .config import Settings
from .errors import HpcBridgeError
from .services.registry import Registry


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fatal: bool = True


def _say(check: Check) -> None:
    mark = "ok  " if check.ok else ("FAIL" if check.fatal else "warn")
    sys.stdout.write(f"[{mark}] {check.name}: {check.detail}\n")


async def check_cluster(registry: Registry, name: str) -> list[Check]:
    cluster = registry.get(name)
    cfg = cluster.config
    out: list[Check] = []
    try:
        who = await cluster.user()
    except HpcBridgeError as exc:
        reach = "connect" if cfg.transport == "ssh" else "run commands"
        return [Check(f"{name}: {reach}", False, str(exc))]
    if cfg.transport == "openssh":
        from .transport.openssh import OpenSshTransport

        if isinstance(cluster.transport, OpenSshTransport):
            alive, said = await cluster.transport.master_alive()
            out.append(Check(f"{name}: openssh master", alive, f"{said}; user {who}; stays "
                             f"{cfg.control_persist} after the last command ({cluster.transport.options.control_path})"))
    elif cfg.transport == "ssh":
        out.append(Check(f"{name}: ssh", True, f"logged in to {cfg.host} as {who}"))
        hk = "verified against " + (cfg.known_hosts or "~/.ssh/known_hosts") if cfg.verify_host_key else (
            "NOT verified (verify_host_key = false)")
        out.append(Check(f"{name}: host key", cfg.verify_host_key, hk, fatal=False))
    else:
        out.append(Check(f"{name}: local", True, f"running commands as {who}"))
    try:
        version = await cluster.version()
        out.append(Check(f"{name}: scheduler", True, f"{cfg.scheduler} {version}"))
    except HpcBridgeError as exc:
        out.append(Check(f"{name}: scheduler", False, str(exc)))
        return out
    accounting = await cluster.accounting_available()
    out.append(Check(f"{name}: accounting", accounting, cluster.history_note(accounting), fatal=False))
    out.append(Check(f"{name}: privileges", True, f"{who}: {await cluster.privileges(who)}", fatal=False))
    try:
        parts = await cluster.partitions()
        nodes = await cluster.nodes()
    except HpcBridgeError as exc:
        out.append(Check(f"{name}: partitions", False, str(exc)))
        return out
    gpu_parts = [p.name for p in parts if any(n.gpus for n in nodes if n.name in p.nodes)]
    configured = cfg.gpu_partitions
    detail = ", ".join(gpu_parts) or "none found"
    if configured and set(configured) != set(gpu_parts):
        detail += f" (config says gpu_partitions = {', '.join(configured)})"
    out.append(Check(f"{name}: partitions", True, ", ".join(p.name + ("*" if p.is_default else "") for p in parts)))
    out.append(Check(f"{name}: GPU partitions", True, detail, fatal=False))
    if cfg.default_partition and cfg.default_partition not in {p.name for p in parts}:
        out.append(Check(f"{name}: default_partition", False, f"'{cfg.default_partition}' does not exist"))
    shell = "enabled" + (f" (allowlist: {', '.join(cfg.shell_allowlist)})" if cfg.shell_allowlist else
                         " (any command)") if cfg.allow_shell else "disabled"
    out.append(Check(f"{name}: run_shell_command", True, shell, fatal=False))
    return out


async def checked_cluster(registry: Registry, name: str) -> list[Check]:
    try:
        return await check_cluster(registry, name)
    except HpcBridgeError as exc:
        return [Check(f"{name}: check", False, str(exc))]


async def check_account(settings: Settings, name: str) -> list[Check]:
    """A TensorPool account: the engine answers and takes the key (what `tp me` does)."""
    from .tensorpool.service import TensorPool

    try:
        said = await TensorPool(settings.providers).me(name)
        return [Check(f"{name}: tensorpool", True, said.message.splitlines()[0] if said.message else "key accepted")]
    except HpcBridgeError as exc:
        return [Check(f"{name}: tensorpool", False, str(exc))]


async def run_checks(settings: Settings, only: str | None) -> int:
    _say(Check("config", True, f"{len(settings.clusters)} cluster(s) from {settings.source}; default "
                               f"'{settings.default_cluster}'"))
    registry = Registry(settings)
    names = [only] if only else list(settings.clusters)
    accounts = [n for n in ([only] if only else settings.providers) if n in settings.providers]
    names = [n for n in names if n not in settings.providers]
    failed = False
    try:
        # every cluster at once: one that does not answer costs its connect timeout, not everyone's
        results = await asyncio.gather(*(checked_cluster(registry, name) for name in names),
                                       *(check_account(settings, name) for name in accounts))
        for checks in results:
            for check in checks:
                _say(check)
                failed |= not check.ok and check.fatal
    finally:
        await registry.close()
    return 1 if failed else 0
