"""Property tests over the pure Slurm parsers (issue 25): random field values never crash a parser, never
invent or drop a job, and come back exactly where the format can carry them (see slurm_records for the
forms that stay ambiguous; the strategies below leave out exactly those)."""

from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from hpcbridge.backends.pbs import parse as pbs
from hpcbridge.backends.pbs.jsonfix import BadJson
from hpcbridge.backends.slurm import gres
from hpcbridge.backends.slurm import jsonout as slurm_json
from hpcbridge.backends.slurm import text as slurm_text
from hpcbridge.backends.slurm.records import KNOWN_KEYS, RS, SEP, parse_kv_record
from hpcbridge.errors import SchedulerError

_ANY = st.text(st.characters(exclude_characters="\x00"), max_size=40)
# The one ambiguous form of a last field: terminator + newline + something that starts a record.
_AMBIGUOUS_END = re.compile(rf"{RS}?\n[0-9]")
_LAST = _ANY.filter(lambda s: not _AMBIGUOUS_END.search(s) and not s.endswith(RS))
_FREE = _ANY.filter(lambda s: SEP not in s)  # free text before the last field: anything but the separator
_WORD = st.text("abcdefghijklmnopqrstuvwxyz0123456789_:=/,.()-", max_size=20)
_ID = st.integers(1, 10**9).map(str)


def _squeue(rows: list[tuple[str, str, str]]) -> str:
    keys = [k for k, _ in slurm_text.SQUEUE_FIELDS]
    out = []
    for job_id, tres, name in rows:
        values = dict.fromkeys(keys, "N/A") | {"job_id": job_id, "tres_alloc": tres, "name": name,
                                               "state": "RUNNING", "num_nodes": "1"}
        out.append(SEP.join(values[k] for k in keys) + RS + "\n")
    return "".join(out)


@settings(max_examples=300)
@given(st.lists(st.tuples(_ID, _WORD, _LAST), max_size=6))
def test_squeue_round_trips_names_and_keeps_every_job(rows: list[tuple[str, str, str]]) -> None:
    jobs = slurm_text.parse_squeue(_squeue(rows))
    assert [(j.job_id, j.name) for j in jobs] == [(r[0], r[2]) for r in rows]


@settings(max_examples=300)
@given(st.lists(st.tuples(_ID, _FREE, _FREE, _LAST), max_size=6, unique_by=lambda r: r[0]))
def test_sacct_round_trips_free_text(rows: list[tuple[str, str, str, str]]) -> None:
    fields = slurm_text.SACCT_FIELDS
    lines = [SEP.join(fields)]
    for job_id, work_dir, comment, name in rows:
        values = dict.fromkeys(fields, "") | {"JobID": job_id, "State": "COMPLETED", "WorkDir": work_dir,
                                               "Comment": comment, "JobName": name}
        lines.append(SEP.join(values[f] for f in fields))
    records = slurm_text.parse_sacct("\n".join(lines) + "\n")
    # ids are unique: sacct prints a job once (without --duplicates), and a repeated id is the same job
    assert [(r.job_id, r.work_dir, r.comment, r.name) for r in records] == rows


_NAME_IN_SCONTROL = _ANY.filter(
    lambda s: "\n" not in s and s == s.strip(" ") and s != ""
    and not any(f" {k}=" in f" {s}" for k in KNOWN_KEYS | {"JobName"}))


@settings(max_examples=300)
@given(_NAME_IN_SCONTROL, _WORD)
def test_scontrol_job_name_is_one_value(name: str, comment: str) -> None:
    text = f"JobId=5 JobName={name} UserId=alice(1001) Comment={comment} StdErr=/x\n"
    rec = parse_kv_record(text)
    assert rec["JobName"] == name and rec["UserId"] == "alice(1001)" and rec["JobId"] == "5"
    assert len(slurm_text.parse_jobs_detail(text)) == 1


@given(_ANY)
def test_no_parser_crashes_on_any_text(text: str) -> None:
    for parse in (slurm_text.parse_squeue, slurm_text.parse_sacct, slurm_text.parse_nodes,
                  slurm_text.parse_partitions, slurm_text.parse_jobs_detail):
        parse(text)
    assert all(g.count > 0 for g in gres.parse_gpus(text))
    parse_kv_record(text)


