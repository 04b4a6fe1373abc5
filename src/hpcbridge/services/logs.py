"""Logs an agent can page, search and follow (issue 27): fixed shell scripts on the cluster with the path and
numbers as positional arguments (never in the script text), so a 20 GB log is read by seeking, not from its
start. Every path goes through the Sandbox first; the pure cutting and parsing is in watch/logpage.py."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from ..errors import HpcBridgeError, InvalidParameter, NotFound
from ..models import CommandResult
from ..watch import logpage
from ..watch.logpage import LOG_GLOBS, LogPage, Records, SearchResult
from .cluster import Cluster
from .listing import bounded, iso_time
from .sandbox import Sandbox

MAX_WAIT = 60  # seconds a follow may wait for the file to grow
MAX_RECORDS = 1000
SCAN_TIMEOUT = 300  # seconds for the calls that scan from the start (line offsets, line counts)

# A FIFO or a device would block tail, grep or sed until their timeouts: only regular files are read (exit 4).
_REGULAR_ONLY = r'''kind=$(stat -L -c %F -- "$f") || exit 3
case $kind in regular*) ;; *) printf '%s\n' "$kind" >&2; exit 4;; esac'''

# stat's %F is "regular file"; GNU tail -c +N seeks on a regular file, so a page costs its own size only.
_PAGE = r'''f=$1; off=$2; cap=$3; wait=$4
$REGULAR_ONLY
st() { stat -L -c '%s	%F' -- "$f"; }
info=$(st) || exit 3
size=${info%%	*}
if [ "$off" -lt 0 ]; then off=$((size + off)); [ "$off" -lt 0 ] && off=0; fi
i=0
while [ "$size" -le "$off" ] && [ "$i" -lt "$wait" ]; do
  sleep 1; i=$((i + 1)); info=$(st) || exit 3; size=${info%%	*}
done
printf '%s\t%s\n' "$info" "$off"
tail -c +"$((off + 1))" -- "$f" | head -c "$cap"'''

# A line offset has to count newlines from the start: head -n scans (the tool's description says so).
_LINE_PAGE = r'''f=$1; line=$2; cap=$3
$REGULAR_ONLY
info=$(stat -L -c '%s	%F' -- "$f") || exit 3
off=$(head -n "$((line - 1))" -- "$f" | wc -c)
printf '%s\t%s\n' "$info" "$off"
tail -c +"$((off + 1))" -- "$f" | head -c "$cap"'''

# grep reads the piece from the offset on stdin (-n/-b then count from there; the header gives the bases).
# Its exit status goes to stderr last, because head's would hide it (124: timeout(1) stopped it).
_SEARCH = r'''f=$1; off=$2; cap=$3; t=$4; shift 4
size=$(stat -L -c %s -- "$f") || exit 3
$REGULAR_ONLY
base=0
[ "$off" -gt 0 ] && base=$(head -c "$off" -- "$f" | wc -l)
printf '%s\t%s\n' "$size" "$base"
{ tail -c +"$((off + 1))" -- "$f" | timeout -k 1 "$t" grep -a -n -b "$@"; printf '\n%s' "$?" >&2; } | head -c "$cap"'''

_RECORDS = r'''f=$1; first=$2; last=$3; cap=$4
$REGULAR_ONLY
sed -n "${first},${last}p;${last}q" -- "$f" | head -c "$cap"'''

_PAGE, _LINE_PAGE, _SEARCH, _RECORDS = (script.replace("$REGULAR_ONLY", _REGULAR_ONLY)
                                         for script in (_PAGE, _LINE_PAGE, _SEARCH, _RECORDS))

_FIND_LOGS = r'''n=$1; shift; find "$@" -printf '%T@\t%s\t%p\0' | sort -z -rn | head -z -n "$n"'''


@dataclass(frozen=True)
class LogFile:
    path: str
    size_bytes: int
    modified: str
    source: str  # stdout | stderr | work_dir | directory


@dataclass(frozen=True)
class LogFiles:
    directory: str
    files: list[LogFile]
    cut: bool
    note: str = ""


async def job_log_path(cluster: Cluster, job_id: str | int, stream: str) -> str:
    details = await cluster.job_details(cluster.job_id(job_id))
    path = details.stdout_path if stream == "stdout" else details.stderr_path
    if not path:
        raise NotFound(f"job {job_id}: the scheduler does not know its {stream} path; pass path (it ran in "
                       f"{details.work_dir or 'an unknown directory'})")
    return path


async def resolve(cluster: Cluster, path: str | None, job_id: str | int | None, stream: str = "stdout") -> str:
    """The sandboxed real path of `path`, or of the job's stdout/stderr."""
    if stream not in ("stdout", "stderr"):
        raise InvalidParameter("stream", f"{stream!r}", "'stdout' or 'stderr'")
    if not path and not job_id:
        raise InvalidParameter("path", "neither path nor job_id given", "a log file path or a job_id")
    target = path or await job_log_path(cluster, job_id or "", stream)
    real, _ = await Sandbox(cluster).resolve(target)
    return real


