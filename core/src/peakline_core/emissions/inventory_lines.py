"""Inventory lines from the emissions core's results: fuels, grid electricity, refrigerants."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from peakline_core.emissions.book import CombustionFactors
from peakline_core.emissions.combustion import CombustionResult
from peakline_core.emissions.gwp import GwpSet
from peakline_core.emissions.inventory import Scope1Line, Scope2Line
from peakline_core.emissions.refrigerants import RefrigerantResult
from peakline_core.emissions.report import EmissionsTotals


def combustion_lines(
    factors: Sequence[CombustionFactors],
    units: Sequence[str],
    activity: Any,
    result: CombustionResult,
) -> tuple[Scope1Line, ...]:
    """Scope 1 lines per fuel from `scope1_combustion` over a year: `factors` and `units` per
    meter row, `activity` [meters, time] in those units, `result` its `CombustionResult`.
    Meters of the same fuel and unit add up; NaN (missing) intervals count zero."""
    act = np.nansum(np.atleast_2d(np.asarray(activity, dtype=np.float64)), axis=1)

    def per_meter(a: Any) -> Any:
        return np.nansum(a, axis=1)

    co2e, co2, bio = (per_meter(x) for x in (result.co2e, result.co2_fossil, result.co2_biogenic))
    ch4, n2o = per_meter(result.ch4), per_meter(result.n2o)
    lines: dict[tuple[str, str, str, str], Scope1Line] = {}
    for i, (f, unit) in enumerate(zip(factors, units, strict=True)):
        line = Scope1Line(
            source=f.fuel,
            category="stationary_combustion",
            co2e_kg=float(co2e[i]),
            co2_kg=float(co2[i]),
            ch4_kg=float(ch4[i]),
            n2o_kg=float(n2o[i]),
            biogenic_co2_kg=float(bio[i]),
            activity=float(act[i]),
            activity_unit=unit,
            method=f.method,
            gases=f.gases,
            factor_set=f.set_id,
        )
        lines[line.key] = lines[line.key] + line if line.key in lines else line
    return tuple(lines.values())


def electricity_line(totals: EmissionsTotals, factor_set: str = "", gases: str = "") -> Scope2Line:
    """The grid electricity line from a site's `EmissionsTotals` for the year (the sums of
    `compute_emissions`, or of the stored series): imports and both methods."""
    return Scope2Line(
        "electricity",
        totals.import_kwh,
        totals.scope2_location_kg,
        totals.scope2_market_kg,
        factor_set,
        gases,
    )


def refrigerant_line(result: RefrigerantResult, gwp: GwpSet) -> Scope1Line:
    """One Scope 1 line for all refrigerant assets of an entity (mass balance)."""
    return Scope1Line(
        source="refrigerants",
        category="fugitive_refrigerant",
        co2e_kg=float(result.co2e_kg.sum()),
        non_kyoto_co2e_kg=float(result.non_kyoto_co2e_kg.sum()),
        activity=float(result.emitted_kg.sum()),
        activity_unit="kg",
        method="mass_balance",
        gases=f"HFCs ({gwp})",
        factor_set=f"gwp100-{gwp}",
    )
