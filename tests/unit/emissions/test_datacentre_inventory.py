"""PUE/WUE on known inputs and the inventory report model (totals, biogenic apart,
completeness shares, roll-up, JSON and CSV)."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from peakline_core.emissions import (
    EmissionFactorSet,
    EmissionsTotals,
    FactorBook,
    FuelBlock,
    Inventory,
    InventoryMethods,
    Scope2Line,
    combine,
    combustion_lines,
    completeness,
    data_centre_metrics,
    electricity_line,
    fugitive_refrigerants,
    refrigerant_line,
    scope1_combustion,
)
from peakline_core.emissions.errors import EmissionsError, ShapeError


def test_pue_hourly_and_period() -> None:
    """Facility 150, 120, NaN, 80 kWh over IT 100, 100, 50, 100 kWh: hourly PUE 1.5, 1.2,
    none (facility missing), none (facility below IT: a metering fault, counted suspect).
    Period PUE = (150 + 120) / (100 + 100) = 1.35 (ratio of sums, not mean of 1.5 and 1.2).
    Second site: a constant PUE of 1.25 over 4 hours."""
    fac = [[150.0, 120.0, np.nan, 80.0], [125.0, 125.0, 250.0, 62.5]]
    it = [[100.0, 100.0, 50.0, 100.0], [100.0, 100.0, 200.0, 50.0]]
    m = data_centre_metrics(fac, it)
    np.testing.assert_allclose(m.pue[0], [1.5, 1.2, np.nan, np.nan])
    np.testing.assert_allclose(m.pue_period, [1.35, 1.25])
    assert list(m.intervals_used) == [2, 4]
    assert list(m.suspect) == [1, 0]
    assert m.wue is None and m.wue_period is None
    np.testing.assert_allclose(m.it_kwh, [200.0, 450.0])


def test_wue_litres_per_it_kwh() -> None:
    """Water 180 L and 20 L over IT 100 and 100 kWh: WUE 1.8 and 0.2 L/kWh per hour, 1.0
    for the two hours; an hour without a water reading is left out, not counted as 0."""
    m = data_centre_metrics([[130.0, 130.0, 130.0]], [[100.0] * 3], [[180.0, 20.0, np.nan]])
    assert m.wue is not None and m.wue_period is not None
    np.testing.assert_allclose(m.wue[0], [1.8, 0.2, np.nan])
    assert m.wue_period[0] == pytest.approx(1.0)
    with pytest.raises(ShapeError):
        data_centre_metrics([[1.0, 2.0]], [[1.0]])


def test_electricity_line_from_totals() -> None:
    t = EmissionsTotals(import_kwh=1000.0, scope2_location_kg=550.0, scope2_market_kg=609.6)
    line = electricity_line(t, "cn-mee-2023", "CO2")
    assert (line.carrier, line.energy_kwh, line.location_kg, line.market_kg) == (
        "electricity",
        1000.0,
        550.0,
        609.6,
    )


def test_completeness_from_quality_codes() -> None:
    """Codes per hour: 0 measured, 1 estimated, 2 imported, anything else missing."""
    c = completeness(["m1", "m2"], [[0, 0, 0, 1], [2, 3, 3, 0]])
    assert (c[0].measured, c[0].estimated, c[0].missing) == (3, 1, 0)
    assert c[1].shares() == {"measured": 0.25, "estimated": 0.0, "imported": 0.25, "missing": 0.5}


@pytest.fixture
def site_inventory(factor_sets: list[EmissionFactorSet]) -> Inventory:
    """A hospital in Riverton, 2026, China's method: gas boilers 1,000 m3, a wood-pellet
    boiler 1 t (falls back to IPCC, biogenic), a chiller with 30 kg R-410A top-ups and an
    R-22 unit with 2 kg, 1,000 MWh of grid power (0.5500 location, 0.6096 market) and
    1,000 GJ of district heat at 0.11 tCO2/GJ."""
    book = FactorBook(factor_sets, gwp="AR5", fuel_method="china")
    factors = [book.combustion("natural_gas"), book.combustion("wood")]
    units = ["m3", "t"]
    activity = [[600.0, 400.0], [0.5, 0.5]]
    burned = scope1_combustion(activity, FuelBlock.from_factors(factors, units))
    s1 = combustion_lines(factors, units, activity, burned)
    leaks = fugitive_refrigerants(["R-410A", "R-22"], [300.0, 10.0], [30.0, 2.0], "AR5")
    return Inventory(
        level="site",
        entity_id="rt-hospital",
        year=2026,
        methods=InventoryMethods("AR5", "china", factor_sets=("cn-ghg-guidelines-fuels",)),
        scope1=(*s1, refrigerant_line(leaks, "AR5")),
        scope2=(
            Scope2Line("electricity", 1_000_000.0, 550_000.0, 609_600.0, "cn-mee-2023", "CO2"),
            Scope2Line("heat", 277_777.78, 110_000.0, 110_000.0, "cn-ghg-guidelines-fuels", "CO2"),
        ),
        meters=completeness(["gas", "power"], [[0] * 8 + [1] * 2, [0] * 9 + [3]]),
        floor_area_m2=20_000.0,
        population=None,
        avoided_kg={"refrigerant_retrofit": 44_165.0},
    )


def test_inventory_totals_and_biogenic_apart(site_inventory: Inventory) -> None:
    """Scope 1 = gas 2,162.19 (CO2 only) + wood CH4/N2O 147.576 + R-410A 57,705
    = 60,014.765 kgCO2e; biogenic CO2 1,747.2 kg and R-22 3,520 kgCO2e apart.
    Location = 60,014.765 + 550,000 + 110,000 = 720,014.765; market = ... + 609,600 +
    110,000 = 779,614.765; per m2 / 20,000."""
    inv = site_inventory
    by_source = inv.scope1_by_source()
    assert by_source["natural_gas"] == pytest.approx(2162.188809, rel=1e-9)
    assert by_source["wood"] == pytest.approx(147.576, rel=1e-9)
    assert by_source["refrigerants"] == pytest.approx(57_705.0)
    s1 = 2162.188809 + 147.576 + 57_705.0
    assert inv.scope1_kg == pytest.approx(s1, rel=1e-9)
    assert inv.biogenic_co2_kg == pytest.approx(1747.2)
    assert inv.non_kyoto_co2e_kg == pytest.approx(3520.0)
    assert inv.totals()["location"] == pytest.approx(s1 + 660_000.0, rel=1e-9)
    assert inv.totals()["market"] == pytest.approx(s1 + 719_600.0, rel=1e-9)
    assert inv.scope2_by_carrier()["heat"]["location"] == pytest.approx(110_000.0)
    assert inv.intensities()["kg_per_m2"]["location"] == pytest.approx((s1 + 660_000) / 20_000)
    assert inv.intensities()["kg_per_capita"]["market"] is None


def test_inventory_completeness_shares(site_inventory: Inventory) -> None:
    """20 meter-hours: 17 measured, 2 estimated, 1 missing."""
    assert site_inventory.completeness_shares() == pytest.approx(
        {"measured": 0.85, "estimated": 0.1, "imported": 0.0, "missing": 0.05}
    )


def test_inventory_json_and_csv(site_inventory: Inventory) -> None:
    body = json.loads(json.dumps(site_inventory.as_dict()))
    assert body["methods"] == {
        "gwp": "AR5",
        "fuel_method": "china",
        "refrigerants": "mass_balance",
        "factor_sets": ["cn-ghg-guidelines-fuels"],
    }
    assert body["reported_apart"]["biogenic_co2"] == pytest.approx(1747.2)
    assert body["not_covered"] == ["scope3", "process_emissions"]
    rows = list(csv.DictReader(io.StringIO(site_inventory.to_csv())))
    # 3 scope 1 lines, 2 carriers x 2 methods, 2 totals
    assert len(rows) == 3 + 4 + 2
    gas = next(r for r in rows if r["source"] == "natural_gas")
    assert (gas["scope"], gas["method"], gas["gases"]) == ("1", "china", "CO2")
    total = [r for r in rows if r["category"] == "total"]
    assert float(total[0]["co2e_kg"]) == pytest.approx(site_inventory.totals()["location"])


def test_combine_sites_into_a_city(site_inventory: Inventory) -> None:
    """Two identical sites: every line doubles, floor areas add, the per-m2 intensity stays."""
    city = combine("city", "riverton", [site_inventory, site_inventory], population=812_000)
    assert city.scope1_kg == pytest.approx(2 * site_inventory.scope1_kg)
    assert len(city.scope1) == len(site_inventory.scope1)
    assert city.floor_area_m2 == 40_000.0
    assert city.intensities()["kg_per_m2"]["location"] == pytest.approx(
        site_inventory.intensities()["kg_per_m2"]["location"]
    )
    assert len(city.meters) == 4
    assert city.avoided_kg == {"refrigerant_retrofit": 88_330.0}
    other = Inventory("site", "x", 2025, site_inventory.methods)
    with pytest.raises(EmissionsError):
        combine("city", "riverton", [site_inventory, other])
