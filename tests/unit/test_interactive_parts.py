"""Pure parts of interactive work: argv builders, spec round trip, and the store."""

from __future__ import annotations

import os
from pathlib import Path

from hpcbridge.schedulers import slurm_build as b
from hpcbridge.services.interactive import spec_from_dict, spec_to_dict
from hpcbridge.store import SessionRow, Store

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
    store.save_profile("p", {"partition": "gpu"})
    assert store.profiles() == {"p": {"partition": "gpu"}} and store.delete_profile("p") and not store.delete_profile("p")
    assert store.dead_instances() == []  # this process is alive
    store._db.execute("UPDATE instances SET pid = ? WHERE tag = 'alive1'", (2**22 + 12345,))
    assert store.dead_instances() == ["alive1"] and os.getpid()
    store.end_instance("alive1")
    assert store.dead_instances() == []
