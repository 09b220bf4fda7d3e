"""Incidents explained by a command (issue 18): a change of a writable point's value on a
device explains the statistical incidents of that device starting within the settle time,
through the real profiles (hvac-controller's setpoint), whatever the batch split or restart;
and the expected range of a spike event is the spike model's band."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest

from peakline_core.storage import Row
from peakline_core.storage.schema import ANOMALY_EVENT
from peakline_core.wire import AnomalyEventMessage, Topics
from peakline_ingest.processors_anomaly import AnomalyProcessor, register_profiles
from tests.unit.ingest.test_processors_anomaly import T0, block, device_block, series_values

S = 1_000_000_000
STEP = 300
DAYS = 3
CONFIG = Path(__file__).resolve().parents[3] / "config"


def processor(state_dir: Path | None = None) -> AnomalyProcessor:
    from peakline_core.config import load_config

    if state_dir is not None:
        return AnomalyProcessor.restore(Topics("pl"), state_dir, load_config(CONFIG))
    proc = AnomalyProcessor(Topics("pl"))
    register_profiles(proc.engine, load_config(CONFIG))
    return proc


def hvac(
    dr_at: int, dr_s: int = 7200, fall_after_s: int = 0, n_after: int = 48
) -> dict[str, np.ndarray]:
    """Days of an office HVAC at 5-minute polls heating at ~150 kW with its setpoint at 21.0
    degC, then a DR event from poll `dr_at`: the setpoint 19.0 for `dr_s` and the heating
    power at ~11 kW from `fall_after_s` after the command for the event's rest."""
    n = DAYS * 288 + n_after
    rng = np.random.default_rng(11)
    t_s = np.arange(n) * STEP
    power = 150_000 + 8_000 * np.sin(2 * np.pi * t_s / 86400) + rng.normal(0, 2_000, n)
    setpoint = np.full(n, 21.0)
    on = (t_s >= dr_at * STEP) & (t_s < dr_at * STEP + dr_s)
    setpoint[on] = 19.0
    fell = on & (t_s >= dr_at * STEP + fall_after_s)
    power[fell] = 10_880 + rng.normal(0, 100, int(fell.sum()))
    return {"setpoint": setpoint, "heating_power": power}


def feed(
    proc: AnomalyProcessor, pts: dict[str, np.ndarray], cuts: list[int], device: str
) -> list[Row]:
    """The readings in batches cut at the poll indices `cuts`."""
    n = len(next(iter(pts.values())))
    rows: list[Row] = []
    for lo, hi in zip([0, *cuts], [*cuts, n], strict=True):
        part = {p: v[lo:hi] for p, v in pts.items()}
        rows += proc.process([], device_block(part, T0 + lo * STEP * S, STEP, device)).rows
    return rows


def events(rows: list[Row]) -> list[Row]:
    return [r for r in rows if r.measurement == ANOMALY_EVENT]


def last_rows(rows: list[Row]) -> dict[tuple[object, ...], dict[str, object]]:
    """What the store holds after the rows: each event's fields, the last write winning."""
    stored: dict[tuple[object, ...], dict[str, object]] = {}
    for r in events(rows):
        stored.setdefault((r.ts, *sorted(r.tags.items())), {}).update(r.fields)
    return stored


DR_AT = DAYS * 288 + 12  # 01:00 on the fourth day


def test_an_incident_after_a_setpoint_change_is_explained_by_it() -> None:
    """The heating power falls from ~150 kW to 11 kW as the setpoint goes 21.0 -> 19.0: the
    device's incident is stored, with its cause, and its message says it too; the return to
    21.0 two hours later is a command as well."""
    proc = processor()
    rows = feed(proc, hvac(DR_AT), [DAYS * 288], "office-hvac")
    stored = last_rows(rows)
    assert stored, "the fall opened no event at all"
    t0 = T0 + DR_AT * STEP * S
    for (ts, *_), fields in stored.items():
        assert t0 <= ts <= t0 + 1800 * S
        assert fields["cause_ns"] == t0
        assert (fields["cause_point"], fields["cause_from"], fields["cause_to"]) == (
            "setpoint",
            21.0,
            19.0,
        )
    back = T0 + (DR_AT + 24) * STEP * S
    assert [c.ts_ns for c in proc.commands.changes["rt-office/office-hvac"]] == [t0, back]


def test_the_message_carries_the_cause() -> None:
    proc = processor()
    pts = hvac(DR_AT)
    feed(proc, {p: v[: DAYS * 288] for p, v in pts.items()}, [], "office-hvac")
    rest = {p: v[DAYS * 288 :] for p, v in pts.items()}
    out = proc.process([], device_block(rest, T0 + DAYS * 288 * STEP * S, STEP, "office-hvac"))
    msgs = [msgspec.json.decode(p.payload, type=AnomalyEventMessage) for p in out.publications]
    assert msgs
    t0 = T0 + DR_AT * STEP * S
    assert {(m.cause_point, m.cause_from, m.cause_to, m.cause_at) for m in msgs} == {
        ("setpoint", 21.0, 19.0, t0)
    }


