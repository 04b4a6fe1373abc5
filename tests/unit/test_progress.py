"""Progress and trouble from a running job's output (issue 27): every pattern, tqdm's \\r, ETA, the remote
answer's framing, Slurm's filename patterns, and diagnose_job's running rules. Pure: strings only."""

from __future__ import annotations

import base64

import pytest

from hpcbridge.backends.pbs.outputs import live_output_paths
from hpcbridge.backends.slurm.outputs import expand, output_paths_argv, parse_output_paths
from hpcbridge.backends.slurm.records import RS, SEP
from hpcbridge.diagnosis import DiagnosisInput, diagnose
from hpcbridge.models import Job, JobDetails, JobState
from hpcbridge.services.progress_look import judge, parse_tails, read_argv
from hpcbridge.watch.patterns import PROGRESS, TROUBLE
from hpcbridge.watch.progress import (
    LogTail,
    clock,
    eta_from_rate,
    find_progress,
    find_trouble,
    short_trouble,
    stalled,
    visible_lines,
)

NEAR_MISSES = {
    "gpu_out_of_memory": ["cuda memory: 12.3 GiB used of 80 GiB", "torch.cuda.max_memory_allocated() = 3"],
    "nccl_timeout": ["NCCL_TIMEOUT=600 set for this run", "NCCL INFO Channel 00/02 : 0 1", "watchdog started"],
    "out_of_memory": ["memory use 98%", "Killed 3 stale workers before start", "oom score adj 0"],
    "segfault": ["segmentation of the image done", "no Segmentationfault here"],
    "time_limit": ["time limit is 04:00:00", "*** JOB 12 ON gpu1 CANCELLED AT 2024-05-01T12:00 DUE TO PREEMPTION ***"],
    "python_exception": ["  Traceback (most recent call last):", "print('Traceback (most recent call last):')"],
}


@pytest.mark.parametrize("pattern", TROUBLE, ids=lambda p: p.cause)
def test_each_trouble_pattern_matches_its_public_example_and_not_its_near_misses(pattern) -> None:  # type: ignore[no-untyped-def]
    assert pattern.source and pattern.example
    assert pattern.regex.search(pattern.example)
    assert next(p.cause for p in TROUBLE if p.regex.search(pattern.example)) == pattern.cause
    for line in NEAR_MISSES[pattern.cause]:
        assert not pattern.regex.search(line), line
        assert not find_trouble([LogTail("stderr", line + "\n")]), line


def test_the_other_examples_each_trouble_source_names_also_match() -> None:
    by_cause = {p.cause: p.regex for p in TROUBLE}
    assert by_cause["out_of_memory"].search("/var/spool/slurmd/job4321/slurm_script: line 7:  1234 Killed"
                                            "                  python train.py")
    assert by_cause["out_of_memory"].search("Killed")
    assert by_cause["time_limit"].search("=>> PBS: job killed: walltime 3630 exceeded limit 3600")
    assert by_cause["segfault"].search("Segmentation fault (core dumped)")
    assert by_cause["gpu_out_of_memory"].search("RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB")


@pytest.mark.parametrize("pattern", PROGRESS, ids=lambda p: p.kind)
def test_each_progress_pattern_reads_its_public_example(pattern) -> None:  # type: ignore[no-untyped-def]
    found = find_progress([LogTail("stdout", pattern.example + "\n")])
    assert found is not None and found.kind == pattern.kind and pattern.source


@pytest.mark.parametrize("line", ["GPU util 90%", "2024/05/01 12:00 started", "loss 0.5 (3/4 of data)",
                                  "step 7/0", "step 9/3 of the recipe", "epoch", "50% of the nodes are idle"])
def test_lines_that_are_not_progress(line: str) -> None:
    assert find_progress([LogTail("stdout", line + "\n")]) is None


def test_tqdm_redraws_with_carriage_returns_and_the_last_redraw_counts() -> None:
    text = ("\rtrain:   0%|          | 0/5000 [00:00<?, ?it/s]"
            "\rtrain:  24%|██▍       | 1200/5000 [06:27<20:14,  3.10it/s, loss=0.123]")
    found = find_progress([LogTail("stderr", text)])
    assert found is not None
    assert (found.n, found.total, found.percent, found.rate, found.eta) == (1200, 5000, 24, "3.10it/s", "20:14")
    assert found.short() == "1200/5000 24% 3.10it/s ETA 20:14"
    # a bar still at its start has no rate nor ETA yet
    first = find_progress([LogTail("stderr", "\r  0%|          | 0/5000 [00:00<?, ?it/s]")])
    assert first is not None and (first.rate, first.eta, first.short()) == ("", "", "0/5000 0%")


