"""The demo's pure parts: options, the rewired config, the status verdict and display."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from peakline_cli.demo.plan import DemoError, DemoOptions, rewire, store_url
from peakline_cli.demo.stack import flow_verdict
from peakline_cli.demo.status import DemoStatus, State, render, summary_line
from peakline_core.config import PlatformConfig
from peakline_core.config.platform import ModbusTcp, MqttSource


def test_rewire_points_agents_at_the_demo_broker_and_devices_at_the_simulators(
    district: PlatformConfig,
) -> None:
    endpoints = {"school-meter": ("127.0.0.1", 40001), "hall-meter": ("127.0.0.1", 40002)}
    out = rewire(district, "mqtt://127.0.0.1:41883", "tdemo", endpoints)
    for agent in out.agents.values():
        assert agent.uplink.broker == "mqtt://127.0.0.1:41883"
        assert agent.uplink.topic_prefix == "tdemo"
        assert agent.uplink.username is None and agent.uplink.password_file is None
    meter = out.devices["school-meter"].connection
    assert isinstance(meter, ModbusTcp) and meter.port == 40001
    assert out.devices["school-pv"].enabled is False  # no simulator for it
    assert isinstance(out.devices["school-air"].connection, MqttSource)
    assert out.devices["school-air"].enabled is True
    assert district.agents["gw-river"].uplink.topic_prefix == "peakline"  # input untouched


def test_store_url_defaults_to_sqlite_in_the_state_dir(tmp_path: Path) -> None:
    assert store_url(DemoOptions(), tmp_path) == f"sqlite://{tmp_path.resolve()}/store.db"
    influx = DemoOptions(influx="http://127.0.0.1:8086/", influx_db="d", influx_token="u:p")
    assert store_url(influx, tmp_path) == "http://127.0.0.1:8086?db=d&token=u%3Ap"


@pytest.mark.parametrize(
    "options",
    [
        DemoOptions(broker="http://x:1883"),
        DemoOptions(broker="mqtt://user:secret@127.0.0.1:1883"),
        DemoOptions(influx="mqtt://x"),
        DemoOptions(duration_s=0),
        DemoOptions(port=0),
        DemoOptions(host="0.0.0.0"),
    ],
)
def test_bad_options_are_refused(options: DemoOptions) -> None:
    with pytest.raises(DemoError):
        options.check()


def _status(stored: int, api: int, tap: str) -> DemoStatus:
    status = DemoStatus()
    status.add("tap", "mqtt://127.0.0.1:1/peakline/v1/tele/+/+")
    status.set("tap", State.RUNNING, tap)
    status.record_stored(stored, 3 if stored else 0)
    status.api_readings = api
    return status


def test_verdict_names_the_stage_where_data_stopped() -> None:
    assert flow_verdict(_status(120, 40, "30 telemetry batches seen")) is None
    assert "edge" in (flow_verdict(_status(0, 0, "0 telemetry batches seen")) or "")
    assert "ingest" in (flow_verdict(_status(0, 0, "30 telemetry batches seen")) or "")
    assert "API" in (flow_verdict(_status(120, 0, "30 telemetry batches seen")) or "")
    failed = _status(120, 40, "x")
    failed.add("edge gw-1", "3 devices")
    failed.set("edge gw-1", State.FAILED, "EdgeError('boom')")
    assert "edge gw-1 failed" in (flow_verdict(failed) or "")


def test_display_shows_components_and_counts() -> None:
    status = _status(1234, 7, "9 telemetry batches seen")
    status.dashboard_url = "http://127.0.0.1:8000/"
    console = Console(width=120, record=True)
    console.print(render(status))
    text = console.export_text()
    assert "1,234" in text and "tap" in text and "http://127.0.0.1:8000/" in text
    assert "readings stored=1234" in summary_line(status)
    assert status.first_reading_after_s is not None


def test_history_takes_at_most_a_third_of_a_short_run() -> None:
    """A 60 s run keeps 40 s for going live; without --duration the budget stands."""
    assert DemoOptions(config_dir=Path("config"), duration_s=60).history_wall_s == 20
    assert DemoOptions(config_dir=Path("config"), duration_s=600).history_wall_s == 40
    assert DemoOptions(config_dir=Path("config")).history_wall_s == 40
