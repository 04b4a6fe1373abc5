"""Where running jobs write stdout/stderr, for many jobs in one squeue (progress and trouble, issue 27).

squeue 22.05 prints StdOut/StdErr as given to sbatch, its filename patterns unexpanded (`e-%x-%3a.err`);
newer squeues expand some. Expanding here is a no-op on an expanded path, so both read the same.
"""

from __future__ import annotations

import posixpath
import re

from .records import RS, SEP, split_sep_records

# the free-text fields last; paths cannot hold SEP (0x1f) in practice, the name may and comes very last
_FIELDS = ("JobArrayID", "JobID", "ArrayJobID", "ArrayTaskID", "UserName", "BatchHost", "STDOUT", "STDERR", "Name")


def output_paths_argv(job_ids: list[str]) -> list[str]:
    fmt = ",".join(f"{name}:0{RS if i == len(_FIELDS) - 1 else SEP}" for i, name in enumerate(_FIELDS))
    return ["squeue", "--noheader", "--array", "--jobs", ",".join(job_ids), "--Format", fmt]


_PATTERN = re.compile(r"%(\d*)([%AaJjNnstuxb])")


def expand(path: str, rec: dict[str, str]) -> str:
    """sbatch(1) "filename pattern": %j job id, %A/%a array job/task, %x name, %u user, %N first node,
    %s/%t/%n step/task/node (the batch step: batch, 0, 0), %% a '%'; a number after % zero-pads."""
    task = rec["ArrayTaskID"] if rec["ArrayTaskID"] not in ("N/A", "") else ""
    values = {"%": "%", "A": rec["ArrayJobID"] if task else rec["JobID"], "a": task or "4294967294",
              "J": rec["JobID"], "j": rec["JobID"], "N": rec["BatchHost"].split(".")[0], "n": "0", "s": "batch",
              "t": "0", "u": rec["UserName"], "x": rec["Name"], "b": str(int(task) % 10) if task.isdigit() else "0"}

    def one(m: re.Match[str]) -> str:
        value = values[m.group(2)]
        return value.zfill(int(m.group(1))) if m.group(1) and value.isdigit() else value

    return _PATTERN.sub(one, path)


def parse_output_paths(text: str) -> dict[str, tuple[str, str]]:
    """job id (123, or 123_4 for a task) -> (stdout path, stderr path), absolute paths only."""
    found: dict[str, tuple[str, str]] = {}
    for cols in split_sep_records(text, len(_FIELDS), RS + "\n"):
        rec = dict(zip(_FIELDS, cols, strict=True))
        out, err = (expand(rec[k], rec) for k in ("STDOUT", "STDERR"))
        task = rec["ArrayTaskID"]
        if task.isdigit():
            # squeue 22.05 shows an array task's default output as slurm-<task's own job id>.out; sbatch
            # writes slurm-<array job>_<task>.out (sbatch(1) "-o": default for arrays "slurm-%A_%a.out")
            wrong = f"slurm-{rec['JobID']}.out"
            right = f"slurm-{rec['ArrayJobID']}_{task}.out"
            out, err = (posixpath.join(posixpath.dirname(p), right) if posixpath.basename(p) == wrong else p
                        for p in (out, err))
        found[rec["JobArrayID"]] = (out if out.startswith("/") else "", err if err.startswith("/") else "")
    return found
