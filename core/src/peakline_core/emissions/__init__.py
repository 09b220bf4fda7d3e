"""Energy and emissions from meter data, vectorized over [sites, time] (pure numpy).

Energy from counters or power, site flows, Scope 1 (gas), Scope 2 location- and market-
based side by side, avoided emissions (separate, never netted), intensities, roll-ups,
aggregation to districts and cities, and targets. Factors with provenance come from
config/emission-factors/ through `FactorBook`. See docs/emissions.md.
"""

from peakline_core.emissions.avoided import (
    avoided_by_curtailment,
    avoided_by_export,
    avoided_by_shifting,
)
from peakline_core.emissions.book import FactorBook, FuelFactors, ResolvedFactor
from peakline_core.emissions.compute import (
    EmissionsSeries,
    compute_emissions,
    group_reports,
    site_reports,
)
from peakline_core.emissions.energy import integrate_power, interval_energy_from_counter
from peakline_core.emissions.errors import (
    EmissionsError,
    FactorNotFound,
    IntensityParseError,
    ShapeError,
    UnitError,
)
from peakline_core.emissions.factors import EmissionFactorSet, Factor, HeatingValue, Provenance
from peakline_core.emissions.flows import FLOWS, SiteFlows, site_flows
from peakline_core.emissions.gwp import GWP100, GwpSet, co2e
from peakline_core.emissions.intensity import (
    CarbonIntensitySeries,
    IntensityPoint,
    parse_intensity_csv,
    parse_intensity_message,
)
from peakline_core.emissions.periods import Rollup, aggregate, rollup
from peakline_core.emissions.report import EmissionsReport, EmissionsTotals
from peakline_core.emissions.scope1 import Scope1Result, scope1_gas
from peakline_core.emissions.scope2 import (
    InstrumentBlock,
    MarketInstrument,
    MarketResult,
    SiteMarket,
    scope2_location,
    scope2_market,
)
from peakline_core.emissions.targets import TargetStatus, TargetTrajectory, track

__all__ = [
    "FLOWS",
    "GWP100",
    "CarbonIntensitySeries",
    "EmissionFactorSet",
    "EmissionsError",
    "EmissionsReport",
    "EmissionsSeries",
    "EmissionsTotals",
    "Factor",
    "FactorBook",
    "FactorNotFound",
    "FuelFactors",
    "GwpSet",
    "HeatingValue",
    "InstrumentBlock",
    "IntensityParseError",
    "IntensityPoint",
    "MarketInstrument",
    "MarketResult",
    "Provenance",
    "ResolvedFactor",
    "Rollup",
    "Scope1Result",
    "ShapeError",
    "SiteFlows",
    "SiteMarket",
    "TargetStatus",
    "TargetTrajectory",
    "UnitError",
    "aggregate",
    "avoided_by_curtailment",
    "avoided_by_export",
    "avoided_by_shifting",
    "co2e",
    "compute_emissions",
    "group_reports",
    "integrate_power",
    "interval_energy_from_counter",
    "parse_intensity_csv",
    "parse_intensity_message",
    "rollup",
    "scope1_gas",
    "scope2_location",
    "scope2_market",
    "site_flows",
    "site_reports",
    "track",
]
