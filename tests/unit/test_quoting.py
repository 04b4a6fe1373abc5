"""Everything that reaches a shell goes through shell_join; prove a shell reads back the same argv."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcbridge.errors import InvalidParameter
from hpcbridge.quoting import shell_join


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
                        max_size=40), min_size=1, max_size=5))
def test_a_real_shell_reads_back_exactly_the_argv(argv: list[str]) -> None:
    script = shell_join(["printf", "%s\\0", *argv])
    out = subprocess.run(["bash", "-c", script], capture_output=True, check=True).stdout
    assert out.decode("utf-8", "surrogateescape").split("\x00")[:-1] == argv


def test_nul_is_refused() -> None:
    with pytest.raises(InvalidParameter):
        shell_join(["echo", "a\x00b"])
