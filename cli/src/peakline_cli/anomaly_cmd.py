"""`peakline anomaly score IN.csv -o OUT.csv`: offline, causal anomaly scores for a CSV export.

Reads a table with a timestamp column (ISO 8601 or epoch s/ms/us/ns) and one or more value
columns (InfluxDB or Grafana exports; `#` annotation lines are skipped), and writes it back
with a score in [0, 1] and the detector name per value column.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import typer

from peakline_core.anomaly import AnomalyError
from peakline_core.anomaly.csvscore import (
    TIME_COLUMNS,
    output_names,
    parse_timestamps,
    parse_values,
    score_table,
)

app = typer.Typer(help="Score time series for anomalies.", no_args_is_help=True)


@app.callback()
def anomaly() -> None:
    """Score time series for anomalies."""


def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = [r for r in csv.reader(line for line in fh if not line.startswith("#")) if r]
    if not rows:
        raise AnomalyError(f"{path}: no header row")
    header, body = rows[0], rows[1:]
    width = len(header)
    for n, row in enumerate(body, start=2):
        if len(row) != width:
            raise AnomalyError(f"{path}: row {n} has {len(row)} fields, the header {width}")
    return header, body


def score_csv(in_path: Path, out_path: Path, time_column: str | None = None) -> int:
    """Score every numeric column of `in_path` and write `out_path`; returns rows written."""
    header, body = _read(in_path)
    lowered = [h.strip().lower() for h in header]
    if time_column is not None:
        if time_column not in header:
            raise AnomalyError(f"{in_path}: no column {time_column!r}")
        t_col = header.index(time_column)
    else:
        t_col = next((lowered.index(n) for n in TIME_COLUMNS if n in lowered), 0)
    columns = list(zip(*body, strict=True)) if body else [() for _ in header]
    ts = parse_timestamps(list(columns[t_col]))
    numeric: list[int] = []
    arrays = []
    for i, col in enumerate(columns):
        if i == t_col or lowered[i] in ("result", "table", "", "_start", "_stop"):
            continue
        parsed = parse_values(list(col))
        if parsed is not None and body:
            numeric.append(i)
            arrays.append(parsed)
    if not numeric:
        raise AnomalyError(f"{in_path}: no numeric value column")
    scored = score_table(ts, arrays)
    names = output_names([header[i] for i in numeric])
    out_header = list(header)
    for score_name, det_name in names:
        out_header += [score_name, det_name]
    with out_path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(out_header)
        for r, row in enumerate(body):
            extra: list[str] = []
            for score, det in scored:
                value = float(score[r])
                extra += ["" if value != value else f"{value:.4f}", str(det[r])]
            writer.writerow(row + extra)
    return len(body)


@app.command("score")
def score(
    in_csv: Annotated[Path, typer.Argument(help="CSV with a timestamp and value column(s)")],
    out: Annotated[Path, typer.Option("-o", "--out", help="CSV to write")],
    time_column: Annotated[
        str | None, typer.Option(help="timestamp column (default: timestamp/time/_time/first)")
    ] = None,
) -> None:
    """Add anomaly_score and detector columns (one pair per value column), causal from the
    first row, for any sampling interval."""
    try:
        rows = score_csv(in_csv, out, time_column)
    except (AnomalyError, OSError, UnicodeDecodeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{out}: {rows} rows scored")
