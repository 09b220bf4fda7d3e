"""Net and gross energy flows of a site, per interval, [sites, time] kWh.

on-site consumption = import - export + PV + battery discharge - battery charge.
Exports are taken to come from PV first, so self-consumed PV = min(PV, max(PV - export, 0)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from peakline_core.emissions._arrays import F64, as_2d
from peakline_core.emissions.errors import ShapeError

FLOWS: Final = ("import", "export", "pv", "charge", "discharge", "consumption", "gas")
"""Flow names as stored in the `energy` measurement's `flow` tag."""


@dataclass(frozen=True, slots=True)
class SiteFlows:
    """Per-interval energy flows of many sites, kWh, all [sites, time]."""

    grid_import: F64
    grid_export: F64
    pv: F64
    charge: F64
    discharge: F64

    @property
    def consumption(self) -> F64:
        """On-site consumption, kWh: import - export + PV + discharge - charge."""
        out: F64 = self.grid_import - self.grid_export + self.pv + self.discharge - self.charge
        return out

    @property
    def pv_self_consumed(self) -> F64:
        """PV used on site (not exported), kWh."""
        out: F64 = np.clip(self.pv - self.grid_export, 0.0, None)
        return out

    def as_dict(self) -> dict[str, F64]:
        """Flow name -> [sites, time] kWh, names as in `FLOWS` (storage tags)."""
        return {
            "import": self.grid_import,
            "export": self.grid_export,
            "pv": self.pv,
            "charge": self.charge,
            "discharge": self.discharge,
            "consumption": self.consumption,
        }


def site_flows(
    grid_import: Any,
    grid_export: Any = None,
    pv: Any = None,
    charge: Any = None,
    discharge: Any = None,
) -> SiteFlows:
    """Bundle metered flows (kWh per interval, [sites, time]); missing flows are zero.

    Negative readings are clipped to zero: each flow is metered in its own direction.
    """
    imp = np.clip(as_2d("grid_import", grid_import), 0.0, None)

    def opt(name: str, values: Any) -> F64:
        if values is None:
            return np.zeros_like(imp)
        arr = np.clip(as_2d(name, values), 0.0, None)
        if arr.shape != imp.shape:
            raise ShapeError(f"{name} has shape {arr.shape}, grid_import {imp.shape}")
        return arr

    return SiteFlows(
        imp,
        opt("grid_export", grid_export),
        opt("pv", pv),
        opt("charge", charge),
        opt("discharge", discharge),
    )


def self_consumption_ratio(pv_kwh: float, pv_self_kwh: float) -> float | None:
    """Share of PV generation used on site (0..1); None without generation."""
    return pv_self_kwh / pv_kwh if pv_kwh > 0 else None


def self_sufficiency_ratio(consumption_kwh: float, pv_self_kwh: float) -> float | None:
    """Share of on-site consumption met by the site's own PV (0..1); None without load."""
    return pv_self_kwh / consumption_kwh if consumption_kwh > 0 else None
