"""Worked examples of the building and city GHG inventory (issue 26), each by hand.

Figures come from config/emission-factors/cn-ghg-guidelines-fuels.yaml (China's guidelines,
shipped verified: false, see its header) and ipcc-2006-stationary.yaml, and GWPs from
peakline_core.emissions.refrigerants (AR4/AR5 checked against two public copies of the GHG
Protocol's GWP table). The arithmetic below is ours, by the guidelines' own structure.
"""

from __future__ import annotations

import numpy as np
import pytest

from peakline_core.emissions import (
    CombustionResult,
    EmissionFactorSet,
    FactorBook,
    FuelBlock,
    fugitive_refrigerants,
    refrigerant_gwp,
    retrofit_avoided_kg,
    scope1_combustion,
    scope2_thermal,
    steam_heat_gj,
    thermal_kwh,
)
from peakline_core.emissions.errors import EmissionsError, FactorNotFound, UnitError


@pytest.fixture(scope="module")
def china(factor_sets: list[EmissionFactorSet]) -> FactorBook:
    return FactorBook(factor_sets, gwp="AR5", fuel_method="china")


@pytest.fixture(scope="module")
def ipcc(factor_sets: list[EmissionFactorSet]) -> FactorBook:
    return FactorBook(factor_sets, gwp="AR5", fuel_method="ipcc2006")


def _burn(book: FactorBook, fuel: str, unit: str, amounts: list[float]) -> CombustionResult:
    f = book.combustion(fuel)
    return scope1_combustion([amounts], FuelBlock.from_factors([f], [unit]))


def test_natural_gas_china_guidelines(china: FactorBook) -> None:
    """China's guidelines (public buildings; GB/T 32150 structure), natural gas defaults
    389.31 GJ/10^4 Nm3, 15.3 tC/TJ, 99 % oxidation; 1,000 m3 burned:
      1,000 m3 x 389.31 GJ / 10,000 m3 = 38.931 GJ
      38.931 GJ x 15.3 kgC/GJ x 0.99 x 44/12 = 2,162.19 kgCO2 (issue 26: 2,162)
    CO2 only: the guidelines count no CH4 or N2O, so CO2e = CO2."""
    f = china.combustion("natural_gas")
    assert (f.method, f.gases, f.set_id) == ("china", "CO2", "cn-ghg-guidelines-fuels")
    r = scope1_combustion([[400.0, 600.0]], FuelBlock.from_factors([f], ["m3"]))
    assert r.energy_gj.sum() == pytest.approx(38.931, rel=1e-12)
    assert r.co2_fossil.sum() == pytest.approx(2162.188809, rel=1e-9)
    assert round(float(r.co2_fossil.sum())) == 2162
    assert r.ch4.sum() == 0.0 and r.n2o.sum() == 0.0
    assert r.co2e.sum() == pytest.approx(r.co2_fossil.sum())


def test_natural_gas_ipcc_defaults(ipcc: FactorBook) -> None:
    """IPCC 2006 Vol. 2 Ch. 1 Table 1.4, natural gas 56,100 kgCO2/TJ (oxidation 1); volume to
    energy with China's NCV (IPCC gives gas NCV per mass only, so the book takes the volume
    NCV from the China set and says so in `ncv_from`):
      38.931 GJ x 56.1 kgCO2/GJ = 2,184.03 kgCO2 (issue 26: 2,184)
    CH4 5 and N2O 0.1 kg/TJ (Table 2.4): 0.194655 kg and 0.0038931 kg;
    CO2e (AR5: 28, 265) = 2,184.0291 + 5.45034 + 1.0316715 = 2,190.5111 kg."""
    f = ipcc.combustion("natural_gas")
    assert f.method == "ipcc2006" and f.gases == "CO2, CH4, N2O"
    assert ("m3", "cn-ghg-guidelines-fuels") in f.ncv_from
    r = scope1_combustion([[1000.0]], FuelBlock.from_factors([f], ["m3"]))
    assert r.co2_fossil.sum() == pytest.approx(2184.0291, rel=1e-12)
    assert round(float(r.co2_fossil.sum())) == 2184
    assert r.co2e.sum() == pytest.approx(2184.0291 + 0.194655 * 28 + 0.0038931 * 265, rel=1e-12)


