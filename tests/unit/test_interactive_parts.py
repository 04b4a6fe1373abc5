"""Pure parts of interactive work: argv builders, spec round trip, and the store."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from hpcbridge.backends.slurm import build as b
from hpcbridge.errors import HpcBridgeError
from hpcbridge.models import CommandResult
from hpcbridge.services.interactive import SessionInfo, Sessions, spec_from_dict, spec_to_dict
from hpcbridge.store import SessionRow, Store
from hpcbridge.timewords import time_left

SPEC = b.AllocationSpec(partition="interactive", nodes=1, gpus_per_node=8, gpu_type="a100", time_limit="4:00:00",
                        account="proj", container=b.ContainerSpec(image="/i/dev.sqsh", mounts="/a:/a",
                                                                 env_names=("X",), mount_home=False))


def test_salloc_srun_argv() -> None:
    assert b.salloc_argv(SPEC, "hpcb-abc-dev") == [
        "salloc", "--no-shell", "--job-name", "hpcb-abc-dev", "--partition", "interactive", "--nodes", "1",
        "--time", "4:00:00", "--account", "proj", "--gres", "gpu:a100:8"]
    one_shot = b.srun_argv(SPEC, "nvidia-smi; echo $X", "hpcb-abc-cmd", "/work")
    assert one_shot[-3:] == ["bash", "-c", "nvidia-smi; echo $X"]
    assert "--container-image=/i/dev.sqsh" in one_shot and "--no-container-mount-home" in one_shot
    assert one_shot[one_shot.index("--chdir") + 1] == "/work"
    step = b.srun_in_allocation_argv("42", "ls", "hpcb-exec-1", SPEC.container, None, 8)
    assert step[:5] == ["srun", "--jobid", "42", "--job-name", "hpcb-exec-1"] and "--overlap" in step
    assert step[step.index("--gres") + 1] == "gpu:8"


def test_spec_survives_the_store_round_trip() -> None:
    assert spec_from_dict(spec_to_dict(SPEC)) == SPEC


def test_store_sessions_commands_profiles_and_dead_instances(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3")
    store.register_instance("alive1")
    store.add_session(SessionRow("id1", "c", "alive1", "dev", "", "starting", spec_to_dict(SPEC), 1.0, 1.0, None, ""))
    store.update_session("id1", job_id="77", status="active")
    assert store.session("dev").job_id == "77" and store.session("id1").status == "active"
    store.add_command("id1", "echo hi", 0, 0.1)
    assert store.recent_commands("id1")[0]["command"] == "echo hi"
    store.save_profile("ana", "p", {"partition": "gpu"})
    assert store.profiles("bob") == {}  # profiles are per principal
    assert store.profiles("ana") == {"p": {"partition": "gpu"}}
    assert not store.delete_profile("bob", "p") and store.delete_profile("ana", "p") and not store.delete_profile("ana", "p")
    assert store.dead_instances() == []  # this process is alive
    store._db.execute("UPDATE instances SET pid = ? WHERE tag = 'alive1'", (2**22 + 12345,))
    assert store.dead_instances() == ["alive1"] and os.getpid()
    store.end_instance("alive1")
    assert store.dead_instances() == []


def test_the_session_cap_and_the_insert_are_one_step(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3")
    rows = [SessionRow(f"id{i}", "c", "inst", f"n{i}", "", "starting", {}, 0.0, 0.0, None, "", "ana")
            for i in range(10)]
    assert [store.add_session(r, max_live=4) for r in rows].count(True) == 4
    twin = SessionRow("idx", "c", "inst", "n0", "", "starting", {}, 0.0, 0.0, None, "", "ana")
    store.update_session("id1", status="ended")
    assert not store.add_session(twin, max_live=4)  # a live session of that name exists


def test_a_store_from_before_principals_is_migrated(tmp_path: Path) -> None:
    import sqlite3

    db = sqlite3.connect(tmp_path / "old.sqlite3")
    db.executescript("CREATE TABLE sessions (id TEXT PRIMARY KEY, cluster TEXT, instance TEXT, name TEXT, job_id TEXT,"
                     " status TEXT, spec TEXT, created REAL, last_used REAL, ended REAL, note TEXT);"
                     "INSERT INTO sessions VALUES ('a','c','i','n','1','active','{}',0,0,NULL,'');"
                     "CREATE TABLE profiles (name TEXT PRIMARY KEY, spec TEXT, saved REAL);"
                     "INSERT INTO profiles VALUES ('p', '{}', 0);")
    db.commit()
    db.close()
    store = Store(tmp_path / "old.sqlite3")
    assert store.session("a").principal == "local" and store.profiles("local") == {"p": {}}


def test_step_listings_are_read_with_the_unit_separator() -> None:
    sep = "\x1f"
    assert b.steps_argv("41")[-1] == f"%i{sep}%j"  # step names may hold blanks
    assert b.step_ids_named(f"41.0{sep}hpcb-exec-1\n41.1{sep}hpcb-exec-12\n", "hpcb-exec-1") == ["41.0"]
    assert b.scancel_steps_argv(["41.0"]) == ["scancel", "41.0"]


def test_time_left_is_the_limit_minus_the_time_used() -> None:
    """What squeue's %L printed for sessions, now from any scheduler's limit and time used."""
    assert time_left("4:00:00", "1:02:03") == "2:57:57"  # squeue's forms (squeue(1) %L)
    assert time_left("1-00:00:00", "0:00") == "1-00:00:00"
    assert time_left("30:00", "1:00") == "29:00"
    assert time_left("30:00", "45:00") == "0:00"  # over the limit: nothing left
    assert time_left("UNLIMITED", "1:00") == "UNLIMITED" and time_left("", "") == ""


class _QueueHiccup:
    """A login node whose squeue fails while an allocation is being granted (a transport that answers from a
    table: a controller that times out exactly during the 2 s poll cannot be produced live without a flaky
    test). `fatal`: squeue fails in a way that is not temporary (a broken command)."""

    description = "a table of answers"

    def __init__(self, fatal: bool) -> None:
        self.fatal = fatal
        self.sent: list[tuple[str, ...]] = []

    async def run(self, argv: list[str], *, timeout: float, stdin: bytes | None = None,
                  idempotent: bool = True) -> CommandResult:
        key = tuple(argv)
        self.sent.append(key)
        if key == ("id", "-un"):
            return CommandResult(key, "alice\n", "", 0, 0.0)
        if argv[0] == "squeue":
            err = "squeue: error: unrecognized option\n" if self.fatal else \
                "slurm_load_jobs error: Socket timed out on send/recv operation\n"
            return CommandResult(key, "", err, 1, 0.0)
        return CommandResult(key, "", "", 0, 0.0)

    async def close(self) -> None:
        return None


async def _grant_through(transport: _QueueHiccup, tmp_path: Path) -> SessionInfo:
    from hpcbridge.config import ClusterConfig
    from hpcbridge.services.cluster import Cluster

    cluster = Cluster(ClusterConfig(name="c"), transport)  # type: ignore[arg-type]

    class OneCluster:
        names = ("c",)

        def get(self, name: str | None = None) -> Cluster:
            return cluster

    store = Store(tmp_path / "s.sqlite3")
    sessions = Sessions(OneCluster(), store, "abc123")  # type: ignore[arg-type]
    row = SessionRow("r1", "c", "abc123", "s1", "", "starting", spec_to_dict(SPEC), 0.0, 0.0, None, "", "local")
    store.add_session(row, max_live=5)

    async def granted_later() -> CommandResult:
        await asyncio.sleep(3)
        return CommandResult(("salloc",), "", "salloc: Granted job allocation 7\n", 0, 0.0)

    async def progress(_: str) -> None: ...

    return await sessions._await_grant(cluster, row, asyncio.create_task(granted_later()), 10, "cancel", progress)


async def test_a_controller_hiccup_while_granting_is_waited_out(tmp_path: Path) -> None:
    info = await _grant_through(_QueueHiccup(fatal=False), tmp_path)
    assert info.status == "active" and info.job_id == "7"  # granted and recorded, neither abandoned nor ended
    assert info.note.startswith("queue not readable now") and "slurmctld" in info.note


async def test_a_broken_queue_while_granting_leaves_no_allocation(tmp_path: Path) -> None:
    transport = _QueueHiccup(fatal=True)
    with pytest.raises(HpcBridgeError, match="squeue"):
        await _grant_through(transport, tmp_path)
    assert Store(tmp_path / "s.sqlite3").session("r1").status == "ended"
