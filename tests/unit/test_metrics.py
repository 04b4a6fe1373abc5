"""Metric series from recorded files (tests/data/metrics, written by tensorboardX's SummaryWriter and
record.py there): the event reader, JSONL, CSV, downsampling, the table and the PNG chart."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from hpcbridge.errors import HpcBridgeError, InvalidParameter
from hpcbridge.services.metrics import event_triples, parse_file
from hpcbridge.watch import chart
from hpcbridge.watch.metrics import (
    Series,
    downsample,
    file_kind,
    looks_like_metrics,
    parse_csv,
    parse_jsonl,
    select,
    summarise,
    table,
)

DATA = Path(__file__).parents[1] / "data" / "metrics"
EVENTS = next((DATA / "tb").glob("events.out.tfevents.*"))


def by_name(series: list[Series]) -> dict[str, Series]:
    return {s.name: s for s in series}


def test_event_file_by_tensorboards_loader() -> None:
    found = by_name(parse_file("tfevents", EVENTS.read_bytes(), str(EVENTS)))
    assert set(found) == {"train/loss", "train/lr", "eval/accuracy"}  # the text summary is not a scalar
    loss = found["train/loss"]
    assert loss.steps == tuple(float(s) for s in range(30))
    assert loss.values == pytest.approx([2.0 / (s + 1) for s in range(30)], rel=1e-6)  # float32 as written
    assert found["train/lr"].values[25] == pytest.approx(0.025)
    assert found["eval/accuracy"].steps == (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)


def test_event_file_in_the_tensor_form_of_tf2_writers() -> None:
    """tf.summary (TF 2) writes a scalar tensor with the `scalars` plugin, not simple_value: read the same."""
    path = next((DATA / "tb-tensor").glob("events.out.tfevents.*"))
    (loss,) = parse_file("tfevents", path.read_bytes(), str(path))
    assert loss.name == "train/loss" and loss.steps == tuple(float(s) for s in range(0, 30, 3))
    assert loss.values == pytest.approx([2.0 / (s + 1) for s in range(0, 30, 3)], rel=1e-6)


def test_event_file_cut_mid_record_keeps_the_whole_records() -> None:
    """A file fetched capped (or still being written) ends inside a record: the records before it count."""
    data = EVENTS.read_bytes()
    whole = event_triples(data)
    cut = event_triples(data[: len(data) // 2])
    assert 0 < len(cut) < len(whole)
    assert cut == whole[: len(cut)]


def test_jsonl_numeric_fields_with_epoch_as_x() -> None:
    text = (DATA / "metrics.jsonl").read_text()
    found = by_name(parse_jsonl(text, "m.jsonl"))
    assert set(found) == {"loss", "acc"}  # "phase" is text; NaN, a non-JSON line and a cut last line skipped
    assert found["loss"].steps == tuple(float(e) for e in range(20))
    assert found["loss"].values[3] == 0.25


def test_jsonl_nested_and_no_step_key() -> None:
    found = by_name(parse_jsonl('{"train": {"loss": 3}}\n{"train": {"loss": 2}, "ok": true}\n', "x"))
    assert found["train/loss"].steps == (0.0, 1.0) and found["train/loss"].values == (3.0, 2.0)
    assert "ok" not in found  # a bool is not a metric


def test_csv_header_and_empty_cells() -> None:
    found = by_name(parse_csv((DATA / "metrics.csv").read_text(), "m.csv"))
    assert set(found) == {"train_loss", "val_loss"}
    assert found["train_loss"].steps[-1] == 900.0 and found["train_loss"].values[-1] == 0.75
    assert found["val_loss"].steps == (0.0, 200.0, 400.0, 600.0, 800.0)


def test_downsample_keeps_ends_and_extremes() -> None:
    values = tuple(float(i % 7) for i in range(1000))
    values = values[:500] + (99.0,) + values[501:]
    kept, cut = downsample(tuple(float(i) for i in range(1000)), values, 50)
    assert cut and len(kept) <= 50 and kept[0] == 0 and kept[-1] == 999
    assert 500 in kept  # the spike survives
    assert kept == sorted(kept)
    assert downsample((1.0, 2.0), (1.0, 2.0), 50) == ([0, 1], False)


def test_summary_and_table() -> None:
    s = summarise(Series("loss", "f", tuple(float(i) for i in range(300)), tuple(300.0 - i for i in range(300))), 20)
    assert (s.points, s.first_step, s.last_step, s.min, s.max, s.last) == (300, 0, 299, 1, 300, 1)
    assert s.downsampled and len(s.values) <= 20
    assert table([s]).splitlines()[1] == "loss | 300 | 0..299 | 1 | 300 | 1"


def test_select_and_bad_regex_names_the_parameter() -> None:
    series = [Series("train/loss", "f", (0,), (1,)), Series("lr", "f", (0,), (1,))]
    assert [s.name for s in select(series, "LOSS")] == ["train/loss"]
    with pytest.raises(InvalidParameter, match="series"):
        select(series, "(")


def test_file_kinds_and_discovery_names() -> None:
    assert file_kind("run/events.out.tfevents.123.host") == "tfevents"
    assert file_kind("a/m.ndjson") == "jsonl" and file_kind("x.CSV") == "csv" and file_kind("x.txt") == ""
    assert looks_like_metrics("logs/train_log.jsonl") and looks_like_metrics("metrics.csv")
    assert not looks_like_metrics("data/cities.csv")  # a data file is not fetched unless given


def test_chart_decodes_as_png_with_one_panel_per_series() -> None:
    series = [summarise(s) for s in parse_file("tfevents", EVENTS.read_bytes(), "e")]
    image = Image.open(io.BytesIO(chart.png(series)))
    assert image.format == "PNG" and image.size == (chart.WIDTH, 3 * chart.PANEL_HEIGHT)
    # the loss line is drawn in the first colour inside the first panel
    first = Image.open(io.BytesIO(chart.png(series[:1]))).convert("RGB")
    colour = tuple(int(chart.COLOURS[0][i:i + 2], 16) for i in (1, 3, 5))
    assert any(first.getpixel((x, y)) == colour for x in range(chart.MARGIN_LEFT + 5, chart.WIDTH - 20)
               for y in range(chart.MARGIN_TOP + 5, chart.PANEL_HEIGHT - chart.MARGIN_BOTTOM - 2))


def test_without_the_reader_the_answer_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if `pip install 'hpcbridge[metrics]'` never ran
    monkeypatch.delitem(sys.modules, "tensorboard.backend.event_processing.event_file_loader", raising=False)
    monkeypatch.delitem(sys.modules, "tensorboard.backend.event_processing", raising=False)
    monkeypatch.delitem(sys.modules, "tensorboard.backend", raising=False)
    with pytest.raises(HpcBridgeError, match=r"hpcbridge\[metrics\]"):
        event_triples(EVENTS.read_bytes())
