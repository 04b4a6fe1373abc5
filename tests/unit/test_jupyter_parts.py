"""The Jupyter feature's pure parts: the server job's script and names, kernel messages -> model outputs, and
the notebook kept beside a kernel."""

from __future__ import annotations

import base64
import io
import json

import nbformat
import pytest
from PIL import Image as Pil

from hpcbridge.backends.slurm.build import container_step_argv
from hpcbridge.errors import InvalidParameter
from hpcbridge.jupyter import launch, notebook
from hpcbridge.jupyter.outputs import CellOutput, describe_svg, error_of, html_to_text


def test_job_names_tie_a_server_to_its_instance_unless_persistent() -> None:
    assert launch.job_name("a1b2c3", "ana", persist=False) == f"hpcb-a1b2c3-jupyter-{launch.principal_tag('ana')}"
    kept = launch.job_name("a1b2c3", "ana", persist=True)
    assert kept.startswith("hpcb-keep-jupyter-") and "a1b2c3" not in kept
    assert launch.principal_tag("ana") != launch.principal_tag("bob") and len(launch.principal_tag("x")) == 6


def test_the_script_quotes_paths_reads_the_token_from_a_file_and_ends_when_idle() -> None:
    plan = launch.ServerPlan("/home/a b/.hpcbridge/jupyter/x", "/lustre/it's/notebooks", 0.5, "/opt/venv",
                             ("cuda/12.6",))
    script = launch.server_script(plan)
    assert "export 'JUPYTER_TOKEN_FILE=/home/a b/.hpcbridge/jupyter/x/token'" in script
    assert "token=" not in script.lower().replace("token_file", "")  # no token value anywhere
    assert "module load cuda/12.6" in script and "source /opt/venv/bin/activate" in script
    assert "cd '/lustre/it'\"'\"'s/notebooks'" in script and "--port=0" not in script  # the job chooses it
    assert "--MappingKernelManager.cull_idle_timeout=30" in script and "cull_connected=True" in script
    assert "--ServerApp.shutdown_no_activity_timeout=30" in script and script.startswith("#!/bin/bash\n")
    assert "umask 077" in script
    compile(launch.SERVER_CONFIG, "jupyter_server_config.py", "exec")  # the server runs it at start
    assert "exec bash -c " in script and "hpcbridge-jupyter '/home/a b/.hpcbridge/jupyter/x' --no-browser" in script
    step = container_step_argv(["--container-image=/i.sqsh"], 2)  # what Cluster.container_step gives on Slurm
    boxed = launch.server_script(launch.ServerPlan("/r", "/n", 30, container_step=tuple(step)))
    assert "exec srun --ntasks 1 --nodes 1 --gres gpu:2 --container-image=/i.sqsh bash -c " in boxed


def test_state_and_queue_answers_are_read_whole_or_not_at_all() -> None:
    assert launch.parse_state("") == launch.ServerState()
    assert launch.parse_state("gpu1\n41234\n\n") == launch.ServerState()  # the server does not listen yet
    assert launch.parse_state('gpu1\n41234\n\n{"port": 4') == launch.ServerState()  # half written
    ready = launch.parse_state('gpu1\n41234\n\n{"port": 41234, "token": "x"}')
    assert ready == launch.ServerState(launch.ServerAddress("gpu1", 41234))


def _png(width: int, height: int) -> str:
    out = io.BytesIO()
    Pil.new("RGB", (width, height), "white").save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


