"""Offline CSV scoring: timestamps in every format, one or several value columns, causal."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from peakline_cli.anomaly_cmd import app, score_csv
from peakline_core.anomaly import AnomalyError
from peakline_core.anomaly.csvscore import output_names, parse_timestamps, score_table
from tests.unit.anomaly.anomaly_synth import NS, START_NS, temperature, timestamps


@pytest.mark.parametrize(
    "texts",
    [
        ["1704067200", "1704067260"],
        ["1704067200000", "1704067260000"],
        ["1704067200000000000", "1704067260000000000"],
        ["1704067200.0", "1704067260.0"],
        ["2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z"],
        ["2024-01-01 01:00:00+01:00", "2024-01-01 01:01:00+01:00"],
        ["2024-01-01T00:00:00", "2024-01-01T00:01:00"],
        ["2024-01-01T00:00:00.000000000Z", "2024-01-01T00:01:00.000000000Z"],
    ],
)
def test_timestamps_in_any_format(texts: list[str]) -> None:
    assert parse_timestamps(texts).tolist() == [START_NS, START_NS + 60 * NS]


def test_nanoseconds_survive_iso_parsing() -> None:
    assert parse_timestamps(["2024-01-01T00:00:00.123456789Z"])[0] == START_NS + 123456789


def test_bad_timestamp_names_the_row() -> None:
    with pytest.raises(AnomalyError, match="row 2"):
        parse_timestamps(["2024-01-01T00:00:00Z", "yesterday"])


def test_output_names() -> None:
    assert output_names(["value"]) == [("anomaly_score", "detector")]
    assert output_names(["a", "b"])[1] == ("b_anomaly_score", "b_detector")


def test_table_scoring_is_causal_and_order_free() -> None:
    ts = timestamps(2, 60.0)
    values = temperature(ts, 2, np.random.default_rng(0))
    values[0, 2000] += 5
    full = score_table(ts, list(values))
    head = score_table(ts[:2001], list(values[:, :2001]))
    np.testing.assert_array_equal(full[0][0][:2001], head[0][0])
    assert full[0][1][2000] != "none"
    shuffled = np.random.default_rng(1).permutation(ts.size)
    again = score_table(ts[shuffled], list(values[:, shuffled]))
    np.testing.assert_array_equal(again[1][0], full[1][0][shuffled])


def write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])


def test_cli_scores_a_grafana_like_export(tmp_path: Path) -> None:
    ts = timestamps(1, 60.0)
    values = temperature(ts, 2, np.random.default_rng(3))
    values[1, 1000] = 60.0
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    rows = [
        [f"{t // 1_000_000}", "room", f"{a:.1f}", "" if i == 5 else f"{b:.1f}"]
        for i, (t, a, b) in enumerate(zip(ts, values[0], values[1], strict=True))
    ]
    write(src, ["Time", "site", "t_in", "t_out"], rows)
    result = CliRunner().invoke(app, ["score", str(src), "-o", str(dst)])
    assert result.exit_code == 0, result.output
    with dst.open() as fh:
        out = list(csv.DictReader(fh))
    assert len(out) == ts.size
    assert list(out[0])[-4:] == [
        "t_in_anomaly_score",
        "t_in_detector",
        "t_out_anomaly_score",
        "t_out_detector",
    ]
    assert out[5]["t_out_anomaly_score"] == ""
    assert float(out[1000]["t_out_anomaly_score"]) > 0.9
    assert out[1000]["t_out_detector"] == "spike"
    assert out[1000]["site"] == "room"


def test_single_column_influx_export_with_annotations(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    ts = timestamps(0.5, 10.0)
    body = "\n".join(
        f",,0,2024-01-01T00:00:00Z,{stamp}Z,{20 + np.sin(i / 50):.3f}"
        for i, stamp in enumerate(np.datetime_as_string(ts.astype("datetime64[ns]")))
    )
    src.write_text(
        "#datatype,string,long,dateTime:RFC3339\n,result,table,_start,_time,_value\n" + body + "\n"
    )
    assert score_csv(src, dst) == ts.size
    header = dst.read_text().splitlines()[0].split(",")
    assert header[-2:] == ["anomaly_score", "detector"]


def test_cli_reports_bad_files(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    write(src, ["time", "v"], [["2024-01-01T00:00:00Z", "1"], ["2024-01-01T00:00:00Z"]])
    result = CliRunner().invoke(app, ["score", str(src), "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 1
    assert "row 3" in result.output
