"""The backend contract and the seam: every registered backend implements the protocol, the registry is the
one list of schedulers, the import graph has no circle and points down, and no code outside a scheduler's
folder asks which scheduler it is talking to or names one of its commands."""

from __future__ import annotations

import ast
import inspect
import re

import pytest

from hpcbridge.backends import registry
from hpcbridge.backends.base import Capabilities, SchedulerBackend, refuse
from hpcbridge.config import ClusterConfig
from hpcbridge.errors import Unsupported

from ..conftest import ROOT

SRC = ROOT / "src" / "hpcbridge"
BRANCH = re.compile(r"is_pbs|scheduler\s*[!=]=\s*[\"']|SlurmBackend|PbsBackend|flavor\s*==")
SCHEDULER_FOLDERS = tuple(f"backends/{name}/" for name in registry.names())
# every command of every registered scheduler: named only inside that scheduler's folder
COMMANDS = ["squeue", "sbatch", "srun", "salloc", "scancel", "scontrol", "sacct", "sinfo", "sacctmgr", "sprio", "sshare", "sstat", "qstat", "qsub", "qdel", "qhold", "qrls", "qalter", "qsig", "pbsnodes", "qmgr", "tracejob"]


def _modules() -> dict[str, ast.Module]:
    return {p.relative_to(SRC).as_posix(): ast.parse(p.read_text()) for p in SRC.rglob("*.py")}


def test_no_scheduler_branch_outside_the_backends() -> None:
    found = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith(SCHEDULER_FOLDERS):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if BRANCH.search(line):
                found.append(f"{rel}:{number}: {line.strip()}")
    assert found == [], "scheduler branches outside the backends:\n" + "\n".join(found)


def test_the_registry_is_the_one_list_the_config_accepts() -> None:
    for name in registry.names():
        assert ClusterConfig(name="c", scheduler=name).scheduler == name
    with pytest.raises(ValueError, match="'lsf' is not a scheduler hpcbridge knows; one of: slurm, pbs"):
        ClusterConfig(name="c", scheduler="lsf")


@pytest.mark.parametrize("scheduler", registry.names())
def test_every_backend_implements_the_protocol(scheduler: str) -> None:
    async def run(*_: object, **__: object) -> None: ...
    async def write(*_: object) -> None: ...

    config = ClusterConfig(name="c", scheduler=scheduler, transport="local")
    backend = registry.make_backend(config, run, write)  # type: ignore[arg-type]
    assert backend.name == scheduler and isinstance(backend.capabilities, Capabilities)
    members = {n for n in dir(SchedulerBackend) if not n.startswith("_")} | {"name", "capabilities", "interactive"}
    for member in members:
        assert hasattr(backend, member), f"{scheduler} backend lacks {member}"
        if inspect.iscoroutinefunction(getattr(SchedulerBackend, member, None)):
            assert inspect.iscoroutinefunction(getattr(backend, member)), f"{scheduler}.{member} must be async"
    assert backend.job_id(1234) == "1234"  # agents send numbers
    assert (backend.interactive is not None) == backend.capabilities.interactive


def test_a_missing_capability_is_refused_naming_the_scheduler_and_the_alternative() -> None:
    async def run(*_: object, **__: object) -> None: ...

    pbs = registry.make_backend(ClusterConfig(name="c", scheduler="pbs", transport="local"), run, run)  # type: ignore[arg-type]
    assert not pbs.capabilities.interactive and not pbs.capabilities.containers
    err = refuse(pbs.name, "interactive work", "submit a batch job instead")
    assert isinstance(err, Unsupported) and str(err) == "interactive work is not supported on pbs: submit a batch job instead"


@pytest.mark.parametrize("scheduler", registry.names())
@pytest.mark.parametrize("value", ["now-2weeks", "now-7days", "2024-01-31", "2024-01-31T12:00", "now", "today"])
def test_history_times_mean_the_same_on_every_backend(scheduler: str, value: str) -> None:
    async def run(*_: object, **__: object) -> None: ...

    backend = registry.make_backend(ClusterConfig(name="c", scheduler=scheduler, transport="local"), run, run)  # type: ignore[arg-type]
    assert backend.history_time("start_time", value) == value


