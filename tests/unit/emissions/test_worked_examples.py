"""Worked examples from published methods and factors, each citing its source.

Status of the sources (checked Nov 2026 with the stored public-page, documentation and
repository search; see docs/emissions.md, "Worked examples"):

- PUBLISHED and reproduced to the source's own rounding: EPA GHG Emission Factors Hub
  (2024), Table 1, natural gas -- the per-scf column is EPA's own product of the heat
  content and the per-mmBtu factors (test_scope1_natural_gas_epa_hub_per_scf).
- PUBLISHED factors, our arithmetic: MEE/NBS 2023 East China; IPCC 2006 natural gas Tier 1;
  eGRID2022 NEWE CO2e (the formula and eGRID2022's AR4 GWPs are EPA's, the rates are EPA's
  as checked against two public copies; no published NEWE CO2e figure could be reached to
  compare with).
- OUR OWN inputs, worked by the stated method: Scope 2 dual reporting and PV netting. The
  GHG Protocol Scope 2 Guidance's own example tables (Ch. 5-7) could not be reached -- only
  the Guidance's table of contents and third-party chapter summaries came back.
"""

from __future__ import annotations

import numpy as np
import pytest

from peakline_core.emissions import (
    EmissionFactorSet,
    Factor,
    FactorBook,
    InstrumentBlock,
    scope1_gas,
    scope2_location,
    scope2_market,
    site_flows,
)
from peakline_core.emissions.factors import Provenance
from peakline_core.emissions.gwp import co2e
from peakline_core.emissions.units import ENERGY_KWH


def test_mee_2023_location_based_east_china(book: FactorBook) -> None:
    """MEE/NBS announcement on 2023 electricity CO2 emission factors: the factors are used by
    multiplying electricity consumed by the regional average (East China grid 0.5500
    kgCO2/kWh). 1 MWh bought in Shanghai (East China grid) in 2023 -> 550.0 kgCO2."""
    f = book.lookup("CN-EAST", "location", 2023)
    assert (f.value, f.gas, f.set_id) == (0.55, "CO2", "cn-mee-2023")
    kg = scope2_location(np.full((1, 4), 250.0), f.value)
    assert kg.sum() == pytest.approx(550.0, abs=1e-9)


def test_scope2_dual_reporting_location_and_market(book: FactorBook) -> None:
    """GHG Protocol Scope 2 Guidance (WRI/WBCSD 2015), Ch. 6 (Calculating emissions), 6.5:
    location-based = consumption x grid-average factor; market-based = each instrument's
    MWh x its factor, the remaining MWh x the residual mix (Table 6.3 hierarchy), both
    reported (Ch. 7.1). ILLUSTRATIVE: the inputs are ours, not a published example (the
    Guidance's example tables could not be reached, see the module docstring): 1,000 MWh
    in East China in 2023, 400 MWh covered by a green power contract at 0 kgCO2/kWh;
    residual = MEE 2023 national factor excluding market-traded non-fossil power,
    0.6096 kgCO2/kWh.

    location: 1,000,000 kWh x 0.5500 = 550,000 kg
    market:   400,000 x 0 + 600,000 x 0.6096 = 365,760 kg
    """
    imports = np.full((1, 1000), 1000.0)  # 1000 intervals of 1 MWh... in kWh
    loc = scope2_location(imports, book.location_factor("CN-EAST", 2023))
    instruments = InstrumentBlock(np.array([[400_000.0]]), np.array([[0.0]]))
    market = scope2_market(imports, instruments, book.residual_mix("CN-EAST", 2023))
    assert loc.sum() == pytest.approx(550_000.0, rel=1e-12)
    assert market.kg.sum() == pytest.approx(365_760.0, rel=1e-12)
    assert market.covered_kwh.sum() == pytest.approx(400_000.0)