def test_tqdm_unit_scale_and_seconds_per_item() -> None:
    found = find_progress([LogTail("stderr", "\r 35%|███▌      | 3.5k/10.0k [1:02:03<1:55:14,  1.06s/it]")])
    assert found is not None and (found.n, found.total, found.rate, found.eta) == (3500, 10000, "1.06s/it", "1:55:14")


def test_visible_lines_overwrite_and_cut() -> None:
    assert visible_lines("a\rbb\r\nc\n") == ["bb", "c", ""]
    assert visible_lines("partial line\nwhole\n", cut=True) == ["", "whole", ""]


def test_step_progress_with_a_rate_gets_an_eta() -> None:
    found = find_progress([LogTail("stdout", "step 1200/5000 | loss 2.314 | 3.1 it/s\n")])
    assert found is not None and found.short() == f"step 1200/5000 24% 3.1 it/s ETA {clock(3800 / 3.1)}"
    assert clock(3800 / 3.1) == "20:26"
    assert eta_from_rate(10, 20, 2.0, "s/it") == "00:20"
    assert eta_from_rate(20, 20, 2.0, "it/s") == ""
    assert clock(3661) == "1:01:01"


def test_the_latest_progress_wins_across_files() -> None:
    old = LogTail("stdout", "Epoch 2/10\n", mtime=100)
    new = LogTail("stderr", "Epoch 3/10\n", mtime=200)
    found = find_progress([old, new])
    assert found is not None and found.short() == "epoch 3/10 30%"


def test_trouble_names_the_line_and_the_exception() -> None:
    text = "ok\nTraceback (most recent call last):\n  File \"t.py\", line 3, in <module>\nKeyError: 'x'\n"
    (t,) = find_trouble([LogTail("stderr", text, end_line=812)])
    assert t.short() == "Python traceback: KeyError: 'x' (stderr line 810)"
    assert t.evidence == ["Traceback (most recent call last):", "KeyError: 'x'"]
    (u,) = find_trouble([LogTail("stderr", text)])  # lines not counted: counted from the end
    assert u.where == "3 lines from the end"


def test_the_specific_trouble_comes_first_and_the_rest_is_counted() -> None:
    text = ("Traceback (most recent call last):\n  File \"t.py\", line 9\n"
            "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB\n")
    found = find_trouble([LogTail("stderr", text, end_line=3)])
    assert [t.cause for t in found] == ["gpu_out_of_memory", "python_exception"]
    assert short_trouble(found) == "CUDA out of memory (stderr line 3) (+1 more)"


def test_a_log_that_stopped_growing() -> None:
    tails = [LogTail("stdout", "x\n", mtime=1000, size=2), LogTail("stderr", "", mtime=1900, size=0)]
    assert stalled(tails, now=1000 + 9 * 60, minutes=10) is None
    quiet = stalled(tails, now=1000 + 14 * 60 + 5, minutes=10)
    assert quiet is not None and quiet.label == "no output for 14 min"
    assert judge(tails, 1000 + 14 * 60, 10).trouble_text == "no output for 14 min"
    assert judge(tails, 0, 10).trouble_text == ""  # the cluster's clock unknown: no guess
    assert stalled([LogTail("stdout", "", mtime=1000)], now=99999, minutes=10) is None  # never wrote: not stalled
    assert stalled(tails, now=99999, minutes=0) is None  # log_stall_minutes = 0: off


def _answer(now: int, *files: tuple[int, int, int, bytes] | None) -> str:
    lines = [str(now)]
    for f in files:
        if f is None:
            lines.append("-")
        else:
            size, mtime, count, data = f
            lines += [f"+ {size} {mtime} {count}", base64.b64encode(data).decode()]
    return "\n".join(lines) + "\n"


def test_the_remote_answer_is_framed_per_path_and_unreadable_files_are_skipped() -> None:
    text = _answer(5000, (4, 4000, 2, b"a\nb\n"), None, (9000, 4900, 0, b"tail only\n"))
    now, read = parse_tails(text, ["/o", "/theirs", "/big"])
    assert now == 5000 and set(read) == {"/o", "/big"}
    assert read["/o"].text == "a\nb\n" and not read["/o"].cut and read["/o"].end_line == 2
    assert read["/big"].cut and read["/big"].end_line == 0
    # cut short (timeout): what came is kept
    now, read = parse_tails(text.split("\n+ 9000")[0], ["/o", "/theirs", "/big"])
    assert set(read) == {"/o"}
    assert parse_tails("", ["/o"]) == (0, {})
    argv = read_argv(["/a b", "/$(x)"])
    assert argv[:4] == ["timeout", "-k", "1", "8"] and argv[-2:] == ["/a b", "/$(x)"]


