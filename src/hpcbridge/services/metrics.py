"""Metric series of a job, read where training code already writes them: TensorBoard event files and
JSONL/CSV metric logs in the job's working directory (found with a bounded find) or at given paths, files or
folders (through the file sandbox). Each file is fetched capped (its head: an event file can only be read from its start)
and parsed here, on the hpcbridge side.

Event files are read with TensorBoard's own loader (`tensorboard.backend.event_processing.event_file_loader`,
the `metrics` extra): the TFRecord framing, CRCs, a record cut by a writer that is still writing, and the
old `simple_value` form versus the tensor form of newer writers are its business, not ours. It costs about
0.2 s to import (numpy, protobuf), so it is imported on the first event file read, never at server start.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import tempfile
from dataclasses import dataclass, field

from ..errors import HpcBridgeError, InvalidParameter, NotFound
from ..watch.metrics import (
    DEFAULT_MAX_POINTS,
    Series,
    SeriesSummary,
    file_kind,
    looks_like_metrics,
    parse_csv,
    parse_jsonl,
    select,
    series_from_triples,
    summarise,
)
from .cluster import Cluster
from .files import _fetch, _stat
from .listing import bounded
from .sandbox import Sandbox

DEFAULT_MAX_BYTES = 8 * 1024 * 1024  # per file
MAX_BYTES_LIMIT = 64 * 1024 * 1024
MAX_FILES = 12  # files read in one answer, newest first
FIND_DEPTH = 4
FIND_LIMIT = 2000  # records find may hand back
FIND_SECONDS = 20.0
MAX_SERIES = 50
# -prune skips hidden directories (.git, .venv: their CSVs are not metric logs); records cut on the cluster.
# newest first before the cap (mtime leads each record), so a run with thousands of files keeps its latest
_FIND = ('n=$1; d=$2; shift 2; find "$d" -mindepth 1 -maxdepth "$@" | sort -z -rn | head -z -n "$n"')
_FIND_ARGS = [str(FIND_DEPTH), "(", "-type", "d", "-name", ".*", "-prune", ")", "-o", "-type", "f", "(",
              "-name", "events.out.tfevents.*", "-o", "-name", "*.jsonl", "-o", "-name", "*.ndjson", "-o",
              "-name", "*.csv", ")", "-printf", "%T@\\t%s\\t%p\\0"]
EXTRA_HINT = "reading TensorBoard event files needs the metrics extra: pip install 'hpcbridge[metrics]'"


@dataclass(frozen=True)
class MetricFile:
    path: str
    kind: str  # tfevents | jsonl | csv
    size_bytes: int
    read_bytes: int
    truncated: bool
    series: int
    note: str = ""


@dataclass(frozen=True)
class JobMetrics:
    job_id: str
    work_dir: str
    files: list[MetricFile]
    series: list[SeriesSummary]
    total_series: int
    note: str = ""
    names: list[str] = field(default_factory=list)  # every series name found, before the filter


def event_triples(data: bytes) -> list[tuple[str, float, float]]:
    """(tag, step, value) of every scalar in an event file's bytes, by TensorBoard's loader. Blocking: call
    it in a thread. The loader wants a path, so the bytes go through a private temporary file."""
    try:
        from tensorboard.backend.event_processing import event_file_loader
        from tensorboard.util import tensor_util  # lazily: ~0.2 s (numpy, protobuf)
    except ImportError as exc:
        raise HpcBridgeError(EXTRA_HINT) from exc
    triples: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="hpcbridge-tfevents-") as folder:
        path = os.path.join(folder, "events.out.tfevents.fetched")
        with open(path, "wb") as out:
            out.write(data)
        # The legacy loader hands the events as written: EventFileLoader would first turn every simple_value
        # into a tensor proto (data_compat), which took 60% of the time on 100,000 scalars. Both forms are
        # read here: simple_value (tensorboardX, torch.utils.tensorboard) and a scalar tensor with the
        # `scalars` plugin (tf.summary in TF 2).
        for event in event_file_loader.LegacyEventFileLoader(path).Load():
            for value in event.summary.value:
                kind = value.WhichOneof("value")
                if kind == "simple_value":
                    triples.append((value.tag, float(event.step), float(value.simple_value)))
                elif kind == "tensor" and value.metadata.plugin_data.plugin_name == "scalars":
                    array = tensor_util.make_ndarray(value.tensor)
                    if array.size == 1:
                        triples.append((value.tag, float(event.step), float(array.reshape(()).item())))
    return triples


def parse_file(kind: str, data: bytes, source: str) -> list[Series]:
    """Blocking (the event loader, a large JSONL): call it in a thread."""
    if kind == "tfevents":
        return series_from_triples(event_triples(data), source)
    text = data.decode("utf-8", "replace")
    return parse_jsonl(text, source) if kind == "jsonl" else parse_csv(text, source)


async def find_metric_files(cluster: Cluster, directory: str) -> list[tuple[str, int]]:
    """(path, size) of the metric files under directory (already resolved), newest first, at most
    MAX_FILES; JSONL/CSV only when their name looks like a metric log."""
    hidden = await Sandbox(cluster).hidden()
    argv = ["sh", "-c", _FIND, "hpcbridge", str(FIND_LIMIT), directory, *_FIND_ARGS]
    result = await cluster.run(bounded(argv, FIND_SECONDS), timeout=FIND_SECONDS)
    found: list[tuple[float, str, int]] = []
    for record in result.stdout.split("\0"):
        parts = record.split("\t", 2)
        if len(parts) != 3 or not parts[1].isdigit():
            continue
        mtime, size, path = parts
        if looks_like_metrics(posixpath.relpath(path, directory)) and not hidden(path):
            found.append((float(mtime or 0), path, int(size)))
    found.sort(reverse=True)
    return [(path, size) for _, path, size in found[:MAX_FILES]]


async def _read(cluster: Cluster, path: str, size: int, max_bytes: int) -> tuple[MetricFile, list[Series]]:
    kind = file_kind(path)
    if not kind:
        raise InvalidParameter("paths", f"{path} is not an event file, .jsonl, .ndjson or .csv",
                               "TensorBoard event files (events.out.tfevents.*) or JSONL/CSV metric logs")
    data = await _fetch(cluster, path, max_bytes, from_end=False) if size else b""
    cut = size > len(data)
    note = f"first {len(data)} of {size} bytes read (max_bytes={max_bytes})" if cut else ""
    try:
        series = await asyncio.to_thread(parse_file, kind, data, path)
    except HpcBridgeError as exc:
        return MetricFile(path, kind, size, len(data), cut, 0, exc.message), []
    return MetricFile(path, kind, size, len(data), cut, len(series), note), series


def _unique_names(series: list[Series], base: str) -> list[Series]:
    """Two files with the same tag (TensorBoard's train/ and validation/ runs both write epoch_loss) get
    the file's folder beside the name."""
    counts: dict[str, int] = {}
    for s in series:
        counts[s.name] = counts.get(s.name, 0) + 1
    out = []
    for s in series:
        if counts[s.name] > 1:
            where = posixpath.relpath(posixpath.dirname(s.source), base) if base else posixpath.dirname(s.source)
            s = Series(f"{s.name} [{where}/{posixpath.basename(s.source)}]", s.source, s.steps, s.values)
        out.append(s)
    return out


async def job_metrics(
    cluster: Cluster, job_id: str | None = None, paths: list[str] | None = None, pattern: str | None = None,
    max_points: int = DEFAULT_MAX_POINTS, max_bytes: int = DEFAULT_MAX_BYTES,
) -> JobMetrics:
    """The series of a job's metric files (found in its work dir) or of given paths, filtered by pattern."""
    if not job_id and not paths:
        raise InvalidParameter("job_id", "neither job_id nor paths given", "a job id, or paths of metric files")
    if not 2 <= max_points <= 5000:
        raise InvalidParameter("max_points", f"{max_points}", "an integer from 2 to 5000")
    if not 1 <= max_bytes <= MAX_BYTES_LIMIT:
        raise InvalidParameter("max_bytes", f"{max_bytes}", f"an integer from 1 to {MAX_BYTES_LIMIT}")
    select([], pattern)  # a bad regex is refused before anything is fetched
    sandbox = Sandbox(cluster)
    work_dir, jid = "", ""
    if job_id:
        jid = cluster.job_id(job_id)
        details = await cluster.job_details(jid)
        work_dir = details.work_dir
        if not work_dir and not paths:
            raise NotFound(f"job {jid}: the scheduler does not say its working directory; pass paths")
    targets: list[tuple[str, int]] = []
    if paths:
        for given in paths[:MAX_FILES]:
            full = given if given.startswith("/") or not work_dir else posixpath.join(work_dir, given)
            real, _ = await sandbox.resolve(full)
            kind, size = await _stat(cluster, real)
            if kind == "directory":  # a run's folder: its metric files, found as in a work dir
                targets.extend(await find_metric_files(cluster, real))
            elif "regular" in kind:
                targets.append((real, size))
            else:
                raise InvalidParameter("paths", f"{real} is a {kind}", "metric files or folders holding them")
        targets = list(dict.fromkeys(targets))[:MAX_FILES]
    else:
        real_dir, _ = await sandbox.resolve(work_dir)
        work_dir = real_dir
        targets = await find_metric_files(cluster, real_dir)
    files: list[MetricFile] = []
    found: list[Series] = []
    for path, size in targets:
        info, series = await _read(cluster, path, size, max_bytes)
        files.append(info)
        found.extend(series)
    found = _unique_names(found, work_dir)
    chosen = select(found, pattern)
    summaries = [summarise(s, max_points) for s in chosen[:MAX_SERIES] if s.values]
    notes = []
    if not targets:
        notes.append(f"no metric files under {work_dir} (events.out.tfevents.*, *metric*/*log*/*train*... "
                     ".jsonl/.csv, depth {FIND_DEPTH}); pass paths to read others")
    if len(chosen) > MAX_SERIES:
        notes.append(f"{MAX_SERIES} of {len(chosen)} series shown; narrow with series=")
    if pattern and not chosen and found:
        notes.append(f"no series matches {pattern!r}")
    return JobMetrics(jid, work_dir, files, summaries, len(chosen), "; ".join(notes), [s.name for s in found])