def test_pv_netting_never_subtracts_exports() -> None:
    """Scope 2 Guidance, Ch. 5.4 (on-site generation; Table 5.x "energy generation and
    scope 2"): exported electricity is not netted against purchases; self-consumed PV is not
    purchased, so it carries no scope 2 under the location method, and zero under the
    market method only when the site retains its certificates (sold certificates: residual
    mix). ILLUSTRATIVE inputs of ours (the Guidance's own figures could not be reached):
    site imports 1,000 kWh, PV 600 kWh of which 200 exported; grid 0.5, residual 0.6.

    location: 1,000 x 0.5 = 500 kg (not (1,000 - 200) x 0.5 = 400)
    market, certificates kept: 1,000 x 0.6 = 600 kg
    market, certificates sold: 600 + 400 x 0.6 = 840 kg
    """
    flows = site_flows([[500.0, 500.0]], grid_export=[[200.0, 0.0]], pv=[[400.0, 200.0]])
    assert flows.consumption.sum() == pytest.approx(1000.0 - 200.0 + 600.0)
    assert flows.pv_self_consumed.sum() == pytest.approx(400.0)
    assert scope2_location(flows.grid_import, 0.5).sum() == pytest.approx(500.0)
    none = InstrumentBlock.none(1)
    kept = scope2_market(flows.grid_import, none, 0.6, pv_self_kwh=flows.pv_self_consumed)
    sold = scope2_market(
        flows.grid_import,
        none,
        0.6,
        pv_self_kwh=flows.pv_self_consumed,
        pv_certificates_retained=False,
    )
    assert kept.kg.sum() == pytest.approx(600.0)
    assert sold.kg.sum() == pytest.approx(840.0)


def test_scope1_natural_gas_ipcc_tier1(book: FactorBook) -> None:
    """2006 IPCC Guidelines, Vol. 2 (Energy), Ch. 2, Equation 2.1 (Tier 1), natural gas
    defaults: CO2 56,100 kg/TJ (Ch. 1 Table 1.4), CH4 5 kg/TJ and N2O 0.1 kg/TJ
    (Ch. 2 Table 2.4, commercial/institutional). 1 TJ burned:
    CO2 56,100 kg, CH4 5 kg, N2O 0.1 kg; CO2e (AR5: 28, 265) = 56,100 + 140 + 26.5
    = 56,266.5 kg."""
    one_tj_kwh = 1e6 / 3.6
    r = scope1_gas(book.fuel("natural_gas"), energy_kwh=[[one_tj_kwh / 2, one_tj_kwh / 2]])
    assert r.co2.sum() == pytest.approx(56_100.0, rel=1e-12)
    assert r.ch4.sum() == pytest.approx(5.0, rel=1e-12)
    assert r.n2o.sum() == pytest.approx(0.1, rel=1e-12)
    assert r.co2e.sum() == pytest.approx(56_266.5, rel=1e-12)


def test_scope1_natural_gas_from_volume(book: FactorBook) -> None:
    """Volume route: 10,000 Nm3 x 389.31 GJ/10^4 Nm3 (China's default net calorific value of
    natural gas, shipped with verified: false) = 389.31 GJ = 0.38931 TJ;
    CO2 = 0.38931 x 56,100 = 21,840.291 kg (IPCC 2006 Vol. 2 Ch. 1 Table 1.4)."""
    r = scope1_gas(book.fuel("natural_gas"), volume_m3=[[4000.0, 6000.0]])
    assert r.co2.sum() == pytest.approx(21_840.291, rel=1e-12)


