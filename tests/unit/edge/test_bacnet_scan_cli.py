"""`peakline bacnet scan` refuses bad arguments before opening a socket, and its table shows
what each I-Am said (the broadcast itself: tests/integration/bacnet/test_bacnet_whois_scan.py)."""

from __future__ import annotations

from rich.console import Console
from typer.testing import CliRunner

from peakline_edge.bacnet.cli import app
from peakline_edge.bacnet.client import AnsweringDevice
from peakline_edge.bacnet.scan import device_table


def test_scan_needs_a_bind_address_and_both_range_limits() -> None:
    runner = CliRunner()
    no_bind = runner.invoke(app, ["scan", "--json"])
    assert no_bind.exit_code == 2 and "--bind" in no_bind.output
    half_range = runner.invoke(app, ["scan", "--bind", "10.0.0.5/24:47808", "--low", "5"])
    assert half_range.exit_code == 2 and "--low and --high go together" in half_range.output


def test_device_table_has_a_row_per_device() -> None:
    found = [
        AnsweringDevice(1001, "10.0.0.11", 999, 1024, "segmented-both"),
        AnsweringDevice(2001, "10.0.0.12:47809", 5, 480, "no-segmentation"),
    ]
    console = Console(width=120, record=True)
    console.print(device_table(found))
    lines = console.export_text().splitlines()
    assert any(all(x in line for x in ("1001", "10.0.0.11", "999", "1024", "segmented-both"))
               for line in lines)  # fmt: skip
    assert any(all(x in line for x in ("2001", "10.0.0.12:47809", "480", "no-segmentation"))
               for line in lines)  # fmt: skip
