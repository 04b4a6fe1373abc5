"""Fairshare, priority factors and start estimates (issue 28): the readers on outputs recorded from the test
cluster (tests/data/slurm-22.05/sshare-*.txt, sprio-*.txt, squeue-start.txt: Slurm 22.05 with
priority/multifactor; tests/data/openpbs-23.06/qstat-f-F-json-estimated.json: a job OpenPBS calendared), the
rank rule, and the plain words. The shared fixtures hold no sshare or sprio output of other versions: sshare is
read by its header names (a column added or moved by a later version is found by name, shown below)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hpcbridge.backends.pbs import PbsBackend
from hpcbridge.backends.slurm import standing as slurm
from hpcbridge.diagnosis import DiagnosisInput, diagnose
from hpcbridge.models import CommandResult, JobState
from hpcbridge.services.standing import factors_of, priority_words, rank_of, summarize
from hpcbridge.standing import JobStanding, PriorityRow

DATA = Path(__file__).resolve().parents[1] / "data"
SLURM = DATA / "slurm-22.05"


def test_sshare_22_05_reads_the_tree_and_alices_two_accounts() -> None:
    rows = slurm.parse_sshare((SLURM / "sshare-P-l.txt").read_text())
    by = {(r.account, r.user): r for r in rows}
    assert by[("root", "")].depth == 0 and by[("research", "")].depth == 1 and by[("research", "alice")].depth == 2
    alice = by[("research", "alice")]
    assert alice.fairshare is not None and 0 <= alice.fairshare <= 1
    assert alice.norm_shares is not None and alice.raw_usage is not None
    assert by[("capped", "alice")].fairshare is not None
    assert by[("research", "")].fairshare is None  # an account's own row has no factor


def test_sshare_columns_are_found_by_name_and_inf_is_no_usage() -> None:
    # a later version's column order (Partition added, LevelFS before FairShare): read by name all the same
    text = ("Account|User|Partition|RawShares|NormShares|RawUsage|EffectvUsage|LevelFS|FairShare\n"
            "root|||||100|1.000000||\n research||||0.500000|0|0.000000|inf|\n"
            "  research|bob||1|0.500000|42|0.250000|2.000000|0.750000\n")
    rows = slurm.parse_sshare(text)
    bob = next(r for r in rows if r.user == "bob")
    assert (bob.fairshare, bob.level_fs, bob.raw_usage, bob.effective_usage) == (0.75, 2.0, 42, 0.25)
    assert next(r for r in rows if r.account == "research" and not r.user).level_fs is None
    assert slurm.parse_sshare("") == [] and slurm.parse_sshare("sshare: error: something\n") == []


def test_sprio_22_05_pinned_format() -> None:
    rows = slurm.parse_sprio((SLURM / "sprio-pinned.txt").read_text())
    assert rows, "the recorded sprio output has pending jobs"
    for r in rows:
        assert r.partition and r.user and r.priority > 0
        assert set(r.weighted) >= {"age", "fairshare", "job_size", "partition", "qos"}
        assert abs(sum(v for k, v in r.weighted.items() if k != "nice") - r.weighted.get("nice", 0)
                   - r.priority) <= len(r.weighted), r  # the parts add up to the priority (each rounded)
        assert all(0 <= v <= 1 for v in r.normalized.values()), r


def test_sprio_lines_that_are_not_jobs_are_skipped() -> None:
    said = "You are not running a supported priority plugin\n(priority/basic).\n"
    assert slurm.parse_sprio(said) == [] and slurm.no_priority_plugin(said)


def test_squeue_start_22_05() -> None:
    found = slurm.parse_start((SLURM / "squeue-start.txt").read_text())
    assert found.start.startswith("20") and "T" in found.start
    assert slurm.parse_start("N/A|(null)\n") == slurm.parse_start("") == slurm.parse_start("Unknown|\n")
    assert slurm.parse_start("N/A|(null)\n").start == ""


def _row(job_id: str, priority: int, **weighted: float) -> PriorityRow:
    return PriorityRow(job_id, "alice", "gpu", priority, weighted, {k: v / 10000 for k, v in weighted.items()})


def test_rank_counts_higher_priorities_and_older_ids_on_a_tie() -> None:
    rows = [_row("30", 500), _row("12", 900), _row("20", 500), _row("7", 100), _row("40_3", 500)]
    assert [rank_of(rows, j) for j in ("12", "20", "30", "40_3", "7")] == [1, 2, 3, 4, 5]
    assert rank_of(rows, "99") is None


def test_factors_biggest_first_and_the_plain_words() -> None:
    row = _row("5", 1204, age=4, fairshare=1200, job_size=0)
    factors = factors_of(row)
    assert [f.name for f in factors] == ["fairshare", "age"]  # a factor that adds nothing is not listed
    s = JobStanding("c", "5", "PENDING", "gpu", 1204, factors, "fairshare", 37, 40, "2026-11-30T14:20:00",
                    "gpu1")
    assert priority_words(s) == ("priority 1,204, rank 37 of 40 pending in gpu; fairshare 0.12 is the biggest "
                                 "factor (1,200 of it)")
    assert summarize(s).endswith("; expected start 2026-11-30T14:20:00 on gpu1")
    words = priority_words(s)
    d = diagnose(DiagnosisInput(job_id="5", state=JobState.PENDING, reason="Priority",
                                reason_explained="other jobs ahead of it have higher priority", standing=words))
    assert d.cause == "pending" and "rank 37 of 40 pending in gpu" in d.summary and f"standing: {words}" in d.evidence


class _Replay:
    def __init__(self, text: str) -> None:
        self.text = text

    async def run(self, argv: list[str], **_: object) -> CommandResult:
        if argv == ["qstat", "--version"]:
            return CommandResult(tuple(argv), "pbs_version = 23.06.06\n", "", 0, 0.0)
        if argv[:2] == ["qstat", "-f"]:
            return CommandResult(tuple(argv), self.text, "", 0, 0.0)
        return CommandResult(tuple(argv), "", f"unexpected {argv}", 99, 0.0)

    async def write(self, path: str, data: bytes) -> None:
        raise AssertionError("nothing is written")


def test_openpbs_estimate_from_a_calendared_job() -> None:
    backend = PbsBackend(_Replay((DATA / "openpbs-23.06" / "qstat-f-F-json-estimated.json").read_text()).run,
                         _Replay("").write, "pbspro")
    found = asyncio.run(backend.start_estimate("1034.vm"))
    assert found.start == "2026-11-30T08:03:06" and found.nodes == "(cpu1:ncpus=2)"


@pytest.mark.parametrize("method", ["fairshare", "priority"])
def test_pbs_refuses_fairshare_and_factors_in_one_line(method: str) -> None:
    from hpcbridge.errors import Unsupported

    backend = PbsBackend(_Replay("").run, _Replay("").write, "pbspro")
    with pytest.raises(Unsupported, match="not supported on pbs"):
        asyncio.run(backend.fairshare("alice") if method == "fairshare" else backend.priority(["1.vm"]))
