"""All configured clusters, built lazily (no connection is opened until a tool needs the cluster)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

from ..backends import registry as schedulers
from ..config import ClusterConfig, Settings
from ..config_env import SECRET_ENV
from ..errors import NotFound
from ..models import EnvSpec
from ..transport.base import Transport
from ..transport.local import LocalTransport
from ..transport.openssh import OpenSshOptions, OpenSshTransport, control_path
from .cluster import Cluster


def command_env(config: ClusterConfig) -> EnvSpec:
    """What the scheduler's commands need, and hpcbridge's own secrets kept from every child."""
    return replace(schedulers.command_env(config), private=SECRET_ENV)


def make_transport(config: ClusterConfig) -> Transport:
    env = command_env(config)
    if config.transport == "local":
        return LocalTransport(env)
    if config.transport == "openssh":
        # no control_path configured: the one the user's own ssh config defines for the host, if any, asked by
        # the transport before its first use (`ssh -G` is a process: not run here, on the event loop)
        return OpenSshTransport(OpenSshOptions(
            host=config.host or "", cluster=config.name, control_path=control_path(config.name, config.control_path),
            ask_ssh_config=not config.control_path and bool(config.host), control_persist=config.control_persist,
            port=config.port, user=config.user, key_path=config.key_path, ssh_config=config.ssh_config,
            known_hosts=config.known_hosts, connect_timeout=config.connect_timeout,
            max_channels=config.max_channels, shell_workers=config.shell_workers), env)
    from ..transport.ssh import SshOptions, SshTransport  # asyncssh: a quarter second, paid when first needed

    return SshTransport(
        SshOptions(
            host=config.host or "",
            port=config.port,
            user=config.user,
            key_path=config.key_path,
            password=config.password.get_secret_value() if config.password else None,
            known_hosts=config.known_hosts,
            verify_host_key=config.verify_host_key,
            ssh_config=config.ssh_config,
            connect_timeout=config.connect_timeout,
            max_channels=config.max_channels,
            shell_workers=config.shell_workers,
        ),
        env,
    )


class Registry:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._clusters: dict[str, Cluster] = {}
        self._on_build: list[Callable[[Cluster], None]] = []
        self._closing: set[asyncio.Task[None]] = set()  # retired clusters' transports being closed

    def each_cluster(self, hook: Callable[[Cluster], None]) -> None:
        """`hook` on every cluster: those built already now, the others when first needed (building one makes
        its transport, and the SSH one imports asyncssh: not at start, where it would delay tools/list)."""
        self._on_build.append(hook)
        for cluster in self._clusters.values():
            hook(cluster)

    @property
    def names(self) -> list[str]:
        return list(self.settings.clusters)

    def first_with_scheduler(self, scheduler: str) -> str:
        """The default cluster if it runs `scheduler`, else the first configured one that does."""
        clusters = self.settings.clusters
        ordered = [self.settings.default_cluster, *clusters]
        for name in ordered:
            if clusters[name].scheduler == scheduler:
                return name
        raise NotFound(f"no {scheduler.upper()} cluster is configured; clusters: "
                       + ", ".join(f"{n} ({c.scheduler})" for n, c in clusters.items()))

    def get(self, name: str | None = None) -> Cluster:
        key = name or self.settings.default_cluster
        if key not in self.settings.clusters:
            raise NotFound(f"cluster '{key}' is not configured; clusters: {', '.join(self.names)}")
        config = self.settings.clusters[key]
        built = self._clusters.get(key)
        if built is not None and built.config != config:
            # built from a configuration that has changed since (the config editor): never serve the old one,
            # whose read_only or host may differ; its transport is closed beside
            self._retire(self.detach(key))
            built = None
        if built is None:
            built = self._clusters[key] = Cluster(config, make_transport(config))
            for hook in self._on_build:
                hook(built)
        return built

    def detach(self, name: str) -> Cluster | None:
        """Take a built cluster out without waiting: the next get() builds it from the settings afresh."""
        return self._clusters.pop(name, None)

    def _retire(self, cluster: Cluster | None) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a CLI command): nothing of it is open
        if cluster is not None:
            task = loop.create_task(cluster.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def forget(self, name: str) -> None:
        """Drop a built cluster (its configuration changed or went away) and close its transport."""
        cluster = self.detach(name)
        if cluster is not None:
            await cluster.close()

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self._clusters.values()), *self._closing, return_exceptions=True)
        self._clusters.clear()
