"""AnomalyProcessor on columnar blocks: score rows, event rows, event messages, restart."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest

from peakline_core.storage import RowBlock
from peakline_core.storage.schema import ANOMALY_EVENT, ANOMALY_SCORE, READING
from peakline_core.wire import AnomalyEventMessage, Topics
from peakline_ingest.processors_anomaly import AnomalyProcessor, event_id

S = 1_000_000_000
T0 = 1_736_121_600 * S
STEP = 120


def series_values(n: int, spike_at: int | None, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = 20_000 + 2_000 * np.sin(np.arange(n) / 40) + rng.normal(0, 150, n)
    if spike_at is not None:
        v[spike_at : spike_at + 3] *= 5
    return v


def block(values: dict[str, np.ndarray], t0: int, step_s: int = 10) -> RowBlock:
    series = [{"site": "s1", "device": d, "point": "power_total"} for d in values]
    idx = np.concatenate([np.full(len(v), i, np.intp) for i, v in enumerate(values.values())])
    ts = np.concatenate(
        [t0 + np.arange(len(v), dtype=np.int64) * step_s * S for v in values.values()]
    )
    value = np.concatenate(list(values.values()))
    return RowBlock(
        READING, series, idx, {"value": value, "quality": np.zeros(len(value), np.int64)}, ts
    )


def test_spike_becomes_event_rows_and_message() -> None:
    topics = Topics("pl")
    proc = AnomalyProcessor(topics)
    # two days of history: the spike detector's spread needs hours of a series to trust
    quiet, spiky = series_values(1500, None, 2), series_values(1500, 1400)
    out = proc.process([], block({"m1": quiet, "m2": spiky}, T0, STEP))
    scores = [r for r in out.rows if r.measurement == ANOMALY_SCORE]
    assert len(scores) == 3000
    assert all(0.0 <= r.fields["score"] <= 1.0 for r in scores)
    events = [r for r in out.rows if r.measurement == ANOMALY_EVENT]
    on_m2 = [r for r in events if r.tags["device"] == "m2"]
    assert on_m2 and not [r for r in events if r.tags["device"] == "m1"]
    spike_ts = T0 + 1400 * STEP * S
    first = min(on_m2, key=lambda r: abs(r.ts - spike_ts))
    assert abs(first.ts - spike_ts) <= 3 * STEP * S
    assert first.fields["event_id"] == event_id("s1", "m2", "power_total", first.ts)
    assert first.fields["state"] in ("open", "closed")
    msgs = [msgspec.json.decode(p.payload, type=AnomalyEventMessage) for p in out.publications]
    assert {p.topic for p in out.publications} == {topics.event("s1", "m2")}
    assert {m.event_id for m in msgs} == {r.fields["event_id"] for r in on_m2}


def test_error_and_nan_readings_are_not_scored() -> None:
    proc = AnomalyProcessor(Topics("pl"))
    b = block({"m1": series_values(50, None)}, T0)
    b.fields["value"][:10] = np.nan
    b.fields["quality"][10:20] = 2
    out = proc.process([], b)
    assert len([r for r in out.rows if r.measurement == ANOMALY_SCORE]) == 30


def test_restart_resumes_from_saved_state(tmp_path: Path) -> None:
    values = series_values(1600, 1450)
    whole = AnomalyProcessor(Topics("pl"))
    want = whole.process([], block({"m2": values}, T0, STEP)).rows
    first = AnomalyProcessor.restore(Topics("pl"), tmp_path)
    got = list(first.process([], block({"m2": values[:800]}, T0, STEP)).rows)
    first.close()
    assert (tmp_path / "anomaly-state.npz").exists()
    second = AnomalyProcessor.restore(Topics("pl"), tmp_path)
    got += second.process([], block({"m2": values[800:]}, T0 + 800 * STEP * S, STEP)).rows

    def scores(rows: list) -> list[tuple[int, float]]:
        return [(r.ts, r.fields["score"]) for r in rows if r.measurement == ANOMALY_SCORE]

    assert scores(got) == scores(want)

    def ev(rows: list) -> list[tuple[int, str]]:
        return sorted((r.ts, r.fields["state"]) for r in rows if r.measurement == ANOMALY_EVENT)

    assert ev(want) and ev(got)[-1] == ev(want)[-1]


def test_event_keeps_its_opening_kind_and_profiles_register(tmp_path: Path) -> None:
    from peakline_core.anomaly import AnomalyEvent
    from peakline_core.config import load_config
    from peakline_ingest.processors import ProcessorOutput
    from peakline_ingest.processors_anomaly import register_profiles

    proc = AnomalyProcessor(Topics("pl"), state_dir=tmp_path)
    out = ProcessorOutput()
    proc.fold([AnomalyEvent("s1/m2/power_total", "spike", T0, None, 0.7, "open")], out)
    proc.save()  # a restart between opening and closing keeps the kind
    again = AnomalyProcessor.restore(Topics("pl"), tmp_path)
    again.fold([AnomalyEvent("s1/m2/power_total", "drift", T0, T0 + 60 * S, 0.9, "closed")], out)
    opened, closed = (r for r in out.rows if r.measurement == ANOMALY_EVENT)
    assert opened.tags == closed.tags and opened.tags["kind"] == "spike"
    assert opened.ts == closed.ts and opened.fields["event_id"] == closed.fields["event_id"]
    assert (opened.fields["end"], closed.fields["end"]) == (0, T0 + 60 * S)
    repo = Path(__file__).resolve().parents[3]
    assert register_profiles(again.engine, load_config(repo / "config")) > 0
    assert "rt-school/school-hvac/energy" in again.engine.keys


def device_block(
    points: dict[str, np.ndarray], t0: int, step_s: int, device: str, site: str = "rt-office"
) -> RowBlock:
    """Readings of several points of one device on one poll clock."""
    names = list(points)
    n = len(next(iter(points.values())))
    series = [{"site": site, "device": device, "point": p} for p in names]
    idx = np.repeat(np.arange(len(names), dtype=np.intp)[None, :], n, axis=0).ravel()
    ts = np.repeat(t0 + np.arange(n, dtype=np.int64) * step_s * S, len(names))
    value = np.stack([points[p] for p in names], axis=1).ravel()
    return RowBlock(
        READING, series, idx, {"value": value, "quality": np.zeros(len(value), np.int64)}, ts
    )


def real_config_processor() -> AnomalyProcessor:
    from peakline_core.config import load_config
    from peakline_ingest.processors_anomaly import register_profiles

    proc = AnomalyProcessor(Topics("pl"))
    register_profiles(proc.engine, load_config(Path(__file__).resolve().parents[3] / "config"))
    return proc


def test_a_fault_on_every_counter_of_a_device_is_one_event_from_the_first_readings() -> None:
    """Minutes of a new installation, then every energy counter of the office meter reads x5
    at once: one device event (hard `rate` verdict: the step implies more than the site can
    draw), listing the points, with the expected rate and the one seen (kWh -> kW)."""
    from peakline_core.config import load_config

    proc = real_config_processor()
    cfg = load_config(Path(__file__).resolve().parents[3] / "config")
    cap_kw = cfg.sites["rt-office"].demand_cap_kw()
    n, step = 30, 5
    base = {"import_energy": 1000.0, "export_energy": 300.0}
    kw = {"import_energy": 40.0, "export_energy": 10.0}
    pts = {p: base[p] + kw[p] * np.arange(n) * step / 3600 for p in base}
    for p in pts:
        pts[p][20:] *= 5
    # the deriver's steps: the history, then the step holding the fault
    quiet = proc.process(
        [], device_block({p: v[:20] for p, v in pts.items()}, T0, step, "office-meter")
    )
    assert not [r for r in quiet.rows if r.measurement == ANOMALY_EVENT]
    t20 = T0 + 20 * step * S
    out = proc.process(
        [], device_block({p: v[20:] for p, v in pts.items()}, t20, step, "office-meter")
    )
    events = [r for r in out.rows if r.measurement == ANOMALY_EVENT]
    assert {r.tags["device"] for r in events} == {"office-meter"}
    assert len({r.fields["event_id"] for r in events}) == 1
    (row,) = events  # one incident; both points joined before it was emitted
    assert row.tags["kind"] == "rate" and row.ts == T0 + 20 * step * S
    assert set(str(row.fields["points"]).split(",")) == set(pts)
    lead = row.tags["point"]
    assert row.fields["expected_low"] == pytest.approx(kw[lead], rel=1e-6)
    assert row.fields["expected_high"] == pytest.approx(kw[lead], rel=1e-6)
    assert float(row.fields["seen"]) > cap_kw
    msgs = [msgspec.json.decode(p.payload, type=AnomalyEventMessage) for p in out.publications]
    assert [set(m.points or []) for m in msgs] == [set(pts)]


def test_missing_readings_open_one_gap_event_per_device_and_close_when_back() -> None:
    proc = AnomalyProcessor(Topics("pl"))
    n, step = 8, 10
    rng = np.random.default_rng(3)
    pts = {p: 500 + rng.normal(0, 5, n) for p in ("ac_power", "dc_power", "dc_voltage")}
    proc.process([], device_block(pts, T0, step, "school-pv"))
    last = T0 + (n - 1) * step * S
    assert not proc.check_silence(last + 25 * S).rows  # 2.5 intervals: still waiting
    opened = [r for r in proc.check_silence(last + 31 * S).rows]
    assert len(opened) == 1
    (row,) = opened
    assert (row.tags["kind"], row.fields["state"], row.ts) == ("gap", "open", last)
    assert set(str(row.fields["points"]).split(",")) == set(pts)
    assert not proc.check_silence(last + 40 * S).rows  # already open: nothing new
    back = last + 45 * S
    out = proc.process(
        [], device_block({p: v[:2] for p, v in pts.items()}, back, step, "school-pv")
    )
    closed = [r for r in out.rows if r.measurement == ANOMALY_EVENT]
    assert [(r.fields["state"], r.fields["end"], r.ts) for r in closed] == [("closed", back, last)]
    assert closed[0].fields["event_id"] == row.fields["event_id"]


def test_missing_readings_are_seen_after_two_readings_of_a_declared_poll_interval() -> None:
    """A new installation: the device's poll interval (config) says when readings are due,
    so a device that stops answering after its second poll is a gap without a history."""
    from peakline_core.config import load_config

    proc = real_config_processor()
    poll_s = load_config(Path(__file__).resolve().parents[3] / "config").devices["school-pv"]
    step = int(poll_s.poll_interval_s)
    pts = {p: np.array([500.0, 510.0]) for p in ("ac_power", "dc_power")}
    proc.process([], device_block(pts, T0, step, "school-pv", "rt-school"))
    last = T0 + step * S
    assert not proc.check_silence(last + 3 * step * S).rows
    (row,) = proc.check_silence(last + 3 * step * S + S).rows
    assert (row.tags["device"], row.tags["kind"], row.ts) == ("school-pv", "gap", last)
    assert set(str(row.fields["points"]).split(",")) == set(pts)


def test_a_reading_outside_the_profiles_physical_range_is_an_event_at_once() -> None:
    """No history at all: the profile's `range` (a mains frequency of 250 Hz, a power
    factor of 4.75) is a hard `limit` verdict, one event for the device, saying why."""
    proc = real_config_processor()
    pts = {"frequency": np.array([50.0, 250.0]), "power_factor_total": np.array([0.95, 4.75])}
    out = proc.process([], device_block(pts, T0, 5, "office-meter"))
    (row,) = [r for r in out.rows if r.measurement == ANOMALY_EVENT]
    assert (row.tags["kind"], row.ts) == ("limit", T0 + 5 * S)
    assert set(str(row.fields["points"]).split(",")) == set(pts)
    lead = row.tags["point"]
    bounds = {"frequency": (45.0, 65.0), "power_factor_total": (-1.0, 1.0)}[lead]
    assert (row.fields["expected_low"], row.fields["expected_high"]) == bounds
    assert row.fields["seen"] == pts[lead][1]


def go_live(ups_fault_after_s: float | None = None) -> tuple[AnomalyProcessor, list, int]:
    """The demo's go-live through the processor: two days of readings ~14 minutes apart (the
    backfill's step), then an hour of 10-second polls, of the office's UPS counter (0.1 kWh),
    water meter (0.001 m3) and HVAC temperatures (0.1 degC); optionally the UPS's load x5
    from `ups_fault_after_s` into the live hour. Returns the processor, the live hour's rows
    and the live start (UTC ns)."""
    proc = real_config_processor()
    hist_step, live_step = 864, 10
    hist = np.arange(0, 2 * 86400, hist_step)
    live = hist[-1] + hist_step + np.arange(0, 3600, live_step)
    t_s = np.concatenate([hist, live]).astype(np.float64)

    def counter(rate_per_h: np.ndarray, start: float, step: float) -> np.ndarray:
        total = start + np.cumsum(rate_per_h * np.diff(t_s, prepend=0.0) / 3600)
        return np.floor(total / step + 1e-9) * step

    day = np.sin(2 * np.pi * t_s / 86400)
    ups_kw = np.full(t_s.size, 25.0)
    if ups_fault_after_s is not None:
        ups_kw[t_s >= live[0] + ups_fault_after_s] *= 5
    devices = {
        "office-ups": {"total": counter(ups_kw, 50_000.0, 0.1)},
        "office-dc-water": {"total": counter(0.02 + 0.005 * np.maximum(day, 0), 0.0, 0.001)},
        "office-hvac": {
            "supply_temp": np.round(16 + 2 * day + 0.3 * np.sin(t_s / 3000), 1),
            "zone_temp": np.round(21.5 + 1.2 * day + 0.2 * np.sin(t_s / 5000), 1),
        },
    }
    n_hist = hist.size

    def feed(lo: int, hi: int, step: int) -> list:
        rows = []
        for device, points in devices.items():
            block_ = device_block(
                {p: v[lo:hi] for p, v in points.items()}, T0 + int(t_s[lo]) * S, step, device
            )
            rows += proc.process([], block_).rows
        return rows

    for lo in range(0, n_hist, 8):  # the deriver's catch-up steps through the history
        feed(lo, min(lo + 8, n_hist), hist_step)
    live_rows = []
    for lo in range(n_hist, t_s.size):  # one poll per step
        live_rows += feed(lo, lo + 1, live_step)
    return proc, live_rows, T0 + int(live[0]) * S


def test_going_live_after_the_demos_history_raises_no_events() -> None:
    """The UPS's 0.1 kWh counter then moves by 0 or one step per reading, the water meter's
    0.001 m3 register once in minutes, the HVAC temperatures hold for minutes: none of it is
    an event, every reading still gets its score row, and no series is silent."""
    proc, live_rows, _ = go_live()
    events = [r for r in live_rows if r.measurement == ANOMALY_EVENT]
    assert events == [], [(r.tags, r.fields) for r in events]
    scores = [r for r in live_rows if r.measurement == ANOMALY_SCORE]
    assert len(scores) == 360 * 4
    last = max(r.ts for r in scores)
    assert not proc.check_silence(last + 15 * S).rows


def test_a_live_change_of_load_after_go_live_is_one_event_saying_the_rate_seen() -> None:
    """The UPS's load x5 (125 kW, under the site's cap: no hard verdict) 40 minutes into the
    live hour: one event within two minutes, its expected and seen rates in kW from the
    counter's modelled rate (over the anchor span that showed it, partly before the change),
    not from one 10-second step (a multiple of 36 kW)."""
    fault_s = 40 * 60
    _, live_rows, live_start = go_live(fault_s)
    events = [r for r in live_rows if r.measurement == ANOMALY_EVENT]
    assert {(r.tags["device"], r.tags["point"]) for r in events} == {("office-ups", "total")}
    first = min(events, key=lambda r: r.ts)
    fault = live_start + fault_s * S
    assert fault <= first.ts <= fault + 120 * S
    low, high = float(first.fields["expected_low"]), float(first.fields["expected_high"])
    assert 24.0 <= low <= high <= 26.0
    seen = float(first.fields["seen"])
    assert high + 5 < seen < 1.1 * 125.0
    assert min(abs(seen - 36.0 * k) for k in range(5)) > 1.0


def test_a_commanded_setpoint_is_judged_by_its_limits_only() -> None:
    """The profile's writable setpoint moved by a command after days at 21 degC opens no
    event (its value is an order); the same readings on the zone temperature, a measured
    point, do; a setpoint beyond its writable limits is a `limit` event."""
    proc = real_config_processor()
    n, step = 3 * 288 + 24, 300
    history = np.full(n, 21.0)
    history[3 * 288 :] = 26.0  # the command, within the 16-28 degC limits
    pts = {"setpoint": history, "zone_temp": history.copy()}
    out = proc.process([], device_block(pts, T0, step, "school-hvac", site="rt-school"))
    events = [r for r in out.rows if r.measurement == ANOMALY_EVENT]
    assert {r.tags["point"] for r in events} == {"zone_temp"}
    # (read at the same poll as the command: an incident that command explains, issue 18)
    assert {r.fields["cause_point"] for r in events} == {"setpoint"}
    beyond = {"setpoint": np.array([26.0, 35.0]), "zone_temp": np.array([26.0, 26.0])}
    t1 = T0 + n * step * S
    out = proc.process([], device_block(beyond, t1, step, "school-hvac", site="rt-school"))
    (row,) = [r for r in out.rows if r.measurement == ANOMALY_EVENT]
    assert (row.tags["point"], row.tags["kind"]) == ("setpoint", "limit")
    assert (row.fields["expected_low"], row.fields["expected_high"]) == (16.0, 28.0)
    assert row.fields["cause_ns"] == 0  # a hard verdict is a fault whatever was ordered


def test_a_glitch_on_a_meter_is_led_by_a_measured_value_not_a_counter() -> None:
    """One poll reads x5 on a meter's power and its energy counter: one incident, led by
    the power's limit verdict (whose why reads "expected at most 60,000 W"), not the
    counter's (an implied power of hundreds of MW), though the counter's key sorts first."""
    n = 1500
    power = series_values(n, None, 3)
    energy = 1000 + np.cumsum(power) * STEP / 3600 / 1000  # kWh
    power[1400:1403] *= 5
    energy[1400:1403] *= 5
    proc = AnomalyProcessor(Topics("pl"))
    proc.engine.register_series("s1/m1/a_energy", counter=True, max_rate=60 / 3600)
    proc.engine.register_series("s1/m1/power_total", upper=60_000)
    series = [{"site": "s1", "device": "m1", "point": p} for p in ("a_energy", "power_total")]
    idx = np.repeat(np.arange(2, dtype=np.intp), n)
    ts = np.tile(T0 + np.arange(n, dtype=np.int64) * STEP * S, 2)
    value = np.concatenate([energy, power])
    quality = np.zeros(2 * n, np.int64)
    out = proc.process([], RowBlock(READING, series, idx, {"value": value, "quality": quality}, ts))
    events = [r for r in out.rows if r.measurement == ANOMALY_EVENT]
    assert {r.tags["point"] for r in events} == {"power_total"}, events
    assert {r.fields["points"] for r in events} == {"power_total,a_energy"}
    assert {r.tags["kind"] for r in events} == {"limit"}
