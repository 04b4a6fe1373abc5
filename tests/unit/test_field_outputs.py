"""Issue 25 kinds 1-5: outputs from the field (../shared/fixtures/reported, right values from its README) and
more examples of each kind; where each right value comes from is said beside it."""

from __future__ import annotations

import pytest

from hpcbridge.backends.slurm import gres
from hpcbridge.backends.slurm import ids as slurm_ids
from hpcbridge.backends.slurm import jsonout as slurm_json
from hpcbridge.backends.slurm import text as slurm_text
from hpcbridge.backends.slurm.records import RS, SEP, parse_kv_record
from hpcbridge.errors import InvalidParameter
from hpcbridge.models import GpuCount
from hpcbridge.validate import job_id

from ..conftest import shared_fixtures


def _reported(name: str) -> str:
    return (shared_fixtures("reported") / name).read_text()


def _row(**values: str) -> str:
    """One record of the pinned squeue --Format output (what slurm_build.squeue_argv asks for)."""
    keys = [k for k, _ in slurm_text.SQUEUE_FIELDS]
    base = dict.fromkeys(keys, "N/A") | {"state": "RUNNING", "num_nodes": "1", "num_cpus": "1", "name": "x"}
    return SEP.join((base | values)[k] for k in keys) + RS + "\n"


# --- kind 1: GPU strings ------------------------------------------------------------------------------

def test_reported_untyped_gpus_on_nodes() -> None:
    nodes = {n.name: n for n in slurm_text.parse_nodes(_reported("scontrol-show-node-untyped-gpus.txt"))}
    assert nodes["gpu01"].gpus_used == (GpuCount(None, 3),) and nodes["gpu01"].gpu_total == 4
    assert nodes["gpu02"].gpu_used == 0 and nodes["gpu02"].gpu_total == 4


@pytest.mark.parametrize(("text", "expected"), [
    # gres.conf without Type= (slurm gres.conf(5)); 21.08-23.x print the missing type as (null)
    ("gpu:(null):3(IDX:0-2)", (GpuCount(None, 3),)),
    ("gpu:(null):0(IDX:N/A)", ()),
    ("gpu:4(S:0-1)", (GpuCount(None, 4),)),
    # several models on one node, MIG profile names as types (NVIDIA MIG with AutoDetect=nvml)
    ("gpu:a100:2(S:0),gpu:a100_3g.20gb:4(S:1)", (GpuCount("a100", 2), GpuCount("a100_3g.20gb", 4))),
    ("gpu:a100_1g.5gb:1(IDX:3),gpu:a100_1g.5gb:1(IDX:5)", (GpuCount("a100_1g.5gb", 2),)),
    # TRES with typed and untyped totals (AccountingStorageTRES=gres/gpu,gres/gpu:a100): the untyped is the sum
    ("cpu=8,gres/gpu=8,gres/gpu:a100=4,gres/gpu:v100=4", (GpuCount("a100", 4), GpuCount("v100", 4))),
    ("cpu=8,gres/gpu=8,gres/gpu:a100=4", (GpuCount("a100", 4), GpuCount(None, 4))),
    ("gpu:tesla:no_consume:2", (GpuCount("tesla", 2),)),  # gres.conf Flags=no_consume shows in Gres
    ("gres/gpu:(null)=2", (GpuCount(None, 2),)),
    ("N/A", ()),
])
def test_more_gpu_strings(text: str, expected: tuple[GpuCount, ...]) -> None:
    assert gres.parse_gpus(text) == expected


def test_sinfo_json_carries_the_same_untyped_strings() -> None:
    # sinfo --json of 22.05: flat nodes[] with gres/gres_used strings (FORMATS.md)
    text = '{"nodes": [{"name": "gpu01", "state": "mixed", "gres": "gpu:4(S:0-1)", "gres_used": "gpu:(null):3(IDX:0-2)"}]}'
    node = slurm_json.parse_sinfo(text)[0]
    assert (node.gpu_total, node.gpus_used) == (4, (GpuCount(None, 3),))
    assert gres.gpu_indices("gpu:(null):0(IDX:N/A)") == ""


# --- kind 2: a job's GPUs from allocated TRES -----------------------------------------------------------

