"""The backend contract: every backend implements the protocol, the registry covers every scheduler the
config accepts, and no code outside the backends asks which scheduler it is talking to."""

from __future__ import annotations

import inspect
import re
import typing

import pytest

from hpcbridge.config import ClusterConfig
from hpcbridge.errors import Unsupported
from hpcbridge.services.backend import BACKENDS, Capabilities, SchedulerBackend, make_backend, refuse

from ..conftest import ROOT

SRC = ROOT / "src" / "hpcbridge"
# Where a scheduler may be named: its own modules, the registry of backends, and the pure scheduler modules.
ALLOWED = {"services/slurm.py", "services/pbs.py", "services/backend.py"}
BRANCH = re.compile(r"is_pbs|scheduler\s*[!=]=\s*[\"']|SlurmBackend|PbsBackend|flavor\s*==")


def test_no_scheduler_branch_outside_the_backends() -> None:
    found = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        if rel in ALLOWED or rel.startswith("schedulers/"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if BRANCH.search(line):
                found.append(f"{rel}:{number}: {line.strip()}")
    assert found == [], "scheduler branches outside the backends:\n" + "\n".join(found)


def test_the_registry_covers_every_scheduler_the_config_accepts() -> None:
    accepted = set(typing.get_args(ClusterConfig.model_fields["scheduler"].annotation))
    assert set(BACKENDS) == accepted


@pytest.mark.parametrize("scheduler", sorted(BACKENDS))
def test_every_backend_implements_the_protocol(scheduler: str) -> None:
    async def run(*_: object, **__: object) -> None: ...
    async def write(*_: object) -> None: ...

    config = ClusterConfig(name="c", scheduler=scheduler, transport="local")
    backend = make_backend(config, run, write)  # type: ignore[arg-type]
    assert isinstance(backend.capabilities, Capabilities)
    members = {n for n in dir(SchedulerBackend) if not n.startswith("_")} | {"name", "capabilities"}
    for member in members:
        assert hasattr(backend, member), f"{scheduler} backend lacks {member}"
        if inspect.iscoroutinefunction(getattr(SchedulerBackend, member, None)):
            assert inspect.iscoroutinefunction(getattr(backend, member)), f"{scheduler}.{member} must be async"
    assert backend.job_id(1234) == "1234"  # agents send numbers


def test_a_missing_capability_is_refused_naming_the_scheduler_and_the_alternative() -> None:
    async def run(*_: object, **__: object) -> None: ...

    pbs = make_backend(ClusterConfig(name="c", scheduler="pbs", transport="local"), run, run)  # type: ignore[arg-type]
    assert not pbs.capabilities.interactive and not pbs.capabilities.containers
    err = refuse(pbs, "interactive work", "submit a batch job instead")
    assert isinstance(err, Unsupported) and str(err) == "interactive work is not supported on pbs: submit a batch job instead"


@pytest.mark.parametrize("scheduler", sorted(BACKENDS))
@pytest.mark.parametrize("value", ["now-2weeks", "now-7days", "2024-01-31", "2024-01-31T12:00", "now", "today"])
def test_history_times_mean_the_same_on_every_backend(scheduler: str, value: str) -> None:
    async def run(*_: object, **__: object) -> None: ...

    backend = make_backend(ClusterConfig(name="c", scheduler=scheduler, transport="local"), run, run)  # type: ignore[arg-type]
    assert backend.history_time("start_time", value) == value


@pytest.mark.parametrize("scheduler", sorted(BACKENDS))
def test_a_bad_history_time_names_the_parameter_on_every_backend(scheduler: str) -> None:
    from hpcbridge.errors import InvalidParameter

    async def run(*_: object, **__: object) -> None: ...

    backend = make_backend(ClusterConfig(name="c", scheduler=scheduler, transport="local"), run, run)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="start_time"):
        backend.history_time("start_time", "yesterday; rm -rf")


def test_server_has_no_import_cycle() -> None:
    """Tool modules import toolkit/params/outputs, never app.py or each other (TYPE_CHECKING imports count)."""
    server = SRC / "server"
    graph: dict[str, set[str]] = {}
    for path in server.glob("*.py"):
        targets: set[str] = set()
        for line in path.read_text().splitlines():
            m = re.match(r"\s*from \.(\w*) import (.+)", line)
            if not m:
                continue
            if m.group(1):
                targets.add(m.group(1))
            else:  # from . import a, b
                targets |= {n.strip(" ()") for n in m.group(2).split(",") if n.strip(" ()")}
        graph[path.stem] = {t for t in targets if (server / f"{t}.py").exists()}

    def cycle_from(node: str, stack: list[str]) -> list[str] | None:
        if node in stack:
            return [*stack[stack.index(node):], node]
        for nxt in sorted(graph.get(node, ())):
            found = cycle_from(nxt, [*stack, node])
            if found:
                return found
        return None

    for start in sorted(graph):
        assert cycle_from(start, []) is None, f"import cycle in server/: {' -> '.join(cycle_from(start, []) or [])}"


def test_state_codes_belong_to_their_scheduler() -> None:
    """`F` is FAILED to squeue and 'finished, however it ended' to qstat: each backend brings its own words."""
    from hpcbridge.models import JobState
    from hpcbridge.schedulers import pbs, slurm_states

    assert slurm_states.STATE_WORDS["F"] == {JobState.FAILED}
    assert JobState.COMPLETED in pbs.STATE_WORDS["F"] and JobState.FAILED in pbs.STATE_WORDS["F"]
    assert "Q" not in slurm_states.STATE_WORDS and "PD" not in pbs.STATE_WORDS
    assert pbs.NODE_WORDS["FREE"] == ("IDLE",) and slurm_states.NODE_WORDS == {}


def test_shell_policy_lives_in_services() -> None:
    from hpcbridge.errors import InvalidParameter, PolicyError
    from hpcbridge.services.shell import cap, shell_argv

    assert shell_argv("ls -la", []) == ["bash", "-c", "ls -la"]
    assert shell_argv("echo 'a b'", ["echo"]) == ["echo", "a b"]  # no shell with an allowlist
    assert shell_argv("echo hi", ["echo"], "/w")[:5] == ["bash", "-c", 'cd -- "$1" && shift && exec "$@"',
                                                          "hpcbridge", "/w"]
    with pytest.raises(PolicyError, match="shell_allowlist"):
        shell_argv("rm -rf /", ["echo"])
    with pytest.raises(InvalidParameter, match="command"):
        shell_argv("  ", [])
    assert cap("x" * 10, 4) == ("xxxx", True) and cap("ab", 4) == ("ab", False)


# services that call scheduler commands read their output through the pure modules in schedulers/
SCHEDULER_SERVICES = ["slurm", "pbs", "interactive", "recommend", "diagnose", "cluster", "waiting", "containers",
                      "submission", "registry", "backend"]


@pytest.mark.parametrize("module", SCHEDULER_SERVICES)
def test_scheduler_services_hold_no_parser(module: str) -> None:
    text = (SRC / "services" / f"{module}.py").read_text()
    assert "import re\n" not in text, f"services/{module}.py parses text itself: move it to schedulers/"
