"""Issue 25 on PBS: JSON that is not JSON (kind 6), free text in qstat fields (kind 4), job id forms (kind 5).

The reported files are in ../shared/fixtures/reported (right values in its README). The other examples are
written here from what OpenPBS's own code prints (libutil pbs_json.c add_json_node/strdup_escape for
`-F json`; qstat.c prt_attr for the text form), each with the value the user gave beside it."""

from __future__ import annotations

import json

import pytest

from hpcbridge.backends.pbs import PbsBackend
from hpcbridge.backends.pbs import ids as pbs_ids
from hpcbridge.backends.pbs import jsonfix as pbs_json
from hpcbridge.backends.pbs import parse as pbs
from hpcbridge.errors import InvalidParameter, SchedulerError
from hpcbridge.models import JobState

from ..conftest import shared_fixtures
from .test_pbs_backend import Replay


def _reported(name: str) -> str:
    return (shared_fixtures("reported") / name).read_text()


def _job(variables: str, name: str = "envtest", job_id: str = "7.pbs1") -> str:
    """One job as OpenPBS 19-23 prints it: `"key":value` pairs, 4 blanks per level, values as given."""
    return ('{\n    "timestamp":1740820000,\n    "pbs_version":"20.0.1",\n    "pbs_server":"pbs1",\n    "Jobs":{\n'
            f'        "{job_id}":{{\n            "Job_Name":"{name}",\n            "Job_Owner":"alice@login1",\n'
            '            "job_state":"Q",\n            "queue":"workq",\n            "Variable_List":{\n'
            f'                "PBS_O_WORKDIR":"/home/alice/run",\n{variables}\n            }}\n        }}\n    }}\n}}\n')


# --- kind 6: JSON that is not JSON ------------------------------------------------------------------------

def test_reported_bare_numbers() -> None:
    (job,) = pbs.parse_jobs_json(_reported("qstat-f-F-json-bare-numbers.json"))
    assert job.job.job_id == "1201.pbs1" and job.job.name == "envtest" and job.job.state is JobState.PENDING
    # the right values: the job's own Submit_arguments, `-v A1=.5,A2=7.,A3=00,A4=-00.25,A5=0042`
    assert "A1=.5,A2=7.,A3=00,A4=-00.25,A5=0042" in job.raw["Variable_List"]
    assert job.work_dir == "/home/alice/run" and job.job.num_cpus == 1


def test_reported_json_answered_as_text() -> None:
    jobs = pbs.parse_jobs_json(_reported("qstat-f-t-F-json-answered-as-text.txt"))
    assert [(d.job.job_id, d.job.native_state, d.job.array_job_id) for d in jobs] == \
        [("1300[].pbs1", "B", None), ("1300[1].pbs1", "R", "1300[].pbs1")]
    assert jobs[1].job.node_list == "node01" and jobs[1].job.user == "alice"


@pytest.mark.parametrize(("printed", "given"), [
    # strtod() reads these whole, so pbs_json.c prints them bare; some are valid JSON numbers whose text
    # json.loads would change (1e5 -> 100000.0, -0 -> 0): the value is the text the user gave (`-v`)
    ('"X":1e5', "1e5"), ('"X":-0', "-0"), ('"X":inf', "inf"), ('"X":NaN', "NaN"), ('"X":0x1A', "0x1A"),
    ('"X":+5', "+5"), ('"X":1.2.3', "1.2.3"), ('"X":1.50', "1.50"),
    # strdup_escape (JSON_ESCAPE) copies a backslash with the character after it
    ('"X":"C:\\data\\x64"', "C:\\data\\x64"),
    # ... and a value that ends in a backslash prints \" at the end of its line
    ('"X":"dir\\"', "dir\\"),
    # control characters other than \b \f \n \r \t are written raw: a prompt exported with qsub -V
    ('"X":"\x1b[1;32m\\u@\\h\x1b[0m$ "', "\x1b[1;32m\\u@\\h\x1b[0m$ "),
    ('"X":"tab\\there\x01"', "tab\there\x01"),
])
def test_values_pbs_prints_outside_json(printed: str, given: str) -> None:
    # the value goes where a user sees it: PBS_O_WORKDIR is the job's work dir
    printed = printed.replace('"X"', '"PBS_O_WORKDIR"')
    text = _job(f"                {printed},\n                \"Y\":\"after\"").replace(
        '                "PBS_O_WORKDIR":"/home/alice/run",\n', "")
    (job,) = pbs.parse_jobs_json(text)
    assert job.work_dir == given and job.raw["Variable_List"].endswith(",Y=after")


