"""The dashboard's wire rules as pure functions: SSE framing, the terminal view of a tail, parameter checks."""

from __future__ import annotations

import re

import pytest

from hpcbridge.dashboard import params
from hpcbridge.dashboard.pages import as_terminal
from hpcbridge.dashboard.web import sse_event
from hpcbridge.errors import InvalidParameter


def _reassembled(event: str) -> str:
    """What EventSource hands the page: lines end at CRLF, CR or LF; data fields joined with LF."""
    lines = re.split(r"\r\n|\r|\n", event)
    return "\n".join(line[len("data: "):] for line in lines if line.startswith("data: "))


@pytest.mark.parametrize("payload", ["a\rb", "a\r\nb", "a\nb\n", "\r\r", "x\u2028y\x1cz", ""])
def test_an_event_has_no_line_end_inside_a_field(payload: str) -> None:
    event = sse_event("update", payload)
    assert event.endswith("\n\n")
    assert "\r" not in event
    assert _reassembled(event) == re.sub(r"\r\n|\r", "\n", payload)  # only the line ends change


def test_the_tail_shows_a_progress_bar_as_a_terminal_does() -> None:
    out = "epoch 1\n\r 10%|#\r 50%|#####\r100%|##########\ndone\r\n\rhalf\r"
    assert as_terminal(out) == "epoch 1\n100%|##########\ndone\nhalf"


def test_parameters_are_bounded() -> None:
    q = {"n": "10", "big": str(10**30), "f": "inf", "nan": "nan", "nul": "a\x00", "long": "x" * 2000}
    assert params.integer(q, "n", 0, 0, 100) == 10
    assert params.integer(q, "absent", 7, 0, 100) == 7
    for name, call in [("big", lambda: params.integer(q, "big", 0, 0, params.MAX_ID)),
                       ("f", lambda: params.number(q, "f", 1, 0, 1e6)),
                       ("nan", lambda: params.number(q, "nan", 1, 0, 1e6)),
                       ("nul", lambda: params.text(q, "nul")),
                       ("long", lambda: params.text(q, "long")),
                       ("n", lambda: params.choice(q, "n", ("7", "14"), "7"))]:
        with pytest.raises(InvalidParameter, match=f"invalid {name}:"):
            call()