@pytest.mark.parametrize("scheduler", registry.names())
def test_a_bad_history_time_names_the_parameter_on_every_backend(scheduler: str) -> None:
    from hpcbridge.errors import InvalidParameter

    async def run(*_: object, **__: object) -> None: ...

    backend = registry.make_backend(ClusterConfig(name="c", scheduler=scheduler, transport="local"), run, run)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="start_time"):
        backend.history_time("start_time", "yesterday; rm -rf")


def _runtime_imports(rel: str, tree: ast.Module) -> set[str]:
    """The hpcbridge modules a module imports when it runs: module-level and function-local imports count
    (a circle hidden in a function is still a circle); `if TYPE_CHECKING:` blocks do not (they never run)."""
    package = ["hpcbridge", *rel.removesuffix(".py").split("/")]
    package = package[:-1]  # the module's package (an __init__ is its own package)
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
               and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING"
               for n in ast.walk(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *(node.module.split(".") if node.module else [])]) if node.level else (
                node.module or "")
            if not target.startswith("hpcbridge"):
                continue
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if _exists(candidate) else target)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("hpcbridge")}
    return {f for f in found if _exists(f)}


def _exists(dotted: str) -> bool:
    path = SRC.parent / dotted.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _graph() -> dict[str, set[str]]:
    graph = {}
    for rel, tree in _modules().items():
        name = "hpcbridge." + rel.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        if rel == "__init__.py":
            name = "hpcbridge"
        graph[name] = _runtime_imports(rel, tree) - {name}
    return graph


def test_the_import_graph_has_no_circle() -> None:
    graph = _graph()
    seen: set[str] = set()

    def circle_from(node: str, stack: list[str]) -> list[str] | None:
        if node in stack:
            return [*stack[stack.index(node):], node]
        if node in seen:
            return None
        for nxt in sorted(graph.get(node, ())):
            found = circle_from(nxt, [*stack, node])
            if found:
                return found
        seen.add(node)
        return None

    for start in sorted(graph):
        circle = circle_from(start, [])
        assert circle is None, "import circle: " + " -> ".join(circle or [])


def test_backends_import_no_transport_and_no_service() -> None:
    wrong = {f"{module} imports {target}" for module, targets in _graph().items() if module.startswith("hpcbridge.backends")
             for target in targets if target.startswith(("hpcbridge.transport", "hpcbridge.services",
                                                         "hpcbridge.server", "hpcbridge.jupyter"))}
    assert wrong == set()


def test_no_scheduler_command_is_named_outside_its_folder() -> None:
    """String constants outside backends/<scheduler>/ never hold a scheduler command as a word: the argv, the
    probes and the messages that name them live in the scheduler's folder. Documentation is exempt: docstrings
    and `description=` texts (a tool parameter or config key may tell an agent which command it maps to)."""
    word = re.compile(r"(?<![\w-])(" + "|".join(COMMANDS) + r")(?![\w-])")
    found = []
    for rel, tree in _modules().items():
        if rel.startswith(SCHEDULER_FOLDERS):
            continue
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        docstrings |= {id(c) for node in ast.walk(tree) if isinstance(node, ast.keyword) and node.arg == "description"
                       for c in ast.walk(node.value)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                m = word.search(node.value)
                if m:
                    found.append(f"{rel}:{node.lineno}: {m.group(1)} in {node.value[:70]!r}")
    assert found == [], "scheduler commands named outside their folder:\n" + "\n".join(found)


def test_state_codes_belong_to_their_scheduler() -> None:
    """`F` is FAILED to squeue and 'finished, however it ended' to qstat: each backend brings its own words."""
    from hpcbridge.backends.pbs import parse as pbs
    from hpcbridge.backends.slurm import states as slurm_states
    from hpcbridge.models import JobState

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


# services that call scheduler commands read their output through the pure modules of the backends
SCHEDULER_SERVICES = ["interactive", "recommend", "diagnose", "cluster", "waiting", "containers", "submission",
                      "registry"]


@pytest.mark.parametrize("module", SCHEDULER_SERVICES)
def test_scheduler_services_hold_no_parser(module: str) -> None:
    text = (SRC / "services" / f"{module}.py").read_text()
    assert "import re\n" not in text, f"services/{module}.py parses text itself: move it to its backend"
