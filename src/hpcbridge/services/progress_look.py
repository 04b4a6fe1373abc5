"""Progress and trouble of running jobs, read from the ends of their output files in one remote command.

Used by list_jobs (the running rows of a page), diagnose_job (a running job) and the dashboard's board.
Best effort: any failure (no paths, a slow file system, an unsupported scheduler) leaves the fields empty and
never fails the caller.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field

from ..errors import HpcBridgeError
from ..models import Job, JobState
from ..watch.progress import LogTail, Progress, Trouble, find_progress, find_trouble, short_trouble, stalled
from .cluster import Cluster

log = logging.getLogger(__name__)

MAX_JOBS = 25  # running jobs looked at per call (a page of list_jobs)
TAIL_BYTES = 8 * 1024
COUNT_LINES_UNDER = 8 * 1024 * 1024  # files this small get exact line numbers (wc -l)
SECONDS = 8  # the whole read, on the cluster

# One shell over all files: `date +%s`, then per file `+ SIZE MTIME LINES` and its tail in base64 on one line,
# or `-` when it is not a readable regular file (another user's, not written yet, PBS still spooling it).
# Paths are arguments, never script text.
_READ_TAILS = r"""n=$1; big=$2; shift 2; date +%s
for f; do
  if [ -f "$f" ] && [ -r "$f" ] && s=$(stat -c '%s %Y' -- "$f"); then
    if [ "${s%% *}" -le "$big" ]; then l=$(wc -l < "$f"); else l=0; fi
    echo "+ $s $l"; tail -c "$n" -- "$f" | base64 -w0; echo
  else echo -; fi
done"""


@dataclass(frozen=True)
class Look:
    """What the output of one running job shows."""

    progress: Progress | None = None
    trouble: list[Trouble] = field(default_factory=list)
    note: str = ""  # why nothing could be read

    @property
    def progress_text(self) -> str:
        return self.progress.short() if self.progress else ""

    @property
    def trouble_text(self) -> str:
        return short_trouble(self.trouble)


def read_argv(paths: list[str]) -> list[str]:
    return ["timeout", "-k", "1", str(SECONDS), "sh", "-c", _READ_TAILS, "hpcbridge", str(TAIL_BYTES),
            str(COUNT_LINES_UNDER), *paths]


def parse_tails(text: str, paths: list[str]) -> tuple[int, dict[str, LogTail]]:
    """(the cluster's clock, path -> its tail) from _READ_TAILS's answer; unreadable paths are left out."""
    lines = text.split("\n")
    now = int(lines[0]) if lines and lines[0].strip().isdigit() else 0
    found: dict[str, LogTail] = {}
    pos = 1
    for path in paths:
        if pos >= len(lines):
            break  # cut short by the timeout: what was read so far still counts
        head = lines[pos].split()
        pos += 1
        if len(head) != 4 or head[0] != "+" or pos >= len(lines):
            continue
        size, mtime, count = (int(x) if x.isdigit() else 0 for x in head[1:])
        try:
            data = base64.b64decode(lines[pos], validate=False)
        except ValueError:
            data = b""
        pos += 1
        found[path] = LogTail("", data.decode("utf-8", "replace"), cut=size > len(data), end_line=count,
                              mtime=mtime, size=size)
    return now, found


def _tails_of(paths: tuple[str, str], read: dict[str, LogTail]) -> list[LogTail]:
    out, err = paths
    tails = []
    for stream, path in (("stderr", err), ("stdout", out)):
        if path in read and not (stream == "stdout" and path == err):
            t = read[path]
            tails.append(LogTail(stream if out != err else "stdout", t.text, t.cut, t.end_line, t.mtime, t.size))
    return tails


def judge(tails: list[LogTail], now: int, stall_minutes: int) -> Look:
    troubles = find_trouble(tails)
    quiet = stalled(tails, now, stall_minutes) if now else None
    return Look(find_progress(tails), troubles + ([quiet] if quiet else []))


async def look_at(cluster: Cluster, jobs: list[Job]) -> dict[str, Look]:
    """job id -> Look for the login user's running jobs among `jobs` (at most MAX_JOBS; other users' output is
    theirs); {} when nothing can be read. Output unchanged for `log_stall_minutes` counts as trouble."""
    try:
        me = await cluster.user()
        running = [j.job_id for j in jobs if j.state is JobState.RUNNING and j.user == me][:MAX_JOBS]
        if not running:
            return {}
        # identical asks at the same time (many agents polling one page) share one read; none is kept after it
        # (ttl 0): a line that appeared before a call is in that call's answer
        key = "progress:" + ",".join(sorted(running))
        return dict(await cluster.cache.get(key, 0, lambda: _read(cluster, running)))
    except HpcBridgeError as exc:
        log.info("progress of running jobs not read on %s: %s", cluster.name, exc)
        return {}


async def _read(cluster: Cluster, running: list[str]) -> dict[str, Look]:
    paths = await cluster.output_paths(running)
    files = list(dict.fromkeys(p for pair in paths.values() for p in pair if p))
    if not files:
        return {}
    result = await cluster.run(read_argv(files), timeout=SECONDS + 4)
    now, read = parse_tails(result.stdout, files)
    stall = cluster.config.log_stall_minutes
    return {job_id: judge(_tails_of(pair, read), now, stall) for job_id, pair in paths.items() if job_id in running}