def _raw(result: CommandResult) -> bytes:
    return result.stdout_bytes or result.stdout.encode()


def _failed(real: str, result: CommandResult) -> HpcBridgeError:
    if result.exit_status == 3:
        return NotFound(f"{real}: cannot stat: {result.stderr.strip()}")
    if result.exit_status == 4:
        return InvalidParameter("path", f"{real} is a {result.stderr.strip()}", "a regular file")
    return HpcBridgeError(f"cannot read {real}: {result.stderr.strip() or f'exit {result.exit_status}'}")


async def read_log(
    cluster: Cluster, real: str, *, offset: int | None = None, line: int | None = None,
    max_bytes: int = logpage.DEFAULT_PAGE, wait: int = 0, follow: bool = False, align: bool = False,
) -> LogPage:
    """A page from a byte offset (seeks; negative = from the end), or from a 1-based line (scans). With
    align (always from the end) a page that starts inside a line begins at the next one (a "previous page")."""
    cap = logpage.check_cap(max_bytes)
    if offset is not None and line is not None:
        raise InvalidParameter("line", "both offset and line given", "one of them (offset is the fast one)")
    if not 0 <= wait <= MAX_WAIT:
        raise InvalidParameter("wait", f"{wait} seconds", f"0..{MAX_WAIT} seconds")
    if line is not None:
        if line < 1:
            raise InvalidParameter("line", f"{line}", "a line number from 1")
        argv, seconds = ["sh", "-c", _LINE_PAGE, "hpcbridge", real, str(line), str(cap)], float(SCAN_TIMEOUT)
    # Aligning reads from one byte earlier: that byte tells whether the offset is already a line's start.
    aligning = line is None and bool(offset) and (align or (offset or 0) < 0)
    ask = (offset or 0) - aligning
    if line is None:
        seconds = cluster.config.command_timeout + wait
        argv = ["sh", "-c", _PAGE, "hpcbridge", real, str(ask), str(cap + aligning), str(wait)]
    result = await cluster.run(bounded(argv, seconds + 3), timeout=seconds + 3)
    if not result.ok:
        raise _failed(real, result)
    header, data = logpage.split_header(_raw(result))
    size, kind, start = int(header[0]), header[1], int(header[2])
    if "regular" not in kind:
        raise InvalidParameter("path", f"{real} is a {kind}", "a regular file")
    notes = []
    if aligning and not (ask < 0 and size + ask < 0):  # (else the page starts at the file's start)
        # drop through the first newline: only the byte before the offset when that is one
        cut = data.find(b"\n")
        data, start = (data[cut + 1:], start + cut + 1) if cut >= 0 else (b"", start + len(data))
    data = data[:cap]
    if start > size:
        notes.append(f"the file has {size} bytes, fewer than offset {start} (truncated or replaced?)")
    page, note = logpage.cut_page(data, start, size, cap, hold_partial=follow)
    if note:
        notes.append(note)
    end = start + len(page)
    eof = end >= size
    if line is not None:
        notes.append("paged by line: the line's offset was found by scanning the file from its start")
    if not eof:
        notes.append(f"{size - end} more bytes: continue with offset={end}")
    text = page.decode("utf-8", "replace")
    return LogPage(real, text, start, end, size, eof, len(page), "; ".join(notes), line)


