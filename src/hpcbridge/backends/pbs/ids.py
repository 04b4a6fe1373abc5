"""PBS job id forms: the one hpcbridge answers with, and the ones a user may paste (pure).

    123.server            a job, as qstat -f prints it (the server's name as configured: short or long)
    123.server.domain     the same job; qdel, qhold, qrls and qstat take either form, and a bare 123 for
                          the default server
    123[].server          an array job: qdel, qhold, qrls and qstat act on the whole array
    123[4].server         one subjob (qstat -t lists them so): qdel and qstat take it
    123[1-9:2].server     a range of subjobs (qdel)
    123                   Torque-style wrappers print short ids
    123.server@other      routed to another server: every command takes `id@server`
hpcbridge answers with the id as qstat -f printed it, which every command takes. Pasted forms taken besides:
blanks around the id, and an id the default `qstat` listing cut to its column with '*' (`6617175.aurora-*`,
PBS Pro 2022): the cut server name is dropped, the number is the job on the default server.
"""

from __future__ import annotations

import re

# 1234[7].server, whose array (parent) is 1234[].server
_SUBJOB = re.compile(r"^(\d+)\[(\d+)\](.*)$")
_CUT = re.compile(r"^([0-9]+(?:\[[0-9]*\])?)\.[^\s*]*\*$")


def pasted(value: str) -> str:
    """A pasted id in the form the commands take (see the module's docstring)."""
    text = value.strip()
    cut = _CUT.match(text)
    return cut.group(1) if cut else text


def short(job_id: str) -> str:
    """'1004[3]' of '1004[3].pbs1.example.org' (and of '1004[3]@pbs1')."""
    return re.split(r"[.@]", job_id, maxsplit=1)[0]


def server(job_id: str) -> str:
    head, _, rest = job_id.partition("@")
    return head.partition(".")[2] or rest


def same_job(wanted: str, listed: str) -> bool:
    """Whether a pasted id names a listed one: the same number (and subjob), and servers that agree where
    both are given (`pbs1` is `pbs1.example.org`: PBS prints the name as configured)."""
    if short(wanted) != short(listed):
        return False
    mine, theirs = server(wanted), server(listed)
    return not mine or not theirs or mine == theirs or theirs.startswith(mine + ".") or mine.startswith(theirs + ".")


def array_parent(job_id: str) -> str | None:
    m = _SUBJOB.match(job_id)
    return f"{m.group(1)}[]{m.group(3)}" if m else None


def subjob_index(job_id: str) -> str | None:
    m = _SUBJOB.match(job_id)
    return m.group(2) if m else None
