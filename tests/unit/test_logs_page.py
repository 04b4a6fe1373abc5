"""The pure parts of log paging (watch/logpage.py): pages cut at line ends, grep's numbered output, JSONL."""

from __future__ import annotations

import pytest

from hpcbridge.errors import InvalidParameter
from hpcbridge.services.logs import _grep_args
from hpcbridge.watch import logpage


def test_page_ends_at_the_last_newline() -> None:
    page, note = logpage.cut_page(b"one\ntwo\nthr", 0, 100, 11, hold_partial=False)
    assert (page, note) == (b"one\ntwo\n", "")


def test_the_files_unfinished_end_is_kept_unless_following() -> None:
    assert logpage.cut_page(b"a\nend", 10, 15, 64, hold_partial=False) == (b"a\nend", "")
    page, note = logpage.cut_page(b"a\nend", 10, 15, 64, hold_partial=True)
    assert page == b"a\n" and note == ""
    page, note = logpage.cut_page(b"end", 10, 13, 64, hold_partial=True)
    assert page == b"" and "held back" in note


def test_a_line_longer_than_the_cap_is_cut_and_said() -> None:
    page, note = logpage.cut_page(b"x" * 8, 0, 100, 8, hold_partial=False)
    assert page == b"x" * 8 and "longer than max_bytes=8" in note


def test_cap_is_checked() -> None:
    with pytest.raises(InvalidParameter, match="max_bytes"):
        logpage.check_cap(logpage.MAX_PAGE + 1)


def test_grep_output_gets_the_files_line_numbers_and_offsets() -> None:
    raw = b"4-30-before\n5:40:hit one\n6-49-after\n--\n9:70:hit two\n"
    hits, after = logpage.parse_grep(raw, 100, 1000, complete=True)
    assert [(h.line, h.offset, h.match, h.text) for h in hits] == [
        (104, 1030, False, "before"), (105, 1040, True, "hit one"), (106, 1049, False, "after"),
        (109, 1070, True, "hit two")]
    assert after == 1070 + len(b"hit two") + 1


def test_grep_output_cut_by_bytes_drops_the_partial_line() -> None:
    hits, _ = logpage.parse_grep(b"1:0:whole\n2:6:parti", 0, 0, complete=False)
    assert [h.text for h in hits] == ["whole"]


def test_a_matched_line_with_colons_and_dashes_keeps_them() -> None:
    hits, _ = logpage.parse_grep(b"3:20:a:b-c--\n", 0, 0, complete=True)
    assert hits[0].text == "a:b-c--"


def test_jsonl_fields_and_bad_lines() -> None:
    raw = b'{"step": 1, "m": {"loss": 0.5}, "l": [7, 8]}\nnot json\n\n{"step": 2}\n'
    records, bad = logpage.parse_records(raw, 10, logpage.check_fields(["step", "m.loss", "l.1"]))
    assert records == [{"_line": 11, "step": 1, "m.loss": 0.5, "l.1": 8}, {"_line": 14, "step": 2}]
    assert [b.line for b in bad] == [12]


def test_bad_field_paths_are_refused_with_the_form() -> None:
    with pytest.raises(InvalidParameter, match="fields.*dotted"):
        logpage.check_fields(["a..b"])


@pytest.mark.parametrize("pattern", ["", "a\nb", "x" * 1001])
def test_bad_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(InvalidParameter, match="pattern"):
        _grep_args(pattern, False, False, 0, 10)


def test_the_pattern_is_an_argument_after_e() -> None:
    args = _grep_args("-rf /; $(x)", True, True, 2, 10)
    assert args[-2:] == ["-e", "-rf /; $(x)"]