def test_egrid_co2e_from_gas_rates_newe(
    book: FactorBook, factor_sets: list[EmissionFactorSet]
) -> None:
    """EPA eGRID Technical Guide, section "Annual emission estimates for CH4, N2O and CO2
    equivalent": CO2e = CO2 + CH4 x GWP_CH4 + N2O x GWP_N2O. eGRID2022 NPCC New England
    (NEWE) annual total output rates, lb/MWh, as shipped in
    config/emission-factors/us-egrid2022.yaml (EPA's numbers, checked against two public
    copies, see that file): CO2 536.428, CH4 0.063, N2O 0.008.

    eGRID2022's own CO2e uses AR4 GWPs (25, 298; eGRID moved to AR5 with eGRID2023, per the
    sources in that file's header), which a programme gets with `gwp: AR4`:
      536.428 + 0.063 x 25 + 0.008 x 298 = 536.428 + 1.575 + 2.384 = 540.387 lbCO2e/MWh.
    peakline's default AR5 (28, 265) gives
      536.428 + 0.063 x 28 + 0.008 x 265 = 536.428 + 1.764 + 2.120 = 540.312 lbCO2e/MWh.
    1 lb = 0.45359237 kg (exact). Not compared with a published NEWE CO2e rate: the eGRID2022
    Summary Tables could not be reached, and published rates are rounded to three decimals,
    too coarse to tell GWP sets apart."""
    lb_to_kg_per_kwh = 0.45359237 / 1000.0
    assert co2e(536.428, 0.063, 0.008, "AR4") == pytest.approx(540.387, abs=1e-9)
    assert co2e(536.428, 0.063, 0.008, "AR5") == pytest.approx(540.312, abs=1e-9)
    epa_method = FactorBook(factor_sets, gwp="AR4").lookup("US-NEWE", "location", 2022)
    assert epa_method.value == pytest.approx(540.387 * lb_to_kg_per_kwh, rel=1e-12)
    f = book.lookup("US-NEWE", "location", 2022)
    assert (f.region, f.gas, f.set_id) == ("US-NEWE", "CO2e", "us-egrid2022")
    assert f.value == pytest.approx(540.312 * lb_to_kg_per_kwh, rel=1e-12)
    assert all(p.verified for p in f.provenance)
    # a site in New England imports 10 MWh: 10,000 kWh x 0.2450813... = 2,450.81 kg
    kg = scope2_location(np.full((1, 10), 1000.0), f.value).sum()
    assert round(float(kg), 2) == 2450.81


def test_scope1_natural_gas_epa_hub_per_scf() -> None:
    """EPA GHG Emission Factors Hub (2024), Table 1 "Stationary Combustion", Natural Gas:
    heat content 0.001026 mmBtu per scf (HHV); 53.06 kg CO2, 1.0 g CH4 and 0.10 g N2O per
    mmBtu; and, as EPA's own worked product of the two, 0.05444 kg CO2, 0.00103 g CH4 and
    0.00010 g N2O per scf (five decimals). Burning 1 scf (0.028316846592 m3, exact) through
    `scope1_gas` with those factors reproduces the per-scf column to EPA's rounding.
    Source text read from a public copy of the Hub 2024 (scribd document 755812093)."""
    hub = EmissionFactorSet(
        id="epa-hub-2024-natural-gas",
        name="EPA GHG Emission Factors Hub 2024, Table 1, natural gas (HHV)",
        provenance=Provenance(
            publisher="U.S. Environmental Protection Agency",
            document="GHG Emission Factors Hub 2024, Table 1",
            year=2024,
        ),
        factors=[
            Factor(region="natural_gas", value=53.06, unit="kgCO2/mmBtu", gas="CO2", kind="fuel"),
            Factor(region="natural_gas", value=1.0, unit="gCH4/mmBtu", gas="CH4", kind="fuel"),
            Factor(region="natural_gas", value=0.10, unit="gN2O/mmBtu", gas="N2O", kind="fuel"),
        ],
    )
    fuel = FactorBook([hub]).fuel("natural_gas")
    scf_m3 = 0.028316846592  # 1 ft3 = 0.3048^3 m3
    kwh_per_m3 = 0.001026 * ENERGY_KWH["mmBtu"] / scf_m3  # heat content, kWh per m3
    r = scope1_gas(fuel, volume_m3=[[scf_m3]], kwh_per_m3=kwh_per_m3)
    assert round(float(r.co2.sum()), 5) == 0.05444  # kg CO2 per scf
    assert round(float(r.ch4.sum()) * 1000.0, 5) == 0.00103  # g CH4 per scf
    assert round(float(r.n2o.sum()) * 1000.0, 5) == 0.00010  # g N2O per scf
    # unrounded: 0.001026 x 53.06 = 0.05443956 kg
    assert float(r.co2.sum()) == pytest.approx(0.05443956, rel=1e-12)
