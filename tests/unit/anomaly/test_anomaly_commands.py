"""Commands in the readings (issue 18): a change of a writable point's value is a command;
an incident of the device's statistical detectors starting in its settle time is explained
by it, a hard verdict or another device's incident is not; the trail survives JSON and is
the same whatever the order and split of the readings. And the spike and seasonal bands are
the values the models score under 0.5."""

from __future__ import annotations

import json

import numpy as np

from peakline_core.anomaly import AnomalyEngine, AnomalyEvent, IncidentBook
from peakline_core.anomaly.bands import t_at_z
from peakline_core.anomaly.commands import CommandChange, CommandTrail
from peakline_core.anomaly.kernel import t_to_z

S = 1_000_000_000
T0 = 1_736_121_600 * S
SP = "s1/hvac/setpoint"


def readings(
    *pairs: tuple[float, float], key: str = SP
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(seconds after T0, value) pairs of one series."""
    ts = np.asarray([T0 + int(t * S) for t, _ in pairs], np.int64)
    return [key] * len(pairs), ts, np.asarray([v for _, v in pairs])


def test_a_change_of_value_is_a_command_and_the_first_reading_is_not() -> None:
    trail = CommandTrail(settle_s=1800)
    assert trail.note(*readings((0, 21.0), (10, 21.0))) == []
    found = trail.note(*readings((20, 19.0), (30, 19.0), (40, 21.0)))
    assert found == [
        ("s1/hvac", CommandChange("setpoint", 21.0, 19.0, T0 + 20 * S)),
        ("s1/hvac", CommandChange("setpoint", 19.0, 21.0, T0 + 40 * S)),
    ]
    # a redelivered or older reading changes nothing
    assert trail.note(*readings((25, 17.0), (40, 16.0))) == []
    assert trail.cause("s1/hvac", T0 + 30 * S) == found[0][1]
    assert trail.cause("s1/hvac", T0 + 45 * S) == found[1][1]  # the latest that covers it
    assert trail.cause("s1/hvac", T0 + 18 * S) is None  # before the command (and its skew)
    assert trail.cause("s1/hvac", T0 + 20 * S - S // 2) == found[0][1]  # same poll, earlier
    assert trail.cause("s1/hvac", T0 + (40 + 1801) * S) is None  # settled
    assert trail.cause("s1/other", T0 + 30 * S) is None


def test_the_trail_is_the_same_for_any_order_split_and_a_json_round_trip() -> None:
    rng = np.random.default_rng(4)
    n = 200
    values = np.repeat(rng.choice([19.0, 20.0, 21.0], n // 5), 5)
    keys = [SP] * n + ["s1/hvac/mode"] * n
    ts = np.concatenate([T0 + np.arange(n) * 10 * S] * 2)
    vals = np.concatenate([values, np.roll(values, 7)])
    whole = CommandTrail()
    whole.note(keys, ts, vals)
    shuffled = rng.permutation(2 * n)
    parts = CommandTrail()
    for cut in np.array_split(shuffled[np.argsort(ts[shuffled], kind="stable")], 9):
        state = json.loads(json.dumps(parts.to_json()))
        parts = CommandTrail.from_json(state)
        parts.note([keys[i] for i in cut], ts[cut], vals[cut])
    assert parts.to_json() == whole.to_json()
    assert len(whole.changes["s1/hvac"]) == whole.keep  # the latest, bounded


def ev(point: str, kind: str, start_s: float) -> AnomalyEvent:
    return AnomalyEvent(f"s1/hvac/{point}", kind, T0 + int(start_s * S), None, 0.9, "open")


def test_statistical_incidents_in_the_settle_time_are_explained_hard_verdicts_are_not() -> None:
    trail = CommandTrail(settle_s=1800)
    trail.note(*readings((0, 21.0), (60, 19.0)))
    book = IncidentBook()
    [(spike, _)] = book.fold([ev("heating_power", "spike", 70)], trail.cause)
    assert spike.cause == CommandChange("setpoint", 21.0, 19.0, T0 + 60 * S)
    [(late, _)] = book.fold([ev("zone_temp", "drift", 60 + 1900)], trail.cause)
    assert late.cause is None
    [(limit, _)] = book.fold([ev("supply_temp", "limit", 5000)], trail.cause)
    trail.note(*readings((4990, 21.0)))
    assert trail.cause("s1/hvac", T0 + 5000 * S) is not None
    [(hard, _)] = book.fold([ev("power", "limit", 5001)], trail.cause)
    assert hard.cause is None
    # a hard verdict joining an explained incident takes the explanation away, for good
    trail.note(*readings((9000, 19.0)))
    [(inc, _)] = book.fold([ev("heating_power", "spike", 9005)], trail.cause)
    assert inc.cause is not None
    [(inc, _)] = book.fold([ev("power", "rate", 9006)], trail.cause)
    assert inc.cause is None and not inc.explainable
    assert book.explain(["s1/hvac"], trail.cause) == []
    # and the book keeps causes across a restart
    again = IncidentBook.from_json(json.loads(json.dumps(book.to_json())))
    assert [(i.start_ns, i.cause, i.explainable) for i in again.incidents()] == [
        (i.start_ns, i.cause, i.explainable) for i in book.incidents()
    ]
    assert any(i.cause is not None for i in again.incidents())
    assert limit.cause is None


def test_an_incident_folded_before_its_command_was_read_is_explained_when_it_is() -> None:
    trail = CommandTrail(settle_s=1800)
    trail.note(*readings((0, 21.0)))
    book = IncidentBook()
    [(inc, _)] = book.fold([ev("heating_power", "spike", 59.995)], trail.cause)
    assert inc.cause is None
    changes = trail.note(*readings((60, 19.0)))
    [explained] = book.explain({g for g, _ in changes}, trail.cause)
    assert explained.cause == changes[0][1] and explained.start_ns == inc.start_ns


def test_t_at_z_inverts_the_kernels_student_t_map() -> None:
    dof = np.asarray([1.0, 2.0, 5.0, 30.0, 500.0])
    assert np.allclose(t_to_z(t_at_z(6.0, dof), dof), 6.0)


def test_the_spike_band_is_what_the_spike_model_scores_under_half() -> None:
    """Three days of a load at 5-minute steps: a reading 3 % of the band's half-width inside
    its edge is no spike alarm, 3 % outside is one (score >= 0.5 named spike), both ways."""
    rng = np.random.default_rng(5)
    n, step = 3 * 288, 300
    t = T0 + np.arange(n, dtype=np.int64) * step * S
    v = 150_000 + 20_000 * np.sin(2 * np.pi * np.arange(n) * step / 86400)
    v += rng.normal(0, 3_000, n)
    engine = AnomalyEngine()
    engine.score(["k"], t[None, :], v[None, :])
    state = engine.save()
    at = int(t[-1]) + step * S
    ex = engine.expectations(["k"], np.asarray([at])).get("k")
    assert ex is not None and ex.spike_low is not None and ex.spike_high is not None
    assert ex.spike_low < v[-1] < ex.spike_high
    centre, half = (ex.spike_low + ex.spike_high) / 2, (ex.spike_high - ex.spike_low) / 2
    for side in (-1, 1):
        inside, outside = AnomalyEngine.load(state), AnomalyEngine.load(state)
        b_in = inside.score(["k"], np.asarray([[at]]), np.asarray([[centre + side * 0.97 * half]]))
        b_out = outside.score(
            ["k"], np.asarray([[at]]), np.asarray([[centre + side * 1.03 * half]])
        )
        assert not (b_in.score[0, 0] >= 0.5 and b_in.detector_names()[0, 0] == "spike")
        assert b_out.score[0, 0] >= 0.5 and b_out.detector_names()[0, 0] == "spike"


def test_the_seasonal_band_holds_the_hours_profile() -> None:
    """Five weeks of a daily shape: the seasonal band for 14:00 holds what 14:00 reads and
    not what 02:00 reads; a fresh series has none."""
    n, step = 35 * 24, 3600
    hours = np.arange(n)
    v = 100.0 + 50.0 * (hours % 24 >= 8) * (hours % 24 < 18)
    v = v + np.random.default_rng(2).normal(0, 2.0, n)
    t = T0 + hours.astype(np.int64) * step * S
    engine = AnomalyEngine()
    engine.score(["k"], t[None, :], v[None, :])
    day = (int(t[-1]) // (86400 * S) + 1) * 86400 * S
    while ((day // (86400 * S)) + 3) % 7 >= 5:  # a weekday (1970-01-01 was a Thursday)
        day += 86400 * S
    ex = engine.expectations(["k", "new"], np.asarray([day + 14 * 3600 * S] * 2))
    got = ex.get("k")
    assert got is not None and got.season_low is not None and got.season_high is not None
    assert got.season_low < 150.0 < got.season_high
    assert not got.season_low < 100.0
    fresh = ex.get("new")
    assert fresh is not None and fresh.season_low is None and fresh.spike_low is None


def test_an_events_range_is_its_detectors_within_the_physical_limits() -> None:
    from peakline_core.anomaly import SeriesExpectation

    ex = SeriesExpectation(low=0.0, high=180.0, lower=0.0, upper=200.0, counter=False,
                           last_ts=None, last_raw=np.nan, spike_low=-5.0, spike_high=250.0,
                           season_low=100.0, season_high=160.0)  # fmt: skip
    assert ex.range_of("spike") == (0.0, 200.0)
    assert ex.range_of("seasonal") == (100.0, 160.0)
    assert ex.range_of("novelty") == ex.range_of("drift") == (0.0, 180.0)
    assert ex.range_of("limit") == (0.0, 200.0)
    young = SeriesExpectation(low=1.0, high=2.0, lower=-np.inf, upper=np.inf, counter=True,
                              last_ts=None, last_raw=np.nan)  # fmt: skip
    assert young.range_of("spike") == (1.0, 2.0)  # no band yet: the range held
    rate = SeriesExpectation(low=1.0, high=2.0, lower=0.0, upper=100.0, counter=True,
                             last_ts=None, last_raw=np.nan, spike_low=-0.3,
                             spike_high=250.0)  # fmt: skip
    assert rate.range_of("spike") == (0.0, 250.0)  # a rate, not the register's limits
    # a meter that has never read below zero (no declared limits) is not expected to
    importer = SeriesExpectation(low=12_000.0, high=180_000.0, lower=-np.inf, upper=np.inf,
                                 counter=False, last_ts=None, last_raw=np.nan,
                                 spike_low=-80_547.0, spike_high=327_788.0)  # fmt: skip
    assert importer.range_of("spike") == (0.0, 327_788.0)
    exporter = SeriesExpectation(low=-5_000.0, high=-10.0, lower=-np.inf, upper=np.inf,
                                 counter=False, last_ts=None, last_raw=np.nan,
                                 spike_low=-7_000.0, spike_high=900.0)  # fmt: skip
    assert exporter.range_of("spike") == (-7_000.0, 0.0)
    both = SeriesExpectation(low=-50.0, high=180_000.0, lower=-np.inf, upper=np.inf,
                             counter=False, last_ts=None, last_raw=np.nan,
                             spike_low=-80_547.0, spike_high=327_788.0)  # fmt: skip
    assert both.range_of("spike") == (-80_547.0, 327_788.0)  # it has crossed zero before