@given(st.lists(st.tuples(st.integers(1, 10**9), _ANY, _ANY, st.integers(0, 64)), max_size=5))
def test_json_jobs_round_trip(rows: list[tuple[int, str, str, int]]) -> None:
    text = json.dumps({"jobs": [{"job_id": i, "name": n, "comment": c, "tres_alloc_str": f"cpu=1,gres/gpu={g}",
                                 "node_count": 1} for i, n, c, g in rows]})
    jobs = slurm_json.parse_jobs(text)
    assert [(d.job.job_id, d.job.name, d.comment, gres.total(d.job.gpus)) for d in jobs] == \
        [(str(i), n, c, g) for i, n, c, g in rows]


# --- PBS (issue 25, kinds 4 and 6) ------------------------------------------------------------------------
# Outputs are printed here as OpenPBS prints them: `-F json` by libutil pbs_json.c (add_json_node with
# JSON_NULL: a value strtod() reads whole goes out bare; strdup_escape with JSON_ESCAPE), the text form by
# qstat.c prt_attr (strtok on ',', wrapped with newline + TAB past column 78). The strategies leave out the
# forms pbs_json and pbs._records name as ambiguous.

_STRTOD = re.compile(r"\s*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*"
                     r"|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?|(?i:inf(?:inity)?|nan(?:\([0-9A-Za-z_]*\))?))\s*")
_PBS_CHARS = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))
_PBS_TEXT = st.text(st.one_of(st.sampled_from('\\",\'=| \t\n.-0123456789e:{}[]éü学'), _PBS_CHARS), max_size=30)
_NUMBERISH = st.from_regex(r"\A[+-]?(?:[0-9]{0,4}\.?[0-9]{0,3}(?:e[0-9])?|0x1A|inf|nan)\Z")


def _json_ambiguous(value: str) -> bool:
    return bool(re.search(r"\\[\\\"/bfnrtu',]", value) or re.match(r'"[ \t]*(?:[,:\]}]|$)', value)
                or (_STRTOD.fullmatch(value) and value != value.strip()))


def _bare(value: str, zero_check: bool) -> bool:
    """add_json_node: strtod reads it whole (newer versions: not with a leading 0 unless below 1)."""
    if not value.strip() or not _STRTOD.fullmatch(value):
        return False
    if not zero_check or not value.startswith("0"):
        return True
    try:
        return float(value) < 1
    except ValueError:
        return False


def _pbs_escape(value: str) -> str:
    """strdup_escape(JSON_ESCAPE, value)."""
    out, i = [], 0
    controls = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    while i < len(value):
        char = value[i]
        if char in controls:
            out.append(controls[char])
        elif char == '"':
            out.append('\\"' if i > 0 and value[i - 1] != "\\" else '"')
        elif char == "\\":
            nxt = value[i + 1:i + 2]
            out.append(nxt if nxt in ("'", ",") else "\\" + nxt)
            i += 1 if nxt else 0
        else:
            out.append(char)
        i += 1
    return "".join(out)


def _pbs_value(value: str, zero_check: bool) -> str:
    return value if _bare(value, zero_check) else f'"{_pbs_escape(value)}"'


def _pbs_json(jobs: list[tuple[str, str, str]], zero_check: bool) -> str:
    out = ['{\n    "timestamp":1,\n    "pbs_version":"20.0.1",\n    "Jobs":{']
    for n, (job_id, name, work_dir) in enumerate(jobs):
        out.append(f'{"," if n else ""}\n        "{job_id}":{{\n            "Job_Name":{_pbs_value(name, zero_check)},\n'
                   '            "job_state":"R",\n            "Variable_List":{\n                "PBS_O_WORKDIR":'
                   f'{_pbs_value(work_dir, zero_check)},\n                "PBS_O_HOME":"/home/a"\n            }}\n        }}')
    return "".join(out) + "\n    }\n}\n"