def test_outputs_for_a_model() -> None:
    out = CellOutput()
    out.add("stream", {"name": "stdout", "text": "epoch 1\n"})
    out.add("display_data", {"data": {"image/png": _png(3000, 1500), "text/plain": "<Figure>"}})
    out.add("execute_result", {"data": {"text/html": "<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td>"
                                                     "</tr></table><script>alert(1)</script>"},
                               "execution_count": 4})
    text, cut = out.rendered_text()
    assert text == "epoch 1\na\tb\n1\t2\n" and not cut and out.execution_count == 4
    assert (out.images[0].width, out.images[0].height, out.images[0].scaled_from) == (1024, 512, (3000, 1500))
    small = CellOutput()
    small.add("display_data", {"data": {"image/png": _png(10, 10)}})
    assert small.images[0].scaled_from is None
    broken = CellOutput()
    broken.add("display_data", {"data": {"image/png": base64.b64encode(b"not a png").decode()}})
    assert "could not be decoded" in broken.rendered_text()[0]


def test_long_text_keeps_its_end_and_says_it_was_cut() -> None:
    out = CellOutput()
    out.add("stream", {"text": "x" * 20000 + "LAST\n"})
    text, cut = out.rendered_text(cap=100)
    assert cut and text.startswith("[output cut: 20,005 bytes, the last 100 shown]") and text.endswith("LAST\n")


def test_errors_keep_the_last_frames_without_colours() -> None:
    blocks = ["\x1b[0;31m----\x1b[0m header"] + [f"frame {i}" for i in range(6)] + ["\x1b[0;31mValueError\x1b[0m: bad"]
    err = error_of({"ename": "ValueError", "evalue": "bad", "traceback": blocks})
    assert err.frames.startswith("[4 earlier frame(s) not shown]\nframe 3\nframe 4\nframe 5")
    assert "\x1b" not in err.frames
    out = CellOutput()
    out.add("error", {"ename": "ValueError", "evalue": "bad", "traceback": blocks})
    assert out.rendered_text()[0].endswith("ValueError: bad\n")


def test_svg_is_described_not_sent() -> None:
    svg = '<svg width="460pt" height="345pt"><path d="M0"/><rect/><text>loss</text><text>epoch</text></svg>'
    assert describe_svg(svg) == "[SVG image, 460pt x 345pt, 2 shapes; text: loss, epoch]\n"
    assert html_to_text("<p>a &amp; b</p><style>p{}</style>") == "a & b"


def test_the_notebook_records_outputs_as_the_kernel_sent_them() -> None:
    nb = notebook.empty()
    assert notebook.add(nb, "print(1)", "code") == 0
    assert notebook.add(nb, "# title", "markdown", index=0) == 0
    msg = {"header": {"msg_type": "stream"}, "msg_type": "stream", "content": {"name": "stdout", "text": "1\n"}}
    notebook.record(nb, 1, [msg, {"header": {"msg_type": "status"}, "content": {}}], 3)
    saved = nbformat.reads(json.dumps(notebook.as_dict(nb)), as_version=4)
    nbformat.validate(saved)
    assert saved.cells[1].outputs[0].text == "1\n" and saved.cells[1].execution_count == 3
    assert notebook.checked_index(nb, -1) == 1
    with pytest.raises(InvalidParameter, match=r"invalid cell_index: 2; expected 0..1 \(the notebook has 2 cells\)"):
        notebook.checked_index(nb, 2)
    with pytest.raises(InvalidParameter, match="cell_type"):
        notebook.add(nb, "x", "raw")
    summary = notebook.summary(nb)
    assert summary[1].outputs == "2 chars of text" and summary[0].cell_type == "markdown"


def test_environment_values_are_checked_before_anything_runs() -> None:
    from hpcbridge import validate

    assert validate.module_name("modules", "cuda/12.6") == "cuda/12.6"
    for bad in ("cuda; rm -rf ~", "-v", "a b", "$(id)"):
        with pytest.raises(InvalidParameter, match="invalid modules"):
            validate.module_name("modules", bad)
    assert validate.directory_path("python_env", "~/venvs/torch") == "~/venvs/torch"
    for bad in ("venvs/torch", "/opt/../etc", "/opt/$HOME", "/opt/a;b"):
        with pytest.raises(InvalidParameter, match="invalid python_env"):
            validate.directory_path("python_env", bad)
