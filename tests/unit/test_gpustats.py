"""The pure readers of get_job_stats (watch/gpustats.py) and the Slurm/PBS argv that carry the probe.

nvidia-smi's documented query form (nvidia-smi(1), `nvidia-smi --help-query-gpu`):
`nvidia-smi --query-gpu=index,name,utilization.gpu,memory.used,memory.total,power.draw,temperature.gpu
--format=csv,noheader,nounits` prints one line per GPU, fields in the order asked, separated by ", ", no header,
no units (MiB, W, C, %), and "[N/A]" / "[Not Supported]" for a value the GPU cannot report:
    0, NVIDIA A100-SXM4-80GB, 87, 40536, 81920, 312.45, 64
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from hpcbridge.backends.pbs import usage as pbs_usage
from hpcbridge.backends.slurm import usage as slurm_usage
from hpcbridge.watch import gpustats as g

ROOT = Path(__file__).resolve().parents[2]

CSV = """0, NVIDIA A100-SXM4-80GB, 87, 40536, 81920, 312.45, 64
1, NVIDIA A100-SXM4-80GB, [N/A], 0, 81920, [Not Supported], 33
"""


def test_nvidia_csv_rows_and_unavailable_values() -> None:
    gpus = g.parse_nvidia_csv("WARNING: infoROM is corrupted at gpu 0000:07:00.0\n" + CSV)
    assert gpus == [
        g.GpuStat(0, "NVIDIA A100-SXM4-80GB", 87.0, 40536.0, 81920.0, 312.45, 64.0),
        g.GpuStat(1, "NVIDIA A100-SXM4-80GB", None, 0.0, 81920.0, None, 33.0),
    ]


def test_probe_of_two_nodes_with_srun_labels_kept_apart() -> None:
    # srun --label interleaves the tasks' lines; each keeps its own GPUs
    text = ("0: @@node gpu1\n1: @@node gpu2\n0: @@visible 0,1\n1: @@visible 2\n0: @@tool nvidia-smi\n"
            "1: @@tool nvidia-smi\n0: 0, A100, 10, 1, 2, 3, 4\n1: 2, A100, 50, 1, 2, 3, 4\n0: 1, A100, 20, 1, 2, 3, 4\n"
            "0: \n0: @@exit 0\n1: \n1: @@exit 0\n")
    nodes = g.parse_probe(text)
    assert [(n.node, n.visible, [x.index for x in n.gpus]) for n in nodes] == [
        ("gpu1", "0,1", [0, 1]), ("gpu2", "2", [2])]
    assert [x.utilization_percent for x in nodes[0].gpus] == [10.0, 20.0]


def test_no_tool_and_a_failing_tool_say_so_in_one_line() -> None:
    none = g.parse_probe("@@node cpu1\n@@visible -\n@@tool none\n")
    assert none[0].note == "no GPU tool (nvidia-smi, rocm-smi) on cpu1: GPU use not available"
    failed = g.parse_probe("@@node gpu1\n@@visible 0\n@@tool nvidia-smi\nNVIDIA-SMI has failed because it "
                           "couldn't communicate with the NVIDIA driver.\n\n@@exit 9\n")
    assert failed[0].gpus == [] and failed[0].note.startswith("nvidia-smi on gpu1 failed: NVIDIA-SMI has failed")
    hung = g.parse_probe("@@node gpu1\n@@visible 0\n@@tool nvidia-smi\n\n@@exit 124\n")
    assert hung[0].note == f"nvidia-smi on gpu1 did not answer within {g.TOOL_SECONDS}s"


def test_rocm_smi_json() -> None:
    # keys as rocm-smi 5.x/6.x print them with --json (values are strings); not recorded from a real AMD node
    text = ('{"card0": {"GPU use (%)": "12", "VRAM Total Memory (B)": "68702699520", '
            '"VRAM Total Used Memory (B)": "1073741824", "Temperature (Sensor edge) (C)": "41.0", '
            '"Average Graphics Package Power (W)": "35.0", "Card series": "AMD Instinct MI210"}, "system": {}}')
    node = g.parse_probe(f"@@node amd1\n@@visible -\n@@tool rocm-smi\n{text}\n@@exit 0\n")[0]
    assert node.gpus == [g.GpuStat(0, "AMD Instinct MI210", 12.0, 1024.0, 65520.0, 35.0, 41.0)]


def test_job_gpus_narrows_an_unconfined_node_to_the_jobs_devices() -> None:
    rows = g.parse_nvidia_csv("".join(f"{i}, A100, {i}, 1, 2, 3, 4\n" for i in range(4)))
    node = g.NodeStats("gpu1", rows, "nvidia-smi", "", "1,3")
    assert [x.index for x in g.job_gpus(node, True).gpus] == [1, 3]
    unset = g.NodeStats("gpu1", rows, "nvidia-smi", "", "-")
    assert [x.index for x in g.job_gpus(unset, True, "0-1").gpus] == [0, 1]  # the scheduler's IDX
    kept = g.job_gpus(unset, True)
    assert len(kept.gpus) == 4 and "all GPUs its tool lists" in kept.note
    assert g.job_gpus(node, False).gpus == [] and g.job_gpus(node, False).note == "the job has no GPUs"
    uuid = g.NodeStats("gpu1", rows, "nvidia-smi", "", "GPU-5fd4a0c2")
    assert len(g.job_gpus(uuid, True).gpus) == 4


def test_sstat_rows_units_and_cpu_times() -> None:
    text = ("380.batch|gpu1|1|2980K|gpu1|cpu=00:01:02,energy=0,fs/disk=8091,mem=2980K,pages=0,vmem=5092K\n"
            "380.0|gpu[1-2]|2|1.5G|gpu2|cpu=1-00:00:01.500,mem=3G\n")
    steps = g.parse_sstat(text)
    assert steps[0] == g.StepUse("380.batch", "gpu1", 1, 62.0, 2980 * 1024, 2980 * 1024, "gpu1")
    assert steps[1].cpu_seconds == 86401.5 and steps[1].rss_bytes == 3 * 1024**3
    nodes = g.with_steps([g.NodeStats("gpu1"), g.NodeStats("gpu2")], steps)
    assert (nodes[0].cpu_seconds, nodes[0].rss_bytes) == (62.0, 2980 * 1024)
    assert nodes[1].cpu_seconds is None  # only a multi-node step runs there: not attributed
    assert g.memory_bytes("1380kb") == 1380 * 1024 and g.memory_bytes("x") is None
    assert g.cpu_seconds("02:03.25") == 123.25 and g.cpu_seconds("") is None


def test_slurm_and_pbs_argv_carry_the_probe_as_one_argument() -> None:
    argv = slurm_usage.probe_argv("380", 2)
    assert argv[:8] == ["srun", "--jobid", "380", "--job-name", "hpcbridge-stats", "--overlap", "--nodes", "2"]
    assert ["--ntasks-per-node", "1"] == argv[argv.index("--ntasks-per-node"):][:2] and "--label" in argv
    assert argv[-3:] == ["bash", "-c", g.PROBE]
    assert slurm_usage.sstat_argv("380")[:6] == ["sstat", "-a", "-j", "380", "-P", "-n"]
    assert pbs_usage.attach_argv("1005.vm") == ["pbs_attach", "-j", "1005.vm", "bash", "-c", g.PROBE]


def test_probe_script_runs_with_the_stand_in(tmp_path: Path) -> None:
    """The probe as the nodes run it (bash), with the test cluster's stand-in nvidia-smi first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").symlink_to(ROOT / "testcluster" / "nvidia-smi")
    (tmp_path / "vals" / "nodeX").mkdir(parents=True)
    (tmp_path / "vals" / "nodeX" / "3").write_text("utilization.gpu=91\nmemory.used=1234\n")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURMD_NODENAME": "nodeX",
           "CUDA_VISIBLE_DEVICES": "1,3", "NVSMI_STANDIN_DIR": str(tmp_path / "vals")}
    out = subprocess.run(["bash", "-c", g.PROBE], env=env, capture_output=True, text=True, timeout=30,
                         check=False).stdout
    node = g.parse_probe(out)[0]
    assert (node.node, node.visible, node.gpu_tool) == ("nodeX", "1,3", "nvidia-smi")
    assert [(x.index, x.utilization_percent, x.memory_used_mib) for x in node.gpus] == [(1, 0.0, 0.0),
                                                                                        (3, 91.0, 1234.0)]


def test_probe_script_reports_a_failing_tool(tmp_path: Path) -> None:
    """The probe keeps the tool's own exit status (not that of what runs after it) and its message."""
    (tmp_path / "nvidia-smi").write_text("#!/bin/sh\necho \"NVIDIA-SMI has failed because it couldn't "
                                         "communicate with the NVIDIA driver.\"\nexit 9\n")
    (tmp_path / "nvidia-smi").chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "SLURMD_NODENAME": "nodeY"}
    out = subprocess.run(["bash", "-c", g.PROBE], env=env, capture_output=True, text=True, timeout=30,
                         check=False).stdout
    [node] = g.parse_probe(out)
    assert node.gpus == [] and node.note == ("nvidia-smi on nodeY failed: NVIDIA-SMI has failed because it "
                                             "couldn't communicate with the NVIDIA driver."), out


@pytest.mark.parametrize("query", ["index,bogus", "index"])
def test_stand_in_refuses_what_nvidia_smi_refuses(query: str) -> None:
    run = subprocess.run([str(ROOT / "testcluster" / "nvidia-smi"), f"--query-gpu={query}", "--format=csv"],
                         capture_output=True, text=True, timeout=30, check=False)
    assert run.returncode == 2
