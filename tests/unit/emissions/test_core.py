"""Unit tests: counters and power, intensity parsing, factor data, targets, reports."""

from __future__ import annotations

import json

import numpy as np
import pytest

from peakline_core.emissions import (
    CarbonIntensitySeries,
    EmissionFactorSet,
    FactorBook,
    FactorNotFound,
    IntensityParseError,
    SiteMarket,
    TargetTrajectory,
    compute_emissions,
    group_reports,
    integrate_power,
    interval_energy_from_counter,
    parse_intensity_csv,
    parse_intensity_message,
    site_flows,
    site_reports,
    track,
)
from peakline_core.emissions.scope2 import MarketInstrument

Q = 900_000_000_000  # 15 min in ns


def test_counter_gap_is_spread_and_reset_counts_from_zero() -> None:
    ts = np.arange(8) * Q
    e = interval_energy_from_counter(ts, [[0, 1, 2, np.nan, np.nan, 8, 3, 4]])
    assert e.tolist() == [[1, 1, 2, 2, 2, 3, 1]]
    dropped = interval_energy_from_counter(
        ts, [[0, 1, 2, np.nan, np.nan, 8, 3, 4]], on_reset="drop"
    )
    assert np.isnan(dropped[0, 5]) and dropped[0, 6] == 1


def test_counter_replacement_break_and_implausible_jump() -> None:
    ts = np.arange(4) * Q
    breaks = np.array([[False, False, True, False]])
    e = interval_energy_from_counter(ts, [[10, 11, 500, 501]], breaks=breaks, on_reset="drop")
    assert np.isnan(e[0, 1]) and e[0, 0] == 1 and e[0, 2] == 1
    capped = interval_energy_from_counter(ts, [[10, 11, 500, 501]], max_kw=100)
    assert np.isnan(capped[0, 1])  # 489 kWh in 15 min is 1956 kW


def test_integrate_power_trapezoid_and_gap() -> None:
    ts = np.array([0, Q, 2 * Q, 10 * Q])
    e = integrate_power(ts, [[4.0, 8.0, 8.0, 8.0]], max_gap_s=3600)
    assert e[0, :2].tolist() == [1.5, 2.0] and np.isnan(e[0, 2])


def test_intensity_csv_and_message() -> None:
    text = (
        "timestamp,intensity_g_per_kwh\n2024-01-01T00:00:00Z,500\n2024-01-01T01:00:00+00:00,300\n"
    )
    pts = parse_intensity_csv(text, region="CN-EAST")
    series = CarbonIntensitySeries.from_points("CN-EAST", pts)
    t0 = pts[0].ts_ns
    got = series.kg_per_kwh_at([t0 - Q, t0, t0 + 3 * Q, t0 + 4 * Q, t0 + 40 * Q], 0.55)
    assert got.tolist() == [0.55, 0.5, 0.5, 0.3, 0.55]
    msg = parse_intensity_message(json.dumps({"region": "US", "ts": t0, "intensity_g_per_kwh": 1}))
    assert (msg.region, msg.ts_ns, msg.g_per_kwh) == ("US", t0, 1.0)
    for bad, reason in [
        (b"{", "bad_json"),
        (b"[]", "bad_shape"),
        (b'{"region": "US", "ts": 1}', "missing_field"),
        (b'{"region": "US", "ts": "2024-01-01T00:00", "intensity_g_per_kwh": 1}', "bad_ts"),
        (b'{"region": "US", "ts": 1, "intensity_g_per_kwh": -3}', "bad_value"),
    ]:
        with pytest.raises(IntensityParseError) as err:
            parse_intensity_message(bad)
        assert err.value.reason == reason
    with pytest.raises(IntensityParseError, match="line 3"):
        parse_intensity_csv("ts,g_per_kwh,region\n1,2,A\nx,2,A\n")