def test_raw_coal_and_diesel_china_guidelines(china: FactorBook) -> None:
    """China's guidelines, E = AD x NCV x CC x OF x 44/12 (defaults as shipped):

    Raw coal (原煤) 20.908 GJ/t, 26.37 tC/TJ, 94 %; a boiler house burns 10 t:
      10 t x 20.908 = 209.08 GJ; 26.37 x 0.94 = 24.7878 kgC/GJ; x 44/12 = 90.8886 kgCO2/GJ
      209.08 x 90.8886 = 19,002.99 kgCO2
    Diesel (柴油) 42.652 GJ/t, 20.2 tC/TJ, 98 %; a standby generator burns 2 t:
      2 t x 42.652 = 85.304 GJ; 20.2 x 0.98 x 44/12 = 72.58533 kgCO2/GJ
      85.304 x 72.58533 = 6,191.82 kgCO2
    Both meters in one block (one row each), coal metered in kg to exercise the units."""
    coal, diesel = china.combustion("raw_coal"), china.combustion("diesel")
    block = FuelBlock.from_factors([coal, diesel], ["kg", "t"])
    r = scope1_combustion([[4000.0, 6000.0], [1.5, 0.5]], block)
    per_meter = r.co2_fossil.sum(axis=1)
    assert per_meter[0] == pytest.approx(19_002.988488, rel=1e-9)
    assert per_meter[1] == pytest.approx(6_191.819275, rel=1e-9)


def test_raw_coal_ipcc_and_biomass_apart(ipcc: FactorBook, china: FactorBook) -> None:
    """IPCC 2006 raw coal as "other bituminous coal" (25.8 TJ/Gg, 94,600 kgCO2/TJ, CH4 10,
    N2O 1.5 kg/TJ): 10 t = 258 GJ -> 24,406.8 kgCO2, 2.58 kgCH4, 0.387 kgN2O.
    Wood (biogenic; 15.6 TJ/Gg, 112,000 kgCO2/TJ, CH4 300, N2O 4 kg/TJ), 1 t = 15.6 GJ:
    1,747.2 kg CO2 reported apart; its CH4 4.68 kg and N2O 0.0624 kg count in Scope 1
    (AR5: 131.04 + 16.536 = 147.576 kgCO2e). China's guidelines have no biomass default:
    the book falls back to IPCC's, marked."""
    r = _burn(ipcc, "raw_coal", "t", [10.0])
    assert r.co2_fossil.sum() == pytest.approx(24_406.8, rel=1e-12)
    assert r.ch4.sum() == pytest.approx(2.58, rel=1e-12)
    wood = china.combustion("wood")
    assert (wood.fallback, wood.biogenic) == ("ipcc2006", True)
    w = scope1_combustion([[1.0]], FuelBlock.from_factors([wood], ["t"]))
    assert w.co2_biogenic.sum() == pytest.approx(1747.2, rel=1e-12)
    assert w.co2_fossil.sum() == 0.0
    assert w.co2e.sum() == pytest.approx(4.68 * 28 + 0.0624 * 265, rel=1e-12)


def test_own_ncv_overrides_default_and_missing_ncv_fails(china: FactorBook) -> None:
    """A supplier's NCV replaces the default: 1 t of diesel at 43.0 GJ/t = 43.0 GJ."""
    diesel = china.combustion("diesel")
    block = FuelBlock.from_factors([diesel], ["t"], [43.0])
    assert scope1_combustion([[1.0]], block).energy_gj.sum() == pytest.approx(43.0)
    with pytest.raises(UnitError, match="no net calorific value"):
        FuelBlock.from_factors([diesel], ["m3"])
    with pytest.raises(FactorNotFound):
        china.combustion("peat")


def test_purchased_heat_china_default(china: FactorBook) -> None:
    """China's default for purchased heat, 0.11 tCO2/GJ: 1,000 GJ from a district heating
    network = 110 tCO2 (location-based; market-based is the same without a supplier-specific
    factor). A network's own factor (here 0.08 tCO2/GJ as a contract) gives 80 t."""
    f = china.thermal("heat", "CN-NORTH")
    assert (f.region, f.gas, f.set_id) == ("CN", "CO2", "cn-ghg-guidelines-fuels")
    kwh = thermal_kwh([[400.0, 600.0]], "GJ")
    r = scope2_thermal(kwh, f.value)
    assert r.location_kg.sum() == pytest.approx(110_000.0, rel=1e-12)
    assert r.market_kg.sum() == pytest.approx(110_000.0, rel=1e-12)
    contract = 0.08 * 1000.0 / thermal_kwh([[1.0]], "GJ")[0, 0]  # kg per kWh
    assert scope2_thermal(kwh, f.value, contract).market_kg.sum() == pytest.approx(80_000.0)
    steam = china.thermal("steam")
    assert steam.fallback == "heat" and steam.value == f.value
    with pytest.raises(FactorNotFound):
        china.thermal("cooling")