def _grep_args(pattern: str, fixed: bool, ignore_case: bool, context: int, max_matches: int) -> list[str]:
    if not pattern or len(pattern) > 1000 or "\n" in pattern or "\0" in pattern:
        raise InvalidParameter("pattern", f"{pattern[:50]!r}", "1..1000 characters on one line")
    if not 0 <= context <= 20:
        raise InvalidParameter("context", f"{context}", "0..20 lines")
    if not 1 <= max_matches <= 1000:
        raise InvalidParameter("max_matches", f"{max_matches}", "1..1000")
    args = ["-F" if fixed else "-E", "-m", str(max_matches)]
    if context:
        args += ["-C", str(context)]
    if ignore_case:
        args.append("-i")
    return [*args, "-e", pattern]  # the pattern is an argument after -e, never script text


async def search_log(
    cluster: Cluster, real: str, pattern: str, *, fixed: bool = False, ignore_case: bool = False,
    context: int = 0, max_matches: int = 100, offset: int = 0, timeout: int = 30,
    max_bytes: int = logpage.DEFAULT_PAGE,
) -> SearchResult:
    args = _grep_args(pattern, fixed, ignore_case, context, max_matches)
    cap = logpage.check_cap(max_bytes)
    if offset < 0:
        raise InvalidParameter("offset", f"{offset}", "a byte offset from 0")
    if not 1 <= timeout <= 600:
        raise InvalidParameter("timeout", f"{timeout}", "1..600 seconds")
    seconds = timeout + SCAN_TIMEOUT // 10 + 5
    argv = ["sh", "-c", _SEARCH, "hpcbridge", real, str(offset), str(cap + 1), str(timeout), *args]
    result = await cluster.run(argv, timeout=seconds)
    if result.exit_status in (3, 4):
        raise _failed(real, result)
    header, raw = logpage.split_header(_raw(result))
    message, _, status = result.stderr.rpartition("\n")
    if status.strip() == "2" or not header[0].isdigit():
        raise InvalidParameter("pattern", f"grep refused it: {message.strip()[:300]}",
                               "an extended regular expression (or fixed=true)")
    size, base = int(header[0]), int(header[1])
    by_bytes = len(raw) > cap
    hits, go_on = logpage.parse_grep(raw[:cap], base, offset, complete=not by_bytes)
    matches = sum(h.match for h in hits)
    notes, cut = [], True
    after = f"; search on with offset={go_on}" if go_on is not None else ""
    if status.strip() == "124":
        notes.append(f"stopped after timeout={timeout}s{after}")
    elif by_bytes:
        notes.append(f"output cut at max_bytes={cap}{after}")
    elif matches >= max_matches:
        notes.append(f"max_matches={max_matches} reached{after}")
    else:
        cut = False
    notes.append(f"{matches} matching lines from offset {offset} of {size} bytes")
    if offset:
        notes.append("line numbers count from the file's start")
    return SearchResult(real, pattern, matches, hits, offset, size, cut, "; ".join(notes))


