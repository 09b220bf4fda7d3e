"""Energy and emissions from meter data, vectorized over [sites, time] (pure numpy).

Energy from counters or power, site flows, Scope 1 (all stationary fuels, refrigerants),
Scope 2 location- and market-based side by side (electricity, heat, steam, cooling), avoided
emissions (separate, never netted), intensities, roll-ups, aggregation to districts and
cities, targets, data-centre PUE/WUE and the annual GHG inventory. Factors with provenance come from
config/emission-factors/ through `FactorBook`. See docs/emissions.md.
"""

from peakline_core.emissions.avoided import (
    avoided_by_curtailment,
    avoided_by_export,
    avoided_by_shifting,
)
from peakline_core.emissions.book import (
    CombustionFactors,
    FactorBook,
    FuelFactors,
    ResolvedFactor,
)
from peakline_core.emissions.combustion import (
    CombustionResult,
    FuelBlock,
    gj_per_unit,
    scope1_combustion,
)
from peakline_core.emissions.compute import (
    EmissionsSeries,
    compute_emissions,
    group_reports,
    site_reports,
)
from peakline_core.emissions.datacentre import DataCentreMetrics, data_centre_metrics
from peakline_core.emissions.energy import integrate_power, interval_energy_from_counter
from peakline_core.emissions.errors import (
    EmissionsError,
    FactorNotFound,
    IntensityParseError,
    ShapeError,
    UnitError,
)
from peakline_core.emissions.factors import (
    EmissionFactorSet,
    Factor,
    FuelMethod,
    FuelProperties,
    HeatingValue,
    Provenance,
)
from peakline_core.emissions.flows import FLOWS, SiteFlows, site_flows
from peakline_core.emissions.gwp import GWP100, GwpSet, co2e
from peakline_core.emissions.intensity import (
    CarbonIntensitySeries,
    IntensityPoint,
    parse_intensity_csv,
    parse_intensity_message,
)
from peakline_core.emissions.inventory import (
    Inventory,
    InventoryMethods,
    MeterCompleteness,
    Scope1Line,
    Scope2Line,
    combine,
    completeness,
)
from peakline_core.emissions.inventory_lines import (
    combustion_lines,
    electricity_line,
    refrigerant_line,
)
from peakline_core.emissions.periods import Rollup, aggregate, rollup
from peakline_core.emissions.refrigerants import (
    RefrigerantGwp,
    RefrigerantResult,
    fugitive_refrigerants,
    refrigerant_gwp,
    retrofit_avoided_kg,
)
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
from peakline_core.emissions.thermal import (
    ThermalResult,
    scope2_thermal,
    steam_heat_gj,
    thermal_kwh,
)

__all__ = [
    "FLOWS",
    "GWP100",
    "CarbonIntensitySeries",
    "CombustionFactors",
    "CombustionResult",
    "DataCentreMetrics",
    "EmissionFactorSet",
    "EmissionsError",
    "EmissionsReport",
    "EmissionsSeries",
    "EmissionsTotals",
    "Factor",
    "FactorBook",
    "FactorNotFound",
    "FuelBlock",
    "FuelFactors",
    "FuelMethod",
    "FuelProperties",
    "GwpSet",
    "HeatingValue",
    "InstrumentBlock",
    "IntensityParseError",
    "IntensityPoint",
    "Inventory",
    "InventoryMethods",
    "MarketInstrument",
    "MarketResult",
    "MeterCompleteness",
    "Provenance",
    "RefrigerantGwp",
    "RefrigerantResult",
    "ResolvedFactor",
    "Rollup",
    "Scope1Line",
    "Scope1Result",
    "Scope2Line",
    "ShapeError",
    "SiteFlows",
    "SiteMarket",
    "TargetStatus",
    "TargetTrajectory",
    "ThermalResult",
    "UnitError",
    "aggregate",
    "avoided_by_curtailment",
    "avoided_by_export",
    "avoided_by_shifting",
    "co2e",
    "combine",
    "combustion_lines",
    "completeness",
    "compute_emissions",
    "data_centre_metrics",
    "electricity_line",
    "fugitive_refrigerants",
    "gj_per_unit",
    "group_reports",
    "integrate_power",
    "interval_energy_from_counter",
    "parse_intensity_csv",
    "parse_intensity_message",
    "refrigerant_gwp",
    "refrigerant_line",
    "retrofit_avoided_kg",
    "rollup",
    "scope1_combustion",
    "scope1_gas",
    "scope2_location",
    "scope2_market",
    "scope2_thermal",
    "site_flows",
    "site_reports",
    "steam_heat_gj",
    "thermal_kwh",
    "track",
]
