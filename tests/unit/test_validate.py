from __future__ import annotations

import pytest

from hpcbridge import validate
from hpcbridge.errors import InvalidParameter

HOSTILE = [
    "x'; touch /tmp/pwned; '", 'a"b', "$(touch /tmp/pwned)", "`touch /tmp/pwned`", "a;b", "a\nb",
    "a\rb", "--all", "-x", "a b", "a|b", "a&b", "a>b", "../etc", "a\x00b", "",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_names_refuse_hostile_values_and_say_the_valid_form(value: str) -> None:
    with pytest.raises(InvalidParameter) as err:
        validate.name("partition", value)
    assert "partition" in str(err.value) and "expected" in str(err.value)


@pytest.mark.parametrize("value", [v for v in HOSTILE if v not in ("a b", "../etc")])
def test_directive_text_refuses_what_the_scheduler_would_reinterpret(value: str) -> None:
    with pytest.raises(InvalidParameter):
        validate.directive_text("job_name", value)


@pytest.mark.parametrize("value", ["train run", "exp-1.2_b", "logs/out-%j.txt", "/home/a b/out"])
def test_directive_text_keeps_ordinary_text(value: str) -> None:
    assert validate.directive_text("job_name", value) == value


@pytest.mark.parametrize(
    ("value", "minutes"),
    [("30", 30), ("4:00:00", 240), ("1-00:00:00", 1440), ("1-12", 2160), ("2-03:04", 2 * 1440 + 184),
     ("10:30", 11), ("0:00:30", 1), ("24:00:00", 1440)],
)
def test_walltime_forms(value: str, minutes: int) -> None:
    assert validate.walltime_minutes("time_limit", value) == minutes


@pytest.mark.parametrize("value", ["abc", "1:2:3:4", "-5", "0", "4h", "1-"])
def test_walltime_refused(value: str) -> None:
    with pytest.raises(InvalidParameter, match="time_limit"):
        validate.walltime_minutes("time_limit", value)


@pytest.mark.parametrize(("value", "mb"), [("4G", 4096), ("4000M", 4000), ("512", 512), ("1.5T", 1572864),
                                           ("16GB", 16384), ("2g", 2048)])
def test_memory_forms(value: str, mb: int) -> None:
    assert validate.memory_mb("memory", value) == mb


@pytest.mark.parametrize("value", ["1234", "1234_7", "1234.0", "1234_[1-3]", "1234.batch"])
def test_job_ids_accepted(value: str) -> None:
    assert validate.job_id(value) == value


@pytest.mark.parametrize("value", ["12a", "-1", "1;2", "1 2", "$(id)", "", "1234_"])
def test_job_ids_refused(value: str) -> None:
    with pytest.raises(InvalidParameter, match="job_id"):
        validate.job_id(value)


def test_dependency_array_signal() -> None:
    assert validate.dependency("afterok:12:13") == "afterok:12:13"
    assert validate.dependency("afterany:5,afterok:6") == "afterany:5,afterok:6"
    assert validate.array_spec("0-9999%50") == "0-9999%50"
    assert validate.signal_name("sigusr1") == "USR1"
    for bad in ("afterok:x", "afterok:1;id", "after"):
        with pytest.raises(InvalidParameter, match="dependency"):
            validate.dependency(bad)
    with pytest.raises(InvalidParameter, match="array"):
        validate.array_spec("0-9;id")
    with pytest.raises(InvalidParameter, match="signal"):
        validate.signal_name("TERM;id")