_IN_JSON = st.one_of(_PBS_TEXT, _NUMBERISH).filter(lambda v: not _json_ambiguous(v))


@settings(max_examples=300)
@given(st.lists(st.tuples(_IN_JSON, _IN_JSON), max_size=5), st.booleans())
def test_pbs_json_as_printed_round_trips(rows: list[tuple[str, str]], zero_check: bool) -> None:
    jobs = [(f"{i + 1}[{i}].pbs1" if i % 2 else f"{i + 1}.pbs1", name, work_dir) for i, (name, work_dir) in enumerate(rows)]
    details = pbs.parse_jobs_json(_pbs_json(jobs, zero_check))
    assert [(d.job.job_id, d.job.name, d.work_dir) for d in details] == jobs


def _prt_attr(name: str, value: str) -> str:
    """qstat.c prt_attr: the value's comma-separated items, a long one broken with newline + TAB."""
    out, start, first = [f"    {name} = "], len(name) + 7, True
    items = [c for c in value.split(",") if c]  # strtok skips empty items
    for n, item in enumerate(items):
        if len(item) + start < 78:
            out.append(item)
            start += len(item)
        else:
            if not first:
                out.append("\n\t")
                start = 9
            for char in item:
                out.append(char)
                start += 1
                if start > 78:
                    start = 8
                    out.append("\n\t")
        if n + 1 < len(items):
            first = False
            out.append(",")
    return "".join(out) + "\n"


def _text_ambiguous(value: str) -> bool:
    return bool(",," in value or value.startswith(",") or value.endswith((",", "\n"))
                or re.search(r"\n(?:\t| {8}|    [A-Za-z_][\w.\-]* =(?: |$)|Job Id:)", value, re.MULTILINE))


# long enough to be wrapped (past column 78), with newlines and commas where prt_attr breaks lines
_PIECES = st.sampled_from(["run", "lr=0.1", " ", "\n", ",", "é学", "|", "/scratch/a b", "\t", "x = y", "\\"])
_IN_TEXT = st.lists(st.one_of(_PIECES, st.text(_PBS_CHARS, max_size=4)), max_size=40).map("".join).filter(
    lambda v: not _text_ambiguous(v))
_LONG_TEXT = st.lists(st.one_of(_PIECES, st.text(_PBS_CHARS, min_size=2, max_size=8)), min_size=25, max_size=50).map(
    "".join).filter(lambda v: not _text_ambiguous(v))
_WORK_DIR = _IN_TEXT.filter(lambda v: not re.search(r"\\(?:[,'\"]|$)", v))


@settings(max_examples=300)
@given(st.lists(st.tuples(_IN_TEXT, _LONG_TEXT, _WORK_DIR), max_size=5))
def test_pbs_text_as_printed_round_trips(rows: list[tuple[str, str, str]]) -> None:
    text, jobs = "", []
    for i, (name, comment, work_dir) in enumerate(rows):
        job_id = f"{i + 1}.pbs1"
        escaped = re.sub(r"[,'\"]", lambda m: "\\" + m.group(), work_dir)  # qsub's escape inside -v values
        text += (f"Job Id: {job_id}\n" + _prt_attr("Job_Name", name) + "    job_state = Q\n"
                 + _prt_attr("comment", comment) + _prt_attr("Variable_List", f"PBS_O_WORKDIR={escaped},PBS_O_HOME=/h")
                 + "\n")
        jobs.append((job_id, name, comment, work_dir))
    details = pbs.parse_jobs_text(text)
    assert [(d.job.job_id, d.job.name, d.reason_explained, d.work_dir) for d in details] == jobs


@given(_ANY)
def test_no_pbs_parser_crashes_on_any_text(text: str) -> None:
    for parse in (pbs.parse_jobs_json, pbs.parse_nodes, pbs.parse_queues):
        try:
            parse(text)
            parse("{\n" + text)
        except (SchedulerError, BadJson):
            pass  # a clear error naming the command; the service asks again in the text form on BadJson
    pbs.parse_jobs_text(text)
    assert len(pbs.parse_jobs_text(f"Job Id: 1.s\n    Job_Name = {text}\n    job_state = R\n")) == 1