def test_reported_gpus_flag_job_in_details_and_listing() -> None:
    details = slurm_text.parse_jobs_detail(_reported("scontrol-show-job-gpus-flag.txt"))[0]
    assert details.job.job_id == "7001" and gres.total(details.job.gpus) == 2
    # the reported squeue file is the layout pinned before: its %b is N/A and it has no TRES column, so it
    # cannot say 2; squeue_argv now asks for tres-alloc too: the same row with that column added says 2
    legacy = {j.job_id: j for j in slurm_text.parse_squeue(_reported("squeue-pinned-gpus-flag-job.txt"))}
    assert set(legacy) == {"7001", "7002"} and gres.total(legacy["7002"].gpus) == 2
    row = legacy["7001"]
    now = slurm_text.parse_squeue(_row(job_id=row.job_id, name=row.name, gres="N/A", tres_per_job="gres:gpu:2",
                                       tres_alloc=details.raw["AllocTRES"]))
    assert gres.total(now[0].gpus) == 2 == gres.total(details.job.gpus)


@pytest.mark.parametrize(("fields", "expected"), [
    # --gpus-per-node=2 -N 2 (22.05 squeue -O on the test cluster: tres-per-node gres:gpu:2, tres-alloc gres/gpu=4)
    ({"num_nodes": "2", "gres": "gres:gpu:2", "tres_alloc": "cpu=2,node=2,billing=2,gres/gpu=4"}, (GpuCount(None, 4),)),
    # --gpus=a100:3: tres-per-job names the type, the TRES only the total
    ({"tres_per_job": "gres:gpu:a100:3", "tres_alloc": "cpu=1,gres/gpu=3"}, (GpuCount("a100", 3),)),
    # --gpus-per-task=1 -n 4 (tres-per-task; TRES has the product)
    ({"tres_alloc": "cpu=4,gres/gpu=4"}, (GpuCount(None, 4),)),
    # a site without gres/gpu in AccountingStorageTRES: the request strings are counted
    ({"num_nodes": "2", "gres": "gres/gpu:a100:1", "tres_alloc": "cpu=2,node=2"}, (GpuCount("a100", 2),)),
])
def test_more_job_gpu_sources(fields: dict[str, str], expected: tuple[GpuCount, ...]) -> None:
    assert slurm_text.parse_squeue(_row(job_id="9", **fields))[0].gpus == expected


def test_json_job_gpus_from_tres_per_job() -> None:
    text = '{"jobs": [{"job_id": 5, "node_count": 1, "tres_per_job": "gres:gpu:2", "tres_alloc_str": "cpu=1"}]}'
    assert slurm_json.parse_jobs(text)[0].job.gpus == (GpuCount(None, 2),)


# --- kind 3: GPUs untracked in TRES -----------------------------------------------------------------------

def test_reported_partition_gpus_from_nodes() -> None:
    parts = slurm_text.parse_partitions(_reported("scontrol-show-partition-gpus-untracked.txt"))
    nodes = slurm_text.parse_nodes(_reported("scontrol-show-node-gpus-untracked.txt"))
    assert slurm_text.needs_node_gpus(parts)
    assert slurm_text.with_node_gpus(parts, nodes)[0].total_gpus == 16
    assert {n.name: n.gpu_used for n in nodes} == {"gpu01": 5, "gpu02": 0}


def test_a_site_that_tracks_gpus_in_tres_is_not_asked_for_its_nodes() -> None:
    """AccountingStorageTRES is one setting for the whole cluster: one partition counting gres/gpu means a
    partition without it has no GPUs (the test cluster's `cpu`), and no extra scontrol show node is needed."""
    tracked = "PartitionName=gpu Nodes=g1 TotalNodes=1 TRES=cpu=4,node=1,gres/gpu=8\n" \
              "PartitionName=cpu Nodes=c1 TotalNodes=1 TRES=cpu=4,node=1\n"
    assert not slurm_text.needs_node_gpus(slurm_text.parse_partitions(tracked))


# --- kind 4: free text --------------------------------------------------------------------------------

def test_reported_name_with_equals() -> None:
    records = [parse_kv_record(r) for r in
               slurm_text.split_records(_reported("scontrol-show-job-name-with-equals.txt"), "JobId")]
    assert [r["JobName"] for r in records] == ["train lr=0.1 bs=64", "my first job"]
    assert not {"lr", "bs"} & set(records[0]) and records[0]["UserId"] == "alice(1001)"


def test_reported_newline_in_name() -> None:
    jobs = slurm_text.parse_squeue(_reported("squeue-pinned-newline-in-name.txt"))
    assert [(j.job_id, j.name) for j in jobs] == [("8001", "part one\npart two")]


