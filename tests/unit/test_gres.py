from __future__ import annotations

import pytest

from hpcbridge.backends.slurm.gres import gpu_indices, parse_gpus
from hpcbridge.models import GpuCount


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gpu:a100:4(S:0-1)", (GpuCount("a100", 4),)),
        ("gpu:a100:2(IDX:0-1)", (GpuCount("a100", 2),)),
        ("gres/gpu=4", (GpuCount(None, 4),)),
        ("gres/gpu:a100=2", (GpuCount("a100", 2),)),
        ("cpu=1,mem=500M,gres/gpu=3", (GpuCount(None, 3),)),
        ("cpu=4,gres/gpu=4,gres/gpu:a100=4", (GpuCount("a100", 4),)),  # typed wins over the total
        ("gres:gpu:a100:3", (GpuCount("a100", 3),)),  # old TresPerNode
        ("gres/gpu:1", (GpuCount(None, 1),)),  # new TresPerNode
        ("gres:gpu:8", (GpuCount(None, 8),)),
        ("gpu:4", (GpuCount(None, 4),)),
        ("gpu", (GpuCount(None, 1),)),
        ("gpu:p100:2(S:0-1),tmp:1860G", (GpuCount("p100", 2),)),
        ("gpu:a100:4(S:0),gpu:v100:2(S:1)", (GpuCount("a100", 4), GpuCount("v100", 2))),
        ("gpu:a100_3g.20gb:7", (GpuCount("a100_3g.20gb", 7),)),  # MIG profile names
        ("gpu:a100:0(IDX:N/A)", ()),
        ("gres/tmp:250M", ()),
        ("(null)", ()),
        ("N/A", ()),
        ("", ()),
        (None, ()),
    ],
)
def test_every_gres_and_tres_form(text: str | None, expected: tuple[GpuCount, ...]) -> None:
    assert parse_gpus(text) == expected


def test_indices() -> None:
    assert gpu_indices("gpu:a100:3(IDX:0-2)") == "0-2"
    assert gpu_indices("gpu:a100:1(IDX:0),gpu:a100:1(IDX:3)") == "0,3"
    assert gpu_indices(None) == ""