def test_steam_by_mass() -> None:
    """Steam metered by mass: 10 t at 2,800 kJ/kg, feedwater 83.74 kJ/kg:
    10 x (2,800 - 83.74) x 10^-3 = 27.1626 GJ."""
    assert steam_heat_gj([[4.0, 6.0]], 2800.0).sum() == pytest.approx(27.1626, rel=1e-12)


def test_chiller_r410a_mass_balance_and_leak_flag() -> None:
    """A chiller with 300 kg of R-410A topped up with 30 kg in a year. R-410A is 50 % HFC-32,
    50 % HFC-125 (ASHRAE 34): GWP AR5 = 0.5 x 677 + 0.5 x 3,170 = 1,923.5 (AR4 2,087.5,
    AR6 2,255.5). Scope 1 = 30 kg x 1,923.5 = 57,705 kgCO2e (57.7 tCO2e, AR5). Top-ups are
    10 % of the charge: flagged at the 10 % threshold. A second chiller, 5 kg on 300 kg, is
    not flagged; an R-22 split unit topped up 2 kg (HCFC-22, AR5 1,760) goes to non-Kyoto."""
    assert refrigerant_gwp("R-410A", "AR5").total == pytest.approx(1923.5)
    assert refrigerant_gwp("R-410A", "AR4").total == pytest.approx(2087.5)
    assert refrigerant_gwp("R-410A", "AR6").total == pytest.approx(2255.5)
    r = fugitive_refrigerants(
        ["R-410A", "R-410A", "R-22"], [300.0, 300.0, 10.0], [30.0, 5.0, 2.0], "AR5"
    )
    assert r.co2e_kg[0] == pytest.approx(57_705.0)
    assert list(r.leaking) == [True, False, True]
    assert r.co2e_kg[2] == 0.0 and r.non_kyoto_co2e_kg[2] == pytest.approx(3520.0)


def test_blend_weights_and_retrofit_avoided() -> None:
    """R-407C (23/25/52 % HFC-32/125/134a), AR5: 0.23 x 677 + 0.25 x 3,170 + 0.52 x 1,300
    = 155.71 + 792.5 + 676 = 1,624.21. R-404A, AR4: 0.44 x 3,500 + 0.52 x 4,470 + 0.04 x
    1,430 = 1,540 + 2,324.4 + 57.2 = 3,921.6. Retrofit of a chiller leaking 30 kg/yr of
    R-410A to R-32 leaking 20 kg/yr (AR5): 30 x 1,923.5 - 20 x 677 = 44,165 kgCO2e avoided."""
    assert refrigerant_gwp("R-407C", "AR5").total == pytest.approx(1624.21)
    assert refrigerant_gwp("R-404A", "AR4").total == pytest.approx(3921.6)
    assert retrofit_avoided_kg(30.0, "R-410A", "R-32", "AR5", 20.0) == pytest.approx(44_165.0)
    assert not refrigerant_gwp("R-1234yf", "AR6").verified
    assert refrigerant_gwp("R-744", "AR6").total == 1.0


def test_unknown_refrigerant_is_rejected() -> None:
    with pytest.raises(EmissionsError, match="unknown refrigerant"):
        refrigerant_gwp("R-999", "AR5")


def test_mass_balance_counts_unrecovered_charge_of_retired_equipment() -> None:
    """Retired in the year with 100 kg charge, 90 kg recovered: 10 kg emitted."""
    r = fugitive_refrigerants(
        ["R-134a"], [100.0], [0.0], "AR4", retired_charge_kg=100.0, recovered_kg=90.0
    )
    assert r.emitted_kg[0] == pytest.approx(10.0)
    assert r.co2e_kg[0] == pytest.approx(14_300.0)
    assert not np.any(r.leaking)
