"""Property tests of the inventory core: the China formula, additivity, roll-up."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from peakline_core.emissions import (
    CombustionFactors,
    EmissionFactorSet,
    FactorBook,
    FuelBlock,
    FuelProperties,
    Inventory,
    InventoryMethods,
    Scope1Line,
    combine,
    scope1_combustion,
)
from peakline_core.emissions.factors import Provenance

PROV = Provenance(publisher="test", document="test", year=2020)


@settings(max_examples=60, deadline=None)
@given(
    st.floats(1.0, 60.0),  # NCV, GJ/t
    st.floats(10.0, 35.0),  # carbon content, tC/TJ
    st.floats(0.8, 1.0),  # oxidation
    st.floats(0.0, 1e4),  # t burned
)
def test_china_formula_is_ad_ncv_cc_of_44_12(ncv: float, cc: float, of: float, t: float) -> None:
    fuel = FuelProperties(fuel="f", ncv=ncv, ncv_unit="GJ/t", carbon_t_per_tj=cc, oxidation=of)
    fs = EmissionFactorSet(id="x", name="x", provenance=PROV, fuel_method="china", fuels=[fuel])
    f = FactorBook([fs], fuel_method="china").combustion("f")
    r = scope1_combustion([[t]], FuelBlock.from_factors([f], ["t"]))
    # AD (t) x NCV (GJ/t) x CC (tC/TJ = kgC/GJ) x OF x 44/12 = kgCO2
    assert r.co2_fossil[0, 0] == pytest.approx(t * ncv * cc * of * 44 / 12, rel=1e-12, abs=1e-9)
    assert r.co2e[0, 0] == pytest.approx(r.co2_fossil[0, 0], rel=1e-12, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(2, 24)), elements=st.floats(0, 1e3))
)
def test_combustion_adds_across_time_splits(activity: np.ndarray) -> None:
    n = activity.shape[0]
    f = CombustionFactors(
        "gas", "ipcc2006", 56.1, 0.005, 0.0001, False, None, 0.038931, "AR5", "x", (PROV,)
    )
    block = FuelBlock.from_factors([f] * n, ["m3"] * n)
    whole = scope1_combustion(activity, block).co2e.sum()
    k = activity.shape[1] // 2
    parts = (
        scope1_combustion(activity[:, :k], block).co2e.sum()
        + scope1_combustion(activity[:, k:], block).co2e.sum()
    )
    assert whole == pytest.approx(parts, rel=1e-12, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e6), st.floats(1, 1e5)), min_size=1, max_size=6))
def test_city_total_is_the_sum_of_sites(sites: list[tuple[float, float]]) -> None:
    """Any split of sites: the city's Scope 1 is the sum, its kg/m2 the ratio of sums."""
    methods = InventoryMethods("AR5", "china")
    parts = [
        Inventory(
            "site",
            f"s{i}",
            2026,
            methods,
            scope1=(Scope1Line("natural_gas", "stationary_combustion", kg, method="china"),),
            floor_area_m2=area,
        )
        for i, (kg, area) in enumerate(sites)
    ]
    city = combine("city", "c", parts)
    total = sum(kg for kg, _ in sites)
    area = sum(a for _, a in sites)
    assert city.scope1_kg == pytest.approx(total, rel=1e-12, abs=1e-9)
    assert city.intensities()["kg_per_m2"]["location"] == pytest.approx(
        total / area, rel=1e-12, abs=1e-12
    )