def test_every_shipped_factor_has_provenance(factor_sets: list[EmissionFactorSet]) -> None:
    assert {s.id for s in factor_sets} >= {"cn-mee-2023", "us-egrid2022", "ipcc-2006-natural-gas"}
    for s in factor_sets:
        for f in s.factors:
            prov = f.provenance or s.provenance
            assert prov.publisher and prov.document and prov.year
            assert prov.verified or prov.notes, f"{s.id}/{f.region}: unverified without a note"


def test_factor_book_fallbacks(book: FactorBook) -> None:
    assert book.lookup("US-NEWE", "location").region == "US-NEWE"
    assert book.lookup("US-ZZZZ", "location").region == "US"  # unknown subregion: the U.S.
    assert book.location_factor("CN-EAST", 2022) == 0.5617
    assert book.location_factor("CN-EAST", 2030) == 0.55  # latest not after 2030
    assert book.location_factor("CN-EAST", 2000) == 0.5617  # earliest when none before
    assert book.residual("US", 2022).fallback == "location"
    with pytest.raises(FactorNotFound):
        book.lookup("MARS", "location")


def test_factor_unit_must_name_its_gas() -> None:
    with pytest.raises(ValueError, match="is for CO2"):
        EmissionFactorSet.model_validate(
            {
                "id": "x",
                "name": "x",
                "provenance": {"publisher": "p", "document": "d", "year": 2020},
                "factors": [
                    {
                        "region": "R",
                        "value": 1,
                        "unit": "kgCO2/kWh",
                        "gas": "CH4",
                        "kind": "location",
                    }
                ],
            }
        )


def test_target_trajectory_and_projection() -> None:
    t = TargetTrajectory(
        base_year=2020, baseline_kgco2e=1000, peak_year=2025, reduction_per_year=0.1
    )
    assert t.cap(2024) == 1000 and t.cap(2027) == pytest.approx(810.0)
    s = track(t, 2027, to_date_kgco2e=450.0, elapsed_fraction=0.5)
    assert s.projected_kgco2e == 900 and not s.on_track and s.gap_kgco2e == pytest.approx(90)
    assert track(t, 2027, 450.0, 0.5, expected_share_to_date=0.6).on_track


class _Site:
    def __init__(self, id: str, region: str, area: float, occupants: int) -> None:
        self.id, self.grid_region, self.floor_area_m2 = id, region, area
        self.occupants, self.timezone = occupants, "Asia/Shanghai"


def test_compute_and_reports_side_by_side(book: FactorBook) -> None:
    sites = [_Site("a", "CN-EAST", 1000.0, 10), _Site("b", "CN-EAST", 3000.0, 30)]
    ts = np.datetime64("2023-12-31T16:00", "ns").astype(np.int64) + np.arange(96 * 2) * Q
    imports = np.full((2, ts.size), 1.0)
    flows = site_flows(imports, grid_export=np.zeros_like(imports), pv=np.zeros_like(imports))
    market = SiteMarket(instruments=[MarketInstrument(kind="certificate", mwh=0.1, year=2024)])
    series = compute_emissions(
        ts, sites, flows, book, 2024, markets=[market, None], gas_kwh=np.zeros_like(imports)
    )
    assert set(series.emission_series()) >= {("2", "location"), ("2", "market")}
    reports = site_reports(series, sites, "day")
    assert [r.period for r in reports[:2]] == ["2024-01-01", "2024-01-02"]
    a = reports[0]
    assert a.totals.scope2_location_kg == pytest.approx(96 * 0.55)
    assert a.totals.scope2_market_kg == 0.0  # 100 kWh of certificates cover day 1
    assert reports[1].totals.scope2_market_kg == pytest.approx(92 * 0.6096)  # 4 kWh left
    district = group_reports(reports, {"a": "d1", "b": "d1"}, "district")
    assert len(district) == 2 and district[0].floor_area_m2 == 4000.0
    d = district[0].as_dict()
    assert d["intensity"]["kgco2e_per_m2"]["location"] == pytest.approx(2 * 96 * 0.55 / 4000)
    assert district[0].coverage == 1.0