def test_scontrol_free_text_seen_on_the_test_cluster() -> None:
    # 22.05 printed this for -J $'a=b|c\td\ne é ' --comment 'x=y|z' (note the two blanks after Comment)
    text = ("JobId=2 JobName=a=b|c\td\ne é  UserId=alice(1001) GroupId=alice(1001) Reason=None "
            "WorkDir=/tmp/a b=c Comment=x=y|z  StdErr=/tmp/slurm-2.out Power= TresPerJob=gres:gpu:2 \n")
    rec = parse_kv_record(text)
    assert rec["JobName"] == "a=b|c\td\ne é"  # the trailing blank is ambiguous here; squeue gives it back
    assert (rec["WorkDir"], rec["Comment"], rec["TresPerJob"]) == ("/tmp/a b=c", "x=y|z", "gres:gpu:2")
    multi = "JobId=3 JobName=sweep a=1\n   UserId=bob(1002) GroupId=bob(1002)\n   Reason=None Dependency=(null)\n"
    assert parse_kv_record(multi)["JobName"] == "sweep a=1" and parse_kv_record(multi)["UserId"] == "bob(1002)"


def test_squeue_and_sacct_records_with_separators_and_newlines_in_names() -> None:
    odd = f"a\n9{SEP}b{RS}\nc {SEP} é "  # newline + a record-like start, the separators themselves, a trailing blank
    text = _row(job_id="1", name=odd) + _row(job_id="2", name="plain")
    assert [(j.job_id, j.name) for j in slurm_text.parse_squeue(text)] == [("1", odd), ("2", "plain")]
    fields = slurm_text.SACCT_FIELDS
    values = dict.fromkeys(fields, "") | {"JobID": "7", "State": "COMPLETED", "ExitCode": "0:0",
                                           "WorkDir": "/w\nx", "Comment": "c|d", "JobName": "n\nm"}
    header = SEP.join(fields) + "\n"
    rec = slurm_text.parse_sacct(header + SEP.join(values[f] for f in fields) + "\n")
    assert [(r.job_id, r.work_dir, r.comment, r.name) for r in rec] == [("7", "/w\nx", "c|d", "n\nm")]


# --- kind 5: job id forms -------------------------------------------------------------------------------

def test_reported_throttled_array_id() -> None:
    details = slurm_text.parse_jobs_detail(_reported("scontrol-show-job-throttled-array.txt"))[0]
    assert details.job.job_id == "4100_[9201-10000%500]"
    # scancel 22.05 refuses '%500' ("Invalid range"; tried on the test cluster) and takes the ranges
    assert slurm_ids.for_signal(details.job.job_id) == "4100_[9201-10000]"
    assert slurm_ids.for_show(details.job.job_id) == "4100"  # scontrol show job refuses the brackets


def test_het_job_ids() -> None:
    rec = parse_kv_record("JobId=12 HetJobId=11 HetJobOffset=1 JobName=hetB HetJobIdSet=11-12 UserId=alice(1001)")
    assert slurm_ids.detail_job_id(rec) == "11+1" and slurm_ids.het_leader("11+1") == "11"
    assert slurm_json.parse_jobs('{"jobs": [{"job_id": 12, "het_job_id": 11, "het_job_offset": 1}]}')[0].job.job_id == "11+1"


@pytest.mark.parametrize(("pasted", "expected"), [
    ("4100_[9201-10000%500]", "4100_[9201-10000%500]"), ("123+0", "123+0"), ("123_4", "123_4"),
    ("123;cluster2", "123"), (" 67109044 ", "67109044"), ("123+1.batch", "123+1.batch"),
])
def test_pasted_slurm_ids(pasted: str, expected: str) -> None:
    assert job_id(pasted) == expected


@pytest.mark.parametrize("pasted", ["123[].pbs1", "123[4].pbs1", "123[1-9:2].pbs1", "123.pbs1.example.org"])
def test_pasted_pbs_ids(pasted: str) -> None:
    assert job_id(pasted, pbs=True) == pasted


@pytest.mark.parametrize("bad", ["123;", "123;-x", "123+", "123_[1-2];x y", "123[x].pbs1"])
def test_bad_ids_refused(bad: str) -> None:
    with pytest.raises(InvalidParameter, match="job_id"):
        job_id(bad, pbs="[" in bad and "_" not in bad)
