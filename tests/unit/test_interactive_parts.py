"""Pure parts of interactive work: argv builders, spec round trip, and the store."""

from __future__ import annotations

import os
from pathlib import Path

from hpcbridge.backends.slurm import build as b
from hpcbridge.services.interactive import spec_from_dict, spec_to_dict
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
    assert time_left("4:00:00", "1:02:03") == "2:57:57"
    assert time_left("1-00:00:00", "0:00") == "1-0:00:00"
    assert time_left("30:00", "45:00") == "0:00:00"  # over the limit: nothing left
    assert time_left("UNLIMITED", "1:00") == "" and time_left("", "") == ""
