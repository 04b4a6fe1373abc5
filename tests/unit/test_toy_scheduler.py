"""The seam, proven on a scheduler that exists only in the test tree (tests/toy_scheduler: its builder, parser,
backend and registration). Registered at run time, it is a valid `scheduler` value, gets its own resource
scheme and CLI choice, has every other scheduler's directives refused, and passes the shared contract suite
(tests/contract.py) on recorded outputs, while nothing under src/ names it.

The replayed commands stand in for a scheduler that cannot run here because it does not exist."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpcbridge.backends import registry
from hpcbridge.backends.base import SchedulerBackend
from hpcbridge.cli_admin import add_parsers
from hpcbridge.config import ClusterConfig
from hpcbridge.errors import ConfigError, InvalidParameter, Unsupported
from hpcbridge.models import CommandResult, JobState
from hpcbridge.services.cluster import Cluster

from ..conftest import ROOT
from ..contract import *
from ..toy_scheduler import ENTRY

RECORDED = Path(__file__).resolve().parent.parent / "toy_scheduler" / "recorded"
ANSWERS = {("toyq", "--version"): "version.txt", ("toyq", "queues"): "queues.txt", ("toyq", "nodes"): "nodes.txt",
           ("toyq", "stat"): "stat.txt", ("toyq", "stat", "--user", "alice"): "stat.txt", ("toyq", "hist"): "hist.txt",
           ("toyq", "sub", "-"): "sub.txt"}


class Replay:
    """argv -> a recorded answer; every command sent is kept."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, ...]] = []

    async def run(self, argv: list[str], **_: object) -> CommandResult:
        key = tuple(argv)
        self.sent.append(key)
        if key == ("id", "-un"):
            return CommandResult(key, "alice\n", "", 0, 0.0)
        if key[:2] in {("toyq", "del"), ("toyq", "hold"), ("toyq", "release")}:
            known = key[2] in {"41", "42", "43", "44"}
            return CommandResult(key, "", "" if known else f"toyq: unknown job {key[2]}\n", 0 if known else 1, 0.0)
        name = ANSWERS.get(key)
        if name is None:
            return CommandResult(key, "", f"toyq: unexpected {argv}\n", 2, 0.0)
        return CommandResult(key, (RECORDED / name).read_text(), "", 0, 0.0)

    async def write(self, path: str, data: bytes) -> None:
        raise AssertionError("toyq reads scripts on stdin")


class ReplayTransport:
    description = "replayed toyq answers"

    def __init__(self, replay: Replay) -> None:
        self.replay = replay

    async def run(self, argv: list[str], *, timeout: float, stdin: bytes | None = None,
                  idempotent: bool = True) -> CommandResult:
        return await self.replay.run(argv)

    async def close(self) -> None:
        return None


@pytest.fixture(autouse=True)
def toy_registered() -> Iterator[None]:
    registry.register(ENTRY)
    yield
    registry.unregister(ENTRY.name)


@pytest.fixture
def replay() -> Replay:
    return Replay()


@pytest.fixture
def backend(replay: Replay) -> SchedulerBackend:
    return registry.make_backend(ClusterConfig(name="toy", scheduler="toyq", transport="local"), replay.run,
                                 replay.write)


@pytest.fixture
def gpu_queue_directive() -> str:
    return "#TOYQ queue=gpu"


@pytest.fixture
def cluster(replay: Replay) -> Cluster:
    config = ClusterConfig(name="toy", scheduler="toyq", transport="local")
    return Cluster(config, ReplayTransport(replay))  # type: ignore[arg-type]


def test_only_a_registered_scheduler_is_a_valid_config_value() -> None:
    assert ClusterConfig(name="t", scheduler="toyq").scheduler == "toyq"
    registry.unregister("toyq")
    with pytest.raises((ConfigError, ValueError), match="toyq.*not a scheduler hpcbridge knows"):
        ClusterConfig(name="t", scheduler="toyq")


def test_the_registry_gives_its_prefix_environment_scheme_and_cli_choice() -> None:
    config = ClusterConfig(name="t", scheduler="toyq", transport="local")
    env = registry.command_env(config)
    assert ("TOYQ_SERVER", "toy01") in env.assign and ("LC_ALL", "C") in env.assign
    slurm_env = registry.command_env(ClusterConfig(name="s"))
    assert "TOYQ_FORMAT" in slurm_env.unset and "SQUEUE_FORMAT" in env.unset  # every scheduler's, everywhere
    assert "#TOYQ" in registry.foreign_directives("slurm") and "#SBATCH" in registry.foreign_directives("toyq")
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["cluster", "add", "t", "--scheduler", "toyq"])
    assert args.scheduler == "toyq"


async def test_the_cluster_serves_it_without_knowing_it(cluster: Cluster, replay: Replay) -> None:
    assert cluster.scheduler == "toyq" and await cluster.version() == "1.2"
    named = await cluster.jobs_named("hpcb-abc123-", prefix=True)
    assert [j.job_id for j in named] == ["42"] and named[0].state is JobState.PENDING
    assert await cluster.cancel_named("hpcb-abc123-", prefix=True) == ["42"]
    assert ("toyq", "del", "42") in replay.sent
    with pytest.raises(Unsupported, match="not supported on toyq"):
        cluster.interactive("interactive sessions")
    with pytest.raises(InvalidParameter, match="line 2 .*#SBATCH"):
        cluster.read_directives("#!/bin/bash\n#SBATCH -p gpu\necho hi")
    details = await cluster.job_details("39")  # gone from the queue: from accounting
    assert details.job.state is JobState.FAILED and details.exit_code == 3


def test_nothing_under_src_names_the_toy() -> None:
    assert not [p for p in (ROOT / "src").rglob("*.py") if "toyq" in p.read_text()]
