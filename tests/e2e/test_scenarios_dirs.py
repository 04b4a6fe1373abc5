"""The Slurm plan's container and directory scenarios (1 with a container, 2, 7, 12-17) through a real
MCP client. The Pyxis stand-in proves directives are accepted and delivered, not that a container runs."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from .conftest import as_cluster_user, call, wait_final

pytestmark = pytest.mark.cluster


async def test_scenario_1_gpu_training_job_with_container(mcp: Client, tc_env: dict[str, str]) -> None:
    images = await call(mcp, "list_container_images", pattern="pytorch*")
    image = images["images"][0]["path"]
    assert image.endswith("pytorch-24.01.sqsh")
    avail = await call(mcp, "get_gpu_availability", gpu_type="a100", min_gpus=4)
    assert avail["pools"]
    root = tc_env["SLURM_USER_ROOT"]
    mounts = f"{root}/data:/data,{root}/scratch:/scratch"
    job = await call(mcp, "submit_job", script_content='env | grep ^PYXIS_ | sort; echo "CVD=$CUDA_VISIBLE_DEVICES"',
                     partition="gpu", gpus=4, gpu_type="a100", time_limit="24:00:00", container_image=image,
                     container_mounts=mounts, container_workdir="/workspace", job_name="torch-train")
    assert f"#SBATCH --container-image={image}" in job["script"]
    assert (await wait_final(mcp, job["job_id"]))["job"]["state"] == "COMPLETED"
    out = (await call(mcp, "read_job_output", job_id=job["job_id"]))["content"].splitlines()
    assert f"PYXIS_CONTAINER_IMAGE={image}" in out and f"PYXIS_CONTAINER_MOUNTS={mounts}" in out
    assert "PYXIS_CONTAINER_WORKDIR=/workspace" in out
    assert len(next(line for line in out if line.startswith("CVD=")).removeprefix("CVD=").split(",")) == 4


async def test_container_defaults_and_refusals(mcp: Client) -> None:
    job = await call(mcp, "submit_job", script_content="env | grep ^PYXIS_CONTAINER_MOUNTS", container_image="default",
                     no_container_mount_home=True, container_env="WANDB_MODE=offline", time_limit="5")
    assert "/datasets" in job["script"] and "--no-container-mount-home" in job["script"]
    await wait_final(mcp, job["job_id"])
    mounts = (await call(mcp, "read_job_output", job_id=job["job_id"]))["content"]
    assert ":/datasets," in mounts and ":/models," in mounts
    with pytest.raises(ToolError, match="not a squashfs image.*pytorch-24.01.sqsh"):
        await call(mcp, "submit_job", script_content="true", container_image="/lustre/images/not-an-image.sqsh")
    with pytest.raises(ToolError, match="outside the allowed directories"):
        await call(mcp, "submit_job", script_content="true", container_image="/etc/passwd")


async def test_scenarios_2_and_7_image_discovery(mcp: Client) -> None:
    cuda = await call(mcp, "list_container_images", pattern="*cuda12*")
    assert [i["name"] for i in cuda["images"]] == ["cuda12-base.sqsh"]
    tf = await call(mcp, "list_container_images", pattern="*tensorflow*")
    tf2 = await call(mcp, "list_container_images", pattern="*tf*")
    names = [i["name"] for i in tf["images"]] + [i["name"] for i in tf2["images"]]
    assert set(names) == {"tensorflow-24.01.sqsh", "tf-nightly.sqsh"}
    assert [i["name"] for i in tf2["images"]] == ["tf-nightly.sqsh"]
    everything = (await call(mcp, "list_container_images"))["images"]
    assert [i["modified"] for i in everything] == sorted((i["modified"] for i in everything), reverse=True)
    check = await call(mcp, "validate_container_image", image_path=tf["images"][0]["path"])
    assert check["valid"] and check["squashfs"] and check["size_bytes"] > 0


async def test_scenario_12_directory_structure(mcp: Client, tc_env: dict[str, str]) -> None:
    result = await mcp.call_tool("get_cluster_directories", {})
    text = result.content[0].text
    root = tc_env["SLURM_USER_ROOT"]
    for line in (f"{root}/data -> /datasets", f"{root}/models -> /models", f"{root}/root -> /root",
                 "/lustre -> /lustre"):
        assert line in text
    assert result.structured_content["user_root"] == root


async def test_scenario_13_checkpoints(mcp: Client, tc_env: dict[str, str]) -> None:
    as_cluster_user(tc_env, 'cd "$1" && for s in 1000 2000 3000 4000 5000; do mkdir -p llama/checkpoint-$s; '
                    'head -c 100000 /dev/zero > llama/checkpoint-$s/model.safetensors; '
                    'echo "{\\"global_step\\": $s}" > llama/checkpoint-$s/trainer_state.json; done',
                    f"{tc_env['SLURM_USER_ROOT']}/models")
    found = await call(mcp, "list_model_checkpoints", model_name="llama", pattern="checkpoint-*")
    names = [e["name"] for e in found["entries"]]
    assert names == [f"checkpoint-{s}" for s in (1000, 2000, 3000, 4000, 5000)]
    assert all(e["size_bytes"] >= 100000 and e["size_is_total"] for e in found["entries"])
    state = await call(mcp, "read_file", path="llama/checkpoint-5000/trainer_state.json", directory_type="models")
    assert state["content"] == '{"global_step": 5000}\n'


async def test_scenario_14_job_logs(mcp: Client, tc_env: dict[str, str]) -> None:
    logs = f"{tc_env['SLURM_USER_ROOT']}/logs"
    job = await call(mcp, "submit_job", script_content="echo training\necho 'RuntimeError: boom' >&2\nexit 1",
                     output_file=f"{logs}/job-%j.out", error_file=f"{logs}/job-%j.err", time_limit="5")
    await wait_final(mcp, job["job_id"])
    found = await call(mcp, "list_job_logs", job_id=job["job_id"])
    assert {e["name"] for e in found["entries"]} == {f"job-{job['job_id']}.out", f"job-{job['job_id']}.err"}
    err = await call(mcp, "read_file", path=f"job-{job['job_id']}.err", directory_type="logs", tail_lines=100)
    assert err["content"] == "RuntimeError: boom\n"


async def test_scenario_15_disk_usage(mcp: Client) -> None:
    usage = await call(mcp, "get_disk_usage")
    kinds = {r["kind"]: r for r in usage["usage"]}
    assert {"datasets", "results", "models", "logs", "projects"} <= set(kinds)
    assert kinds["models"]["used_bytes"] > 0 and kinds["models"]["filesystem_size_bytes"] > 0


async def test_scenario_16_find_old_large_checkpoints_and_delete(mcp: Client, tc_env: dict[str, str]) -> None:
    exp = f"old-exp-{uuid.uuid4().hex[:6]}"
    # sparse files: 1.2 GB apparent size, no disk used
    as_cluster_user(tc_env, 'cd "$1" && mkdir -p "$2"/checkpoint-1000 "$2"/checkpoint-2000 "$2"/checkpoint-9000 && '
                    'truncate -s 1200M "$2"/checkpoint-1000/w.bin "$2"/checkpoint-2000/w.bin && '
                    'truncate -s 10M "$2"/checkpoint-9000/w.bin && '
                    'touch -d "40 days ago" "$2"/checkpoint-1000 "$2"/checkpoint-2000 "$2"/checkpoint-9000',
                    f"{tc_env['SLURM_USER_ROOT']}/models", exp)
    old = await call(mcp, "find_files", pattern="checkpoint-*", directory_type="models", path=exp, file_type="dir",
                     min_size="1G", min_age="30d")
    assert sorted(e["name"] for e in old["entries"]) == ["checkpoint-1000", "checkpoint-2000"]
    recent = await call(mcp, "find_files", pattern="checkpoint-*", directory_type="models", path=exp,
                        file_type="dir", max_age="30d")
    assert recent["total"] == 0
    with pytest.raises(ToolError, match="confirm=true"):
        await call(mcp, "delete_file", path=f"{exp}/checkpoint-1000", directory_type="models", recursive=True)
    await call(mcp, "delete_file", path=f"{exp}/checkpoint-1000", directory_type="models", recursive=True,
               confirm=True)
    left = await call(mcp, "list_directory", path=exp, directory_type="models")
    assert sorted(e["name"] for e in left["entries"]) == ["checkpoint-2000", "checkpoint-9000"]
    await call(mcp, "delete_file", path=exp, directory_type="models", recursive=True, confirm=True)


async def test_scenario_17_new_experiment_structure(mcp: Client) -> None:
    name = f"rlhf-v2-{uuid.uuid4().hex[:4]}"
    a = await call(mcp, "write_file", path=f"{name}/.gitkeep", content="", directory_type="results", make_dirs=True)
    b = await call(mcp, "write_file", path=f"{name}/checkpoints/.gitkeep", content="", directory_type="models",
                   make_dirs=True)
    assert a["path"].endswith(f"/results/{name}/.gitkeep") and b["path"].endswith(f"/models/{name}/checkpoints/.gitkeep")
    listed = await call(mcp, "list_directory", path=name, directory_type="models", recursive=True)
    assert {e["name"] for e in listed["entries"]} == {"checkpoints", ".gitkeep"}
    await asyncio.gather(*(call(mcp, "delete_file", path=name, directory_type=kind, recursive=True, confirm=True)
                           for kind in ("results", "models")))


async def test_job_output_and_uploads_obey_the_sandbox(mcp: Client) -> None:
    with pytest.raises(ToolError, match="outside the allowed directories"):
        await call(mcp, "read_job_output", file_path="/etc/passwd")
    with pytest.raises(ToolError, match="outside the allowed directories"):
        await call(mcp, "upload_file", content="x", remote_path="/tmp/hpcb-outside.txt")
    with pytest.raises(ToolError, match="credential or private"):
        await call(mcp, "upload_file", content="x", remote_path="/home/alice/.ssh/authorized_keys")
