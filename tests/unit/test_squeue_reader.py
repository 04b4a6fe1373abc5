"""backends/slurm/squeue.py: the quick framing of squeue's pinned output gives the careful reader's records
on any text, and SqueueReader builds a Job only for a row not seen in the last two outputs, with the same
jobs as parse_squeue."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hpcbridge.backends.slurm import squeue
from hpcbridge.backends.slurm import text as slurm_text
from hpcbridge.backends.slurm.records import RS, SEP, split_sep_records

WIDTH = len(slurm_text.SQUEUE_KEYS)


def _row(job_id: str, name: str = "train", state: str = "PENDING", reason: str = "JobHeldUser",
         time_used: str = "0:00") -> str:
    values = dict.fromkeys(slurm_text.SQUEUE_KEYS, "N/A") | {
        "job_id": job_id, "array_job_id": job_id.split("_")[0], "array_task_id": job_id.partition("_")[2] or "N/A",
        "state": state, "reason": reason, "name": name, "num_nodes": "1", "time_used": time_used,
        "tres_alloc": "cpu=1,mem=500M,node=1,billing=1"}
    return SEP.join(values[k] for k in slurm_text.SQUEUE_KEYS) + RS + "\n"


def _careful(text: str) -> list[str]:
    return [SEP.join(f) for f in split_sep_records(text, WIDTH, RS + "\n")]


# Pieces of an output: whole rows (names with the framing's own characters too), and what breaks the quick
# framing: a stray line, a row cut short, a bare terminator, a newline at the end.
_NAME = st.text(st.sampled_from(["a", " ", "\n", "9", SEP, RS, "é", "_"]), max_size=8)
_PIECE = st.one_of(
    st.builds(lambda i, n: _row(str(i), n), st.integers(1, 99), _NAME),
    st.builds(lambda i, n: _row(str(i), n).removesuffix(RS + "\n"), st.integers(1, 99), _NAME),
    st.sampled_from(["squeue: error: x\n", "12" + SEP + "3\n", RS + "\n", "\n", "7" + SEP]),
)


@settings(max_examples=500)
@given(st.lists(_PIECE, max_size=6))
def test_quick_framing_is_the_careful_readers(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert squeue.records(text, WIDTH) == _careful(text)


def test_quick_framing_taken_when_nothing_is_odd_and_not_otherwise() -> None:
    plain = _row("5_1") + _row("5_2")
    assert squeue.records(plain, WIDTH) == [plain.split(RS + "\n")[0], plain.split(RS + "\n")[1]]
    odd = _row("6", name=f"x{RS}\nnot a record") + _row("7")
    assert [r.split(SEP)[0] for r in squeue.records(odd, WIDTH)] == ["6", "7"]
    assert squeue.records(odd, WIDTH)[0].endswith(f"x{RS}\nnot a record")


def test_reader_parses_a_row_once_across_polls() -> None:
    reader = slurm_text.squeue_reader()
    first = "".join(_row(f"9_{i}") for i in range(1000)) + _row("10", state="RUNNING", reason="None")
    assert reader.read(first) == slurm_text.parse_squeue(first) and reader.parsed == 1001
    # the next poll: the array unchanged, the running job's time moved on, a new job
    second = "".join(_row(f"9_{i}") for i in range(1000)) + _row("10", state="RUNNING", reason="None",
                                                                    time_used="0:05") + _row("11")
    jobs = reader.read(second)
    assert jobs == slurm_text.parse_squeue(second) and reader.parsed == 1003
    assert jobs[-2].time_used == "0:05" and jobs[-1].job_id == "11"


def test_reader_remembers_two_outputs_only() -> None:
    reader = slurm_text.squeue_reader()
    mine, everyone, other = _row("1"), _row("1") + _row("2"), _row("3")
    for text in (everyone, mine, everyone):  # list_jobs' and the watcher's squeue, alternating
        reader.read(text)
    assert reader.parsed == 2
    reader.read(other)
    reader.read(other)
    reader.read(mine)  # neither of the last two outputs held it: parsed again
    assert reader.parsed == 4


def test_reader_reads_what_parse_squeue_reads() -> None:
    odd = "squeue: error: early\n" + _row("1", name=f"a\n9{SEP}b{RS}\nc {SEP} é ") + _row("2", name="plain")
    reader = slurm_text.squeue_reader()
    assert reader.read(odd) == slurm_text.parse_squeue(odd) == reader.read(odd)
    assert [j.name for j in reader.read(odd)] == [f"a\n9{SEP}b{RS}\nc {SEP} é ", "plain"]
