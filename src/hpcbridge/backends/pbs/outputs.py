"""Where a running PBS job's stdout/stderr can be read while it runs (progress and trouble, issue 27).

PBS spools a job's output on the execution host and copies it to Output_Path/Error_Path only when the job
ends (qsub(1) "-k"): while it runs, the final path is empty or, worse, holds an earlier run's file of the same
name. Only with `-k ...d...` (direct write, PBS Pro 19+/OpenPBS) does the job write the final path as it
goes; other jobs get no path, so nothing stale is read. Join_Path `oe`/`eo` sends both streams to one file.
"""

from __future__ import annotations

from ...models import JobDetails


def live_output_paths(details: JobDetails) -> tuple[str, str]:
    keep = details.raw.get("Keep_Files", "")
    if "d" not in keep:
        return "", ""
    out = details.stdout_path if "o" in keep else ""
    err = details.stderr_path if "e" in keep else ""
    join = details.raw.get("Join_Path", "n")
    if join.startswith("o") and out:
        err = out
    elif join.startswith("e") and err:
        out = err
    return out, err