async def read_records(
    cluster: Cluster, real: str, *, start: int = 0, count: int = 100, fields: list[str] | None = None,
    max_bytes: int = logpage.MAX_PAGE,
) -> Records:
    """JSON lines start..start+count-1 (0-based), selected dotted fields; bad lines listed, not fatal."""
    paths = logpage.check_fields(fields)
    if start < 0:
        raise InvalidParameter("start", f"{start}", "a record index from 0")
    if not 1 <= count <= MAX_RECORDS:
        raise InvalidParameter("count", f"{count}", f"1..{MAX_RECORDS}")
    cap = logpage.check_cap(max_bytes)
    # one line more than asked, to know whether there is more
    argv = ["sh", "-c", _RECORDS, "hpcbridge", real, str(start + 1), str(start + count + 1), str(cap)]
    result = await cluster.run(bounded(argv, SCAN_TIMEOUT), timeout=SCAN_TIMEOUT)
    if not result.ok:
        raise _failed(real, result)
    raw = _raw(result)
    lines = raw.split(b"\n")
    complete = lines[:-1]  # what follows the last newline is partial (cut by max_bytes) or the file's end
    tail = lines[-1]
    notes = []
    if tail and len(raw) < cap:
        complete.append(tail)  # the file's last line, without a newline
    elif tail:
        notes.append(f"cut at max_bytes={cap}")
    more = len(complete) > count or (bool(tail) and len(raw) >= cap)
    complete = complete[:count]
    records, bad = logpage.parse_records(b"\n".join(complete), start, paths)
    next_start = start + len(complete) if more else None
    if next_start is not None:
        notes.append(f"more records: continue with start={next_start}")
    notes.append("records are found by counting lines from the file's start")
    return Records(real, start, records, bad, next_start, "; ".join(notes))


def _find_args(directory: str, depth: int) -> list[str]:
    names: list[str] = []
    for glob in LOG_GLOBS:
        names += (["-o"] if names else []) + ["-name", glob]
    return [directory, "-maxdepth", str(depth), "-type", "f", "(", *names, ")"]


async def list_logs(
    cluster: Cluster, *, job_id: str | int | None = None, directory: str | None = None, limit: int = 50,
    depth: int = 3,
) -> LogFiles:
    """The job's stdout/stderr and the log-like files under its work dir (or under `directory`), newest
    first, at most `limit`."""
    if not job_id and not directory:
        raise InvalidParameter("job_id", "neither job_id nor directory given", "a job id or a directory")
    if not 1 <= limit <= 1000:
        raise InvalidParameter("limit", f"{limit}", "1..1000")
    if not 1 <= depth <= 6:
        raise InvalidParameter("depth", f"{depth}", "1..6 directory levels")
    sandbox = Sandbox(cluster)
    named: dict[str, str] = {}
    if job_id:
        details = await cluster.job_details(cluster.job_id(job_id))
        for source, path in (("stdout", details.stdout_path), ("stderr", details.stderr_path)):
            if path and path not in named.values():
                named[source] = path
        directory = directory or details.work_dir
    files: list[LogFile] = []
    seen: set[str] = set()
    for source, path in named.items():
        try:
            real, _ = await sandbox.resolve(path)
        except HpcBridgeError:
            continue  # not written yet, or outside the sandbox: the listing below still helps
        stat = await cluster.run(["stat", "-L", "-c", "%s\t%Y", "--", real])
        if stat.ok:
            size, mtime = stat.stdout.strip().split("\t")
            files.append(LogFile(real, int(size), iso_time(float(mtime)), source))
            seen.add(real)
    if not directory:
        return LogFiles("", files, False, "the job's work dir is not known")
    top, _ = await sandbox.resolve(directory)
    hidden = await sandbox.hidden()
    argv = ["sh", "-c", _FIND_LOGS, "hpcbridge", str(limit + 1), *_find_args(top, depth)]
    found = await cluster.run(bounded(argv, 60), timeout=60)
    records = found.stdout.split("\0")[:-1]
    cut = len(records) > limit
    for record in records[:limit]:
        mtime, size, path = record.split("\t", 2)
        if path not in seen and not hidden(path):
            files.append(LogFile(path, int(size), iso_time(float(mtime)), "work_dir" if job_id else "directory"))
    note = f"more than {limit} log-like files under {top}; showing the newest" if cut else ""
    return LogFiles(top, files, cut, note or f"{', '.join(LOG_GLOBS)} under {posixpath.basename(top) or top}, "
                    f"{depth} levels deep")