def test_a_fall_after_the_settle_time_or_on_another_device_is_not_explained() -> None:
    """The same fall 40 minutes after the setpoint changed (settle time 30 minutes), or with
    the setpoint of another device changed: an ordinary incident (cause_ns 0)."""
    late = processor()
    stored = last_rows(feed(late, hvac(DR_AT, fall_after_s=2400), [DAYS * 288], "office-hvac"))
    assert stored and all(f["cause_ns"] == 0 for f in stored.values())
    assert all("cause_point" not in f for f in stored.values())

    other = processor()
    pts = hvac(DR_AT)
    school = {"setpoint": pts["setpoint"]}
    office = {"heating_power": pts["heating_power"]}
    rows: list[Row] = []
    for lo in range(0, len(pts["setpoint"]), 96):
        t = T0 + lo * STEP * S
        for device, part in (("school-hvac", school), ("office-hvac", office)):
            site = "rt-school" if device == "school-hvac" else "rt-office"
            sl = {p: v[lo : lo + 96] for p, v in part.items()}
            rows += other.process([], device_block(sl, t, STEP, device, site)).rows
    stored = last_rows(rows)
    assert stored and all(f["cause_ns"] == 0 for f in stored.values())
    assert other.commands.changes.keys() == {"rt-school/school-hvac"}


@pytest.mark.parametrize("cuts", [[DAYS * 288], [DAYS * 288, DR_AT, DR_AT + 1], [DR_AT + 3]])
def test_any_batch_split_and_a_restart_give_the_same_stored_events(
    tmp_path: Path, cuts: list[int]
) -> None:
    """One batch for the history and one after, or a batch boundary on either side of the
    command's poll, or a restart (state saved and loaded) just after the command: the same
    stored event rows."""
    pts = hvac(DR_AT)
    want = last_rows(feed(processor(), pts, [DAYS * 288], "office-hvac"))
    assert want
    per_poll = [DAYS * 288 + i for i in range(1, 48)]
    assert last_rows(feed(processor(), pts, [*cuts, *per_poll[per_poll.index(DR_AT + 4) :]],
                          "office-hvac")) == want  # fmt: skip
    first = processor(tmp_path)
    rows = feed(first, {p: v[: DR_AT + 1] for p, v in pts.items()}, cuts[:1], "office-hvac")
    first.close()
    second = processor(tmp_path)
    rest = {p: v[DR_AT + 1 :] for p, v in pts.items()}
    t = T0 + (DR_AT + 1) * STEP * S
    rows += second.process([], device_block(rest, t, STEP, "office-hvac")).rows
    assert last_rows(rows) == want


def test_a_reading_of_the_same_poll_stamped_before_the_setpoint_is_explained() -> None:
    """The registers of one poll are stamped block by block: the power read 5 ms before the
    setpoint that first shows the command, with a batch boundary between them."""
    proc = processor()
    pts = hvac(DR_AT)
    feed(proc, {p: v[:DR_AT] for p, v in pts.items()}, [DAYS * 288], "office-hvac")
    t0 = T0 + DR_AT * STEP * S
    power = {"heating_power": pts["heating_power"][DR_AT : DR_AT + 1]}
    rows = proc.process([], device_block(power, t0 - 5_000_000, STEP, "office-hvac")).rows
    setpoint = {"setpoint": pts["setpoint"][DR_AT : DR_AT + 1]}
    rows += proc.process([], device_block(setpoint, t0, STEP, "office-hvac")).rows
    rest = {p: v[DR_AT + 1 :] for p, v in pts.items()}
    rows += proc.process([], device_block(rest, t0 + STEP * S, STEP, "office-hvac")).rows
    stored = last_rows(rows)
    assert stored
    assert [f["cause_ns"] for f in stored.values()] == [t0] * len(stored)


def test_a_spike_events_expected_range_is_the_spike_models_band() -> None:
    """'expected 120 to 175 kW, saw 10.9 kW' must read true: the band excludes the value
    seen and holds the series' normal level (not the range it has held, which the fall to
    11 kW of a ~150 kW load may lie inside)."""
    proc = AnomalyProcessor(Topics("pl"))
    values = series_values(1500, 1400)
    rows = proc.process([], block({"m2": values}, T0, 120)).rows
    (first, *_) = sorted(events(rows), key=lambda r: r.ts)
    assert first.tags["kind"] == "spike"
    low, high = float(first.fields["expected_low"]), float(first.fields["expected_high"])
    seen = float(first.fields["seen"])
    assert not low <= seen <= high
    normal = values[1390:1400]
    assert low < normal.min() and normal.max() < high
    held = (values[:1400].min(), values[:1400].max())
    assert (low, high) != held and high - low < held[1] - held[0]