def test_one_broken_job_costs_only_itself() -> None:
    good = json.loads(_job('                "A":"1"'))["Jobs"]["7.pbs1"]
    broken = _job('                "A":"1"', job_id="8.pbs1").replace('"Job_Name":"envtest"', '"Job_Name":"cut')
    # three jobs, the middle one cut inside its name (a raw newline never occurs inside a PBS string)
    lines = broken.split("\n")
    body = "\n".join(lines[5:16])
    first = json.dumps(good, indent=4).replace('": ', '":').replace("\n", "\n        ")
    third = first.replace("envtest", "third")
    text = (lines[0] + "\n" + "\n".join(lines[1:5]) + '\n        "7.pbs1":' + first + ",\n" + body + ',\n'
            '        "9.pbs1":' + third + "\n    }\n}\n")
    jobs = {d.job.job_id: d for d in pbs.parse_jobs_json(text)}
    assert list(jobs) == ["7.pbs1", "8.pbs1", "9.pbs1"]
    assert jobs["7.pbs1"].job.name == "envtest" and jobs["9.pbs1"].job.name == "third"
    cut = jobs["8.pbs1"]
    assert "could not be read" in cut.job.reason and cut.job.state is JobState.PENDING and cut.job.user == "alice"


def test_nodes_and_queues_read_past_the_same_faults() -> None:
    nodes = ('{\n    "pbs_version":"22.05.11",\n    "nodes":{\n        "gpu1":{\n            "Mom":"gpu1",\n'
             '            "state":"free",\n            "comment":"bad dimm \\d3\x07",\n            "resources_available":{\n'
             '                "ncpus":64,\n                "ngpus":4,\n                "site_tag":0042\n            }\n'
             '        },\n        "gpu2":{\n            "state":"offline",\n            "comment":"cut\n    }\n}\n')
    read = {n.name: n for n in pbs.parse_nodes(nodes)}
    assert read["gpu1"].reason == "bad dimm \\d3\x07" and read["gpu1"].cpus_total == 64
    assert read["gpu2"].state == "DOWN"  # unreadable as a whole: its state line was read
    queues = ('{\n    "Queue":{\n        "workq":{\n            "queue_type":"Execution",\n            '
              '"comment":"C:\\scratch",\n            "resources_max":{\n                "walltime":"24:00:00"\n'
              '            },\n            "enabled":"True",\n            "started":"True"\n        }\n    }\n}\n')
    (workq,) = pbs.parse_queues(queues)
    assert workq.name == "workq" and workq.max_time_minutes == 1440 and workq.state == "UP"


def test_output_that_is_neither_form_is_a_clear_error() -> None:
    with pytest.raises(SchedulerError, match="qstat -f -F json answered neither"):
        pbs.parse_jobs_json("qstat: illegal -F value\nusage: ...\n")
    assert pbs.parse_jobs_json("") == []
    with pytest.raises(pbs_json.BadJson):
        pbs_json.section("{ this is not json at all", "Jobs")


async def test_service_asks_again_in_text_form_when_json_is_beyond_repair() -> None:
    replay = Replay(shared_fixtures("pbs"))
    replay.answers[("qstat", "-f", "-t", "-F", "json")] = ('{"Jobs": [[[ cut', "", 0)
    replay.answers[("qstat", "-f", "-t")] = (_reported("qstat-f-t-F-json-answered-as-text.txt"), "", 0)
    jobs = await PbsBackend(replay.run, replay.write, "pbspro").jobs()
    assert [j.job_id for j in jobs] == ["1300[1].pbs1"]  # the array's subjob, as squeue lists tasks
    assert ["qstat", "-f", "-t"] in [argv for argv, _ in replay.sent]


