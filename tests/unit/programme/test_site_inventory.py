"""A site's inventory assembled from the example config/inventory.yaml (programme layer)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from peakline_api.services.inventory import InventoryItem
from peakline_core.config import load_config
from peakline_core.emissions import FactorBook, Inventory, Scope2Line, combine
from peakline_core.programme.inventory import data_centre_of, network_factors, site_inventory

CONFIG = Path(__file__).resolve().parents[3] / "config"


def office_2026(market_kg: float, quality: dict[str, list[int]]) -> Inventory:
    """rt-office in 2026 under China's method (AR5): 1,000 m3 of gas, 2 t of diesel, 1,000 kWh
    of district cooling, 100,000 kWh of grid electricity at 55,000 kg (location)."""
    config = load_config(CONFIG)
    book = FactorBook(config.factor_sets.values(), gwp="AR5", fuel_method="china")
    grid = Scope2Line("electricity", 100_000.0, 55_000.0, market_kg, "cn-mee-2023", "CO2")
    return site_inventory(
        "rt-office",
        2026,
        book,
        config.inventory,
        floor_area_m2=11_800.0,
        fuel_activity={"office-gas": [500.0, 500.0], "office-genset": [2.0]},
        heat_energy={"office-cooling": [400.0, 600.0]},
        electricity=grid,
        quality=quality,
    )


def test_office_inventory_from_example_config() -> None:
    """rt-office in 2026 under China's method (AR5): 1,000 m3 of gas -> 2,162.19 kgCO2;
    2 t of diesel -> 6,191.82 kgCO2; chiller-1 (R-410A, 300 kg) topped up 18 + 12 = 30 kg
    -> 57,705 kgCO2e; 1,000 kWh of district cooling at 35 kgCO2/GJ (the operator's figure)
    = 3.6 GJ x 35 = 126 kg; grid electricity passed in as computed elsewhere."""
    inv = office_2026(market_kg=0.0, quality={"office-gas": [0, 0], "office-genset": [0]})
    src = inv.scope1_by_source()
    assert src["natural_gas"] == pytest.approx(2162.188809, rel=1e-9)
    assert src["diesel"] == pytest.approx(6191.819275, rel=1e-9)
    assert src["refrigerants"] == pytest.approx(57_705.0)
    cooling = inv.scope2_by_carrier()["cooling"]
    assert cooling["location"] == pytest.approx(126.0)
    assert inv.scope2_location_kg == pytest.approx(55_126.0)
    assert inv.methods.fuel_method == "china"
    # the genset has one hour of data against two for the gas meter: padded as missing
    assert inv.completeness_shares()["missing"] == pytest.approx(0.25)
    district = combine("district", "riverton-old-town", [inv])
    assert district.scope1_kg == pytest.approx(inv.scope1_kg)


def test_school_retrofit_and_coal_with_measured_ncv() -> None:
    """rt-school: the R-22 split unit (4.5 kg) retired in 2026 with 3.9 kg recovered:
    0.6 kg x 1,760 (AR5) = 1,056 kgCO2e, non-Kyoto, apart from Scope 1. Coal weighed in t
    with the supplier's NCV 21.5 GJ/t: 10 t = 215 GJ; IPCC (programme default) other
    bituminous coal 94.6 kgCO2/GJ -> 20,339 kgCO2. The R-32 replacement has no top-ups and
    the old unit no record of the year before: nothing avoided is claimed."""
    config = load_config(CONFIG)
    book = config.factor_book()
    assert book.fuel_method == "ipcc2006"
    inv = site_inventory(
        "rt-school",
        2026,
        book,
        config.inventory,
        floor_area_m2=6200.0,
        fuel_activity={"school-coal": [4.0, 6.0]},
    )
    coal = next(line for line in inv.scope1 if line.source == "raw_coal")
    assert coal.co2_kg == pytest.approx(20_339.0, rel=1e-12)
    assert inv.non_kyoto_co2e_kg == pytest.approx(1056.0)
    assert inv.avoided_kg == {}


def test_heat_network_default_factor() -> None:
    config = load_config(CONFIG)
    dh = next(n for n in config.inventory.heat_networks if n.id == "riverton-dh")
    loc, mkt, source, gases = network_factors(dh, config.factor_book(), 2026)
    assert loc == pytest.approx(0.396) and mkt == loc
    assert (source, gases) == ("cn-ghg-guidelines-fuels", "CO2")


def test_data_centre_from_config_meters() -> None:
    """The example server room: IT is the UPS output, the facility is IT plus the cooling
    plant (no dedicated facility meter); PUE where both read, NaN where IT has no data."""
    config = load_config(CONFIG)
    dc = config.inventory.data_centres[0]
    m = data_centre_of(
        dc, {"office-ups": [10.0, 12.0, float("nan")], "office-dc-cooling": [3.0, 3.0, 3.0]}
    )
    assert list(m.pue[0][:2]) == pytest.approx([1.3, 1.25])
    assert m.pue_period[0] == pytest.approx(28.0 / 22.0) and m.intervals_used[0] == 2


def test_the_api_model_carries_every_field_of_the_core_inventory() -> None:
    """The API's typed inventory (issue 25) is core's `as_dict`, every key and value: a field
    core adds is not dropped on the way out."""
    inv = office_2026(market_kg=1.0, quality={"office-gas": [0, 1], "office-genset": [3]})
    combined = combine("district", "old-town", [inv, inv], None)
    for one in (inv, combined):
        core = json.loads(json.dumps(one.as_dict()))
        api = InventoryItem.model_validate(one.as_dict()).model_dump(mode="json")
        assert api == core
        assert one.scope1 and one.scope2 and one.meters  # every nested list is compared
