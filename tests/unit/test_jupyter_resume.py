"""Picking up where you left off (issue 27), the parts that need no cluster: run_all_cells' choice of cells,
how it names the cell it stopped at and caps its answer, the jupyter_warm_start key, and a warm start that
fails (a real connection to a host that does not resolve) being said by the next call, never raised."""

from __future__ import annotations

import asyncio
import logging

import nbformat
import pytest

from hpcbridge.config import load_settings
from hpcbridge.jupyter import restore, warm
from hpcbridge.jupyter.kernels import Executed
from hpcbridge.jupyter.outputs import CellOutput
from hpcbridge.jupyter.servers import JupyterServers
from hpcbridge.services.registry import Registry


def _executed(index: int, text: str = "", error: tuple[str, str] | None = None) -> Executed:
    out = CellOutput()
    out.add("stream", {"name": "stdout", "text": text})
    if error:
        out.add("error", {"ename": error[0], "evalue": error[1], "traceback": ["Traceback", f"{error[0]}: x"]})
    return Executed("nb", index, index + 1, "error" if error else "ok", out, 0.1)


def test_only_code_cells_with_code_run_in_notebook_order() -> None:
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# title"), nbformat.v4.new_code_cell("a = 1"),
        nbformat.v4.new_code_cell("  \n"), nbformat.v4.new_code_cell("b = a + 1"),
        nbformat.v4.new_raw_cell("raw")])
    assert restore.code_cells(nb) == [1, 3]


def test_a_cell_is_named_by_its_first_line_capped() -> None:
    assert restore.first_line("\n\n  x = compute()  \nmore") == "x = compute()"
    long = restore.first_line("y = " + "1" * 500)
    assert len(long) == restore.LINE_CAP and long.endswith("...")
    assert restore.first_line("") == ""


def test_a_run_that_stops_names_the_cell_its_first_line_and_the_error() -> None:
    ran = [restore.cell_run(0, "a = 1", _executed(0, "fine\n")),
           restore.cell_run(2, "# step two\nraise ValueError('bad')", _executed(2, "x" * 10_000, ("ValueError", "bad")))]
    failed = _executed(2, "x" * 10_000, ("ValueError", "bad"))
    result = restore.finished("nb", 3, ran, failed)
    assert not result.completed and result.failed_cell == 2 and result.failed_first_line == "# step two"
    assert (result.error_name, result.error_value) == ("ValueError", "bad")
    assert result.note.startswith("stopped at cell 2 ('# step two'), code cell 2 of 3: ValueError: bad")
    assert len(result.error_text.encode()) < restore.FAIL_CAP + 100 and "output cut" in result.error_text
    assert ran[1].status == "error" and len(ran[1].output_tail) == restore.TAIL_CAP
    text = restore.render(result)
    assert "- cell 0 [1] ok: a = 1 -> fine" in text and "--- cell 2 output" in text and len(text) < 5000


def test_a_run_that_completes_says_so() -> None:
    ran = [restore.cell_run(i, f"v{i} = {i}", _executed(i)) for i in range(3)]
    result = restore.finished("nb", 3, ran, None)
    assert result.completed and result.failed_cell is None and result.note == "3 of 3 code cells ran in order without error"


def test_jupyter_warm_start_from_the_environment_and_toml() -> None:
    env = load_settings({"SLURM_SSH_HOST": "unused.invalid", "HPCBRIDGE_CONFIG": "", "SLURM_JUPYTER_WARM_START": "true"})
    assert env.cluster(None).jupyter_warm_start is True
    off = load_settings({"SLURM_SSH_HOST": "unused.invalid", "HPCBRIDGE_CONFIG": ""})
    assert off.cluster(None).jupyter_warm_start is False


async def test_a_failed_warm_start_is_logged_and_said_once_by_the_next_call(caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings({"SLURM_SSH_HOST": "unused.invalid", "HPCBRIDGE_CONFIG": "",
                              "SLURM_JUPYTER_WARM_START": "true", "SLURM_CONNECT_TIMEOUT": "5"})
    registry = Registry(settings)
    servers = JupyterServers(registry, "unittest")
    try:
        with caplog.at_level(logging.WARNING, logger="hpcbridge.jupyter"):
            assert warm.start(servers, registry, "local") == [settings.default_cluster]  # returns at once
            task = servers._warming[(settings.default_cluster, "local")]
            await asyncio.wait_for(asyncio.shield(task), 60)
        assert task.exception() is None  # never raised
        assert any("Jupyter warm start" in r.message and "failed" in r.message for r in caplog.records)
        c = registry.get(None)
        said = servers.warm_failure(c)
        assert "unused.invalid" in said or "connect" in said.lower(), said
        assert servers.warm_failure(c) == ""  # said once
    finally:
        await servers.close()
        await registry.close()


def test_no_warm_start_unless_asked() -> None:
    settings = load_settings({"SLURM_SSH_HOST": "unused.invalid", "HPCBRIDGE_CONFIG": ""})
    registry = Registry(settings)
    assert warm.start(JupyterServers(registry, "unittest"), registry, "local") == []