# --- kind 4: free text in qstat -f text ----------------------------------------------------------------

def test_free_text_in_the_text_form() -> None:
    # Variable_List of `qsub -V` with the environment-modules shell function bash exports: its newline is
    # printed raw by prt_attr, a comma inside a value escaped by qsub; Job_Name with blanks, '=' and UTF-8
    text = ("Job Id: 42.pbs1\n    Job_Name = train lr=0.1 bs=64 é \n    Job_Owner = alice@login1\n"
            "    job_state = R\n    queue = workq\n    comment = Job run at Mon = yes | no\n"
            "    Variable_List = PBS_O_HOME=/home/alice,BASH_FUNC_module%%=() {  eval `/usr/bin/modulecmd bash $*`\n"
            "},PBS_O_WORKDIR=/home/alice/my run\\, take 2,PBS_O_SYSTEM=Linux,PBS_O_PATH=/usr/bin:/bin:/usr/local/\n"
            "\tbin\n\nJob Id: 43.pbs1\n    Job_Name = second\n    job_state = Q\n")
    first, second = pbs.parse_jobs_text(text)
    assert first.job.name == "train lr=0.1 bs=64 é " and first.job.reason == "Job run at Mon = yes | no"
    env = pbs.variables(first.raw["Variable_List"])
    assert env["BASH_FUNC_module%%"] == "() {  eval `/usr/bin/modulecmd bash $*`\n}"
    assert first.work_dir == "/home/alice/my run, take 2" and env["PBS_O_PATH"] == "/usr/bin:/bin:/usr/local/bin"
    assert second.job.job_id == "43.pbs1" and second.job.name == "second"


def test_json_free_text_keeps_every_character() -> None:
    name = "a\tb\nc = d | e, f 'g' \"h\" ü "
    text = json.dumps({"Jobs": {"5.s": {"Job_Name": name, "job_state": "R", "Job_Owner": "a@h",
                                        "Variable_List": {"PBS_O_WORKDIR": "/w/x,y=z 'q'"}}}})
    (job,) = pbs.parse_jobs_json(text)
    assert job.job.name == name and job.work_dir == "/w/x,y=z 'q'"


# --- kind 5: job id forms ----------------------------------------------------------------------------

@pytest.mark.parametrize(("pasted", "taken"), [
    (" 123.pbs1 ", "123.pbs1"), ("123[].pbs1", "123[].pbs1"), ("123[4].pbs1.example.org", "123[4].pbs1.example.org"),
    # the default `qstat` of PBS Pro 2022 cuts ids to its column with '*' (the Aurora fixture's listing)
    ("6617175.aurora-*", "6617175"), ("8[1].aurora-p*", "8[1]"), ("5.pbs1@pbs2", "5.pbs1@pbs2"),
])
def test_pasted_pbs_ids_are_taken(pasted: str, taken: str) -> None:
    assert PbsBackend.job_id(pasted) == taken


@pytest.mark.parametrize("bad", ["5@-x", "123.pbs;rm", "5.a*b", "12[x].pbs", "5 6"])
def test_bad_pbs_ids_are_refused(bad: str) -> None:
    with pytest.raises(InvalidParameter, match="job_id"):
        PbsBackend.job_id(bad)


def test_a_pasted_id_finds_the_listed_one() -> None:
    assert pbs_ids.same_job("123", "123.pbs1.example.org") and pbs_ids.same_job("123.pbs1", "123.pbs1.example.org")
    assert pbs_ids.same_job("123[4]", "123[4].pbs1") and not pbs_ids.same_job("123[4]", "123[].pbs1")
    assert not pbs_ids.same_job("123.pbs2", "123.pbs1") and not pbs_ids.same_job("12", "123.pbs1")


async def test_details_of_a_long_id_pasted_short() -> None:
    replay = Replay(shared_fixtures("pbs"))
    text = _job('                "A":"1"', job_id="77.pbs1.example.org")
    replay.answers[("qstat", "-f", "-x", "-F", "json", "77.pbs1")] = (text, "", 0)
    found = await PbsBackend(replay.run, replay.write, "pbspro").job("77.pbs1")
    assert found is not None and found.job.job_id == "77.pbs1.example.org"