REC = {"JobID": "383", "ArrayJobID": "381", "ArrayTaskID": "0", "UserName": "alice", "BatchHost": "gpu1.x",
       "Name": "train"}


def test_slurm_filename_patterns_expand_as_sbatch_documents() -> None:
    assert expand("/s/%x-%A_%a.%j.%u.%N.out", REC) == "/s/train-381_0.383.alice.gpu1.out"
    assert expand("/s/e-%x-%3a-%5j.err", REC) == "/s/e-train-000-00383.err"
    assert expand("/s/100%%-%J-%s", REC) == "/s/100%-383-batch"
    plain = {**REC, "JobID": "382", "ArrayJobID": "382", "ArrayTaskID": "N/A"}
    assert expand("/s/%A.out", plain) == "/s/382.out"
    assert expand("/already/expanded-382.out", plain) == "/already/expanded-382.out"


def test_slurm_output_paths_from_one_squeue() -> None:
    argv = output_paths_argv(["381", "382"])
    assert argv[:5] == ["squeue", "--noheader", "--array", "--jobs", "381,382"]
    row = (["381_0", "383", "381", "0", "alice", "cpu1", "/s/slurm-383.out", "/s/slurm-383.out", "n"],
           ["382", "382", "382", "N/A", "alice", "cpu2", "/s/slurm-382.out", "e-%x.err", "odd" + SEP + "name"])
    text = "".join(SEP.join(r) + RS + "\n" for r in row)
    found = parse_output_paths(text)
    # squeue 22.05 names an array task's default output after the task's own id; sbatch writes %A_%a
    assert found["381_0"] == ("/s/slurm-381_0.out", "/s/slurm-381_0.out")
    assert found["382"] == ("/s/slurm-382.out", "")  # a relative path is not guessed at


def _running(**kw: str) -> DiagnosisInput:
    return DiagnosisInput(job_id="7", state=JobState.RUNNING, native_state="RUNNING", **kw)  # type: ignore[arg-type]


def test_diagnose_a_running_job() -> None:
    d = diagnose(_running(progress="step 10/100 10%"))
    assert d.cause == "running" and d.summary == "job 7 is running at step 10/100 10%"
    d = diagnose(_running(stalled="no output for 14 min"))
    assert d.cause == "log_stalled" and "no output for 14 min" in d.summary
    d = diagnose(_running(stderr_tail="Traceback (most recent call last):\n  File \"a.py\"\nValueError: v\n"))
    assert d.cause == "python_exception" and d.summary.endswith("(the job is still RUNNING)")
    assert "cancel_job" in d.next_step


def _pbs(keep: str, join: str = "n") -> JobDetails:
    job = Job("12.srv", "n", "alice", JobState.RUNNING, "R")
    return JobDetails(job, stdout_path="/h/o", stderr_path="/h/e", raw={"Keep_Files": keep, "Join_Path": join})


def test_pbs_output_is_read_only_when_the_job_writes_it_directly() -> None:
    assert live_output_paths(_pbs("n")) == ("", "")  # spooled on the execution host until the end
    assert live_output_paths(_pbs("oe")) == ("", "")  # kept in the execution host's home, not at the path
    assert live_output_paths(_pbs("oed")) == ("/h/o", "/h/e")
    assert live_output_paths(_pbs("od")) == ("/h/o", "")
    assert live_output_paths(_pbs("oed", "oe")) == ("/h/o", "/h/o")  # -j oe: both streams in stdout's file


def test_slurm_output_paths_in_newer_forms() -> None:
    """squeue-25.11.4-v0.0.44.json (shared/fixtures) keeps `worker-%j.log` unexpanded and an unset stderr
    empty; 23.02/24.11 print expanded paths; /dev/null is a path the reader skips (not a regular file)."""
    rows = (["7725", "7725", "7725", "N/A", "alice_ucr_edu", "c1", "/home/alice_ucr_edu/warm/worker-%j.log", "",
             "warm"],
            ["649719", "649719", "649719", "N/A", "agoodwin", "c2", "/home/agoodwin/slurm-649719.out",
             "/home/agoodwin/slurm-649719.out", "x"])
    found = parse_output_paths("".join(SEP.join(r) + RS + "\n" for r in rows))
    assert found["7725"] == ("/home/alice_ucr_edu/warm/worker-7725.log", "")
    assert found["649719"] == ("/home/agoodwin/slurm-649719.out", "/home/agoodwin/slurm-649719.out")
