"""Property tests over the pure Slurm parsers (issue 25): random field values never crash a parser, never
invent or drop a job, and come back exactly where the format can carry them (see slurm_records for the
forms that stay ambiguous; the strategies below leave out exactly those)."""

from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from hpcbridge.schedulers import gres, slurm_json, slurm_text
from hpcbridge.schedulers.slurm_records import KNOWN_KEYS, RS, SEP, parse_kv_record

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
