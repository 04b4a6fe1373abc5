"""Reading squeue's pinned output (SQUEUE_FIELDS) fast enough for a 10,000-task array, every poll.

Two savings, neither changing an answer:
- Framing: when every RS + newline of the output is followed by the start of a record (no name holds one),
  the records are simply the text split on RS + newline, done in C. Otherwise the careful reader in
  slurm_records frames them (the same records; tests/unit/test_squeue_reader.py).
- Memory: a record is a job's whole row as text, and the same text gives the same (frozen) Job. A pending
  array's tasks print the same row poll after poll, so SqueueReader builds Jobs only for rows that changed
  since the last two outputs (list_jobs' squeue and the queue watcher's `--states all` one alternate).
"""

from __future__ import annotations

from collections.abc import Callable

from ...models import Job
from .records import RS, SEP, begins_record, split_sep_records

END = RS + "\n"


def records(text: str, width: int) -> list[str]:
    """The text of each record (its `width` fields joined by SEP, without the terminator)."""
    chunks = text.split(END)
    if chunks[-1] == "":
        chunks.pop()  # the output ends with a terminator, as squeue writes it
    else:
        chunks[-1] = chunks[-1].removesuffix("\n")  # the last record without its terminator
    # Every chunk a whole record: then each terminator was followed by a record (or the end), which is where
    # the careful reader ends a record too. Anything else (a name holding RS + newline, a stray line): it frames.
    if all(begins_record(c) and c.count(SEP) >= width - 1 for c in chunks):
        return chunks
    return [SEP.join(fields) for fields in split_sep_records(text, width, END)]


class SqueueReader:
    """parse(record) for each record, remembered across the last two outputs (Job is frozen: one object may
    serve several snapshots). Memory: at most the Jobs of two outputs, which the caches hold anyway."""

    def __init__(self, width: int, parse: Callable[[str], Job]) -> None:
        self.width = width
        self.parse = parse
        self._new: dict[str, Job] = {}
        self._old: dict[str, Job] = {}
        self.parsed = 0  # records built (not remembered) so far: for tests

    def read(self, text: str) -> list[Job]:
        seen: dict[str, Job] = {}
        jobs: list[Job] = []
        new, old = self._new, self._old
        for record in records(text, self.width):
            job = seen.get(record) or new.get(record) or old.get(record)
            if job is None:
                job = self.parse(record)
                self.parsed += 1
            seen[record] = job
            jobs.append(job)
        self._old, self._new = new, seen
        return jobs
