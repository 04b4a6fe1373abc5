"""Issue 25, kind 4 on OpenPBS: non-ASCII text comes back from qstat's '^' notation (backends/pbs/nonprint.py).

The recorded files are the test cluster's OpenPBS 23.06.06 answering for a held job submitted by plain qsub from
the directory "/home/alice/h25rec é ß 日本 — x" with `-v "H25V=lr=0.1 |bs=64<TAB>col<NEWLINE>ü€😀 ^A^é end"`:
those two strings are the right values. The '—' (E2 80 94) is printed as '^' '"' '^' 0xC0 '^' 0xD4: a raw
quote inside a JSON string, which only reading the bytes first can tell from the string's end.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from hpcbridge.backends.pbs import parse
from hpcbridge.backends.pbs.nonprint import unprinted

DATA = Path(__file__).resolve().parents[1] / "data" / "openpbs-23.06"
WORK_DIR = "/home/alice/h25rec é ß 日本 — x"
VALUE = "lr=0.1 |bs=64\tcol\nü€😀 ^A^é end"


def show_nonprint_chars(text: str) -> bytes:
    """What OpenPBS prints for a value (misc_utils.c: a byte whose signed char is < 32, but tab and newline,
    as '^' and the byte + 64)."""
    out = bytearray()
    for byte in text.encode():
        signed = byte - 256 if byte > 127 else byte
        out += bytes((ord("^"), (byte + 64) & 0xFF)) if signed < 32 and byte not in (9, 10) else bytes((byte,))
    return bytes(out)


def test_recorded_json_answer_reads_the_work_dir_and_the_value_exactly() -> None:
    raw = (DATA / "qstat-f-F-json-non-ascii.json").read_bytes()
    assert WORK_DIR.encode() not in raw and b'^"^\xc0^\xd4' in raw  # as printed: not UTF-8, a bare quote
    [job] = parse.parse_jobs_json(unprinted(raw))
    assert job.work_dir == WORK_DIR
    assert parse.variables(job.raw["Variable_List"])["H25V"] == VALUE
    assert job.job.name == "h25rec"


def test_recorded_text_answer_reads_the_work_dir_and_the_value_exactly() -> None:
    [job] = parse.parse_jobs_text(unprinted((DATA / "qstat-f-text-non-ascii.txt").read_bytes()))
    assert job.work_dir == WORK_DIR
    assert parse.variables(job.raw["Variable_List"])["H25V"] == VALUE


def test_a_value_wrapped_inside_a_character_by_the_text_form() -> None:
    # recorded: qsub -v "H25W=日本語 x10 é ß ü ø"; qstat -f wrapped the value between 日's second and third byte
    raw = (DATA / "qstat-f-text-non-ascii-wrapped.txt").read_bytes()
    assert b"^&^\xd7\n\t^\xe5" in raw
    [job] = parse.parse_jobs_text(unprinted(raw))
    assert parse.variables(job.raw["Variable_List"])["H25W"] == "日本語" * 10 + " é ß ü ø"


def test_utf8_decoding_with_replacement_loses_them_which_is_why_bytes_are_kept() -> None:
    raw = (DATA / "qstat-f-F-json-non-ascii.json").read_bytes()
    [job] = parse.parse_jobs_json(raw.decode("utf-8", errors="replace"))
    assert job.work_dir != WORK_DIR


def test_control_characters_and_carets_stay_as_printed() -> None:
    # '^M' may be a carriage return or the user's own caret and M: the printed form cannot say, so it is kept
    assert unprinted(show_nonprint_chars("a\rb")) == "a^Mb"
    assert unprinted(b"^A^[x^^") == "^A^[x^^"


def test_valid_utf8_is_left_alone() -> None:
    # a Torque server, or any answer without the notation: a caret before a real non-ASCII character
    for text in ("^é", "^1^é", "x^\x03^é", "日本 — ^ü"):
        assert unprinted(text.encode()) == text


def test_each_printed_form_of_one_character() -> None:
    assert show_nonprint_chars("é") == b"^\x03^\xe9"
    for text in ("é", "ß", "日", "€", "😀", "\u0100", "\U0010ffff", "\u07ff", "\u0800"):
        assert unprinted(show_nonprint_chars(text)) == text


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="".join(
    chr(c) for c in range(32) if c not in (9, 10)))))
def test_any_text_without_control_characters_round_trips(text: str) -> None:
    assert unprinted(show_nonprint_chars(text)) == text
