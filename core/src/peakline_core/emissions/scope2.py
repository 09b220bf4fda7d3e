"""Scope 2 emissions, location- and market-based (GHG Protocol Scope 2 Guidance, 2015).

Location-based: every kWh imported from the grid times the grid's carbon intensity for that
interval (an hourly or finer series where available, else the region's annual average).
Exports are never subtracted; self-consumed PV is not imported, so counts zero.

Market-based: contractual instruments (green power contracts, certificates, supplier-
specific rates) cover imports at their own factor until their volume is used up, in the
order given, consumed chronologically; the rest is at the residual mix. Self-consumed PV
counts zero only when the site keeps its certificates; when they are sold, that energy is
reported at the residual mix (Scope 2 Guidance, section 5.x on on-site generation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from peakline_core.emissions._arrays import F64, as_2d, per_site
from peakline_core.emissions.errors import ShapeError


class MarketInstrument(BaseModel):
    """A contractual instrument covering part of a site's grid imports."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["green_power_contract", "certificate", "supplier_specific"]
    mwh: float = Field(gt=0, description="volume covered, MWh")
    factor_kg_per_kwh: float = Field(
        default=0.0, ge=0, description="emission rate of the instrument, kgCO2e/kWh"
    )
    year: int = Field(ge=1990, le=2100, description="vintage: the reporting year it covers")
    name: str = ""


class SiteMarket(BaseModel):
    """A site's market-based inputs (referenced by `Site.market`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instruments: list[MarketInstrument] = Field(default_factory=list)
    pv_certificates_retained: bool = Field(
        default=True, description="the site keeps (retires) the certificates of its own PV"
    )
    residual_mix_kg_per_kwh: float | None = Field(
        default=None, ge=0, description="overrides the factor book's residual mix"
    )


@dataclass(frozen=True, slots=True)
class InstrumentBlock:
    """Instruments of many sites as arrays: [sites, k] kWh volumes and kgCO2e/kWh factors,
    in the order they are to be used (zero-volume padding for sites with fewer)."""

    kwh: F64
    factor: F64

    @classmethod
    def from_markets(cls, markets: Sequence[SiteMarket | None], year: int) -> InstrumentBlock:
        """Arrays from each site's instruments of vintage `year` (None: no instruments)."""
        lists = [[i for i in (m.instruments if m else []) if i.year == year] for m in markets]
        k = max((len(x) for x in lists), default=0)
        kwh = np.zeros((len(lists), k))
        factor = np.zeros((len(lists), k))
        for s, items in enumerate(lists):
            for j, inst in enumerate(items):
                kwh[s, j] = inst.mwh * 1000.0
                factor[s, j] = inst.factor_kg_per_kwh
        return cls(kwh, factor)

    @classmethod
    def none(cls, sites: int) -> InstrumentBlock:
        return cls(np.zeros((sites, 0)), np.zeros((sites, 0)))


def scope2_location(import_kwh: Any, intensity: Any) -> F64:
    """Location-based Scope 2, kgCO2e per interval, [sites, time].

    `import_kwh`: grid import per interval, kWh. `intensity`: kgCO2e/kWh, a scalar, a
    [sites] annual factor per site, a [time] series shared by all sites, or [sites, time].
    """
    imp = as_2d("import_kwh", import_kwh)
    return imp * _broadcast_intensity(intensity, imp.shape)


def _broadcast_intensity(intensity: Any, shape: tuple[int, ...]) -> F64:
    arr = np.asarray(intensity, dtype=np.float64)
    sites, steps = shape
    if arr.ndim == 1 and arr.shape[0] == sites and sites != steps:
        return arr[:, np.newaxis]
    if arr.ndim == 1 and arr.shape[0] == steps:
        return arr[np.newaxis, :]
    if arr.ndim == 1 and arr.shape[0] == sites:
        return arr[:, np.newaxis]
    if arr.ndim in (0, 2):
        try:
            np.broadcast_shapes(arr.shape, shape)
        except ValueError:
            raise ShapeError(f"intensity {arr.shape} does not fit {shape}") from None
        return arr
    raise ShapeError(f"intensity {arr.shape} does not fit {shape}")


@dataclass(frozen=True, slots=True)
class MarketResult:
    """Market-based Scope 2 per interval and what the instruments covered."""

    kg: F64
    """kgCO2e per interval, [sites, time]."""
    covered_kwh: F64
    """Imports matched to instruments per interval, kWh, [sites, time]."""
    matched_after: F64
    """Instrument volume used up to the end of this block, kWh, [sites]: carry it into the
    next block of the same year."""


def scope2_market(
    import_kwh: Any,
    instruments: InstrumentBlock,
    residual: Any,
    *,
    matched_before: Any = 0.0,
    pv_self_kwh: Any = None,
    pv_certificates_retained: Any = True,
) -> MarketResult:
    """Market-based Scope 2, kgCO2e per interval, [sites, time].

    `import_kwh` [sites, time] kWh; `instruments` as `InstrumentBlock`; `residual` residual-
    mix factor, kgCO2e/kWh (scalar, [sites] or [sites, time]). `matched_before` [sites] kWh of
    instrument volume already used earlier in the year (0 at the start of the year).
    `pv_self_kwh` [sites, time] and `pv_certificates_retained` (bool or [sites]): self-consumed
    PV of sites that sold its certificates is added at the residual mix.
    """
    raw = as_2d("import_kwh", import_kwh)
    missing = ~np.isfinite(raw)
    imp = np.where(missing, 0.0, raw)
    sites = imp.shape[0]
    if instruments.kwh.shape[0] != sites:
        raise ShapeError(f"instruments for {instruments.kwh.shape[0]} sites, imports {sites}")
    res = _broadcast_intensity(residual, imp.shape)
    before = per_site("matched_before", matched_before, sites)
    # cumulative import (plus what earlier blocks matched) at the end of each interval
    cum_end = np.cumsum(imp, axis=1)
    cum_end += before
    bounds = np.concatenate([np.zeros((sites, 1)), np.cumsum(instruments.kwh, axis=1)], axis=1)
    covered, kg = _match_instruments(imp, cum_end, bounds, instruments.factor, res)
    if pv_self_kwh is not None:
        pv = np.nan_to_num(as_2d("pv_self_kwh", pv_self_kwh), nan=0.0)
        sold = ~np.broadcast_to(np.asarray(pv_certificates_retained, dtype=bool), (sites,))
        kg = kg + pv * res * sold[:, np.newaxis]
    kg[missing] = np.nan
    total = np.minimum(cum_end[:, -1] if imp.shape[1] else before[:, 0], bounds[:, -1])
    matched_after = np.maximum(total, np.minimum(before[:, 0], bounds[:, -1]))
    return MarketResult(kg, covered, matched_after)


def _match_instruments(
    imp: F64, cum_end: F64, bounds: F64, factor: F64, res: F64
) -> tuple[F64, F64]:
    """Covered kWh and kgCO2e per interval, [sites, time], in one pass over the time axis.

    Each interval lies within one instrument's volume (or past all of them) except the few
    where cumulative imports cross a boundary: the rest take that instrument's factor (or
    the residual mix) directly, the crossings are split exactly on their positions only.
    """
    sites, k = factor.shape
    res_full = np.broadcast_to(res, imp.shape)
    if k == 0:
        return np.zeros_like(imp), imp * res_full
    if imp.size and float(imp.min()) >= 0.0:
        return _match_monotone(imp, cum_end, bounds, factor, res_full)
    # segment of each interval end: 0..k-1 an instrument, k past them all
    seg = np.zeros(imp.shape, dtype=np.int8 if k < 127 else np.int32)
    for j in range(1, k + 1):  # a handful of instruments, not time steps
        seg += cum_end > bounds[:, j : j + 1]
    # an interval starts in the segment the previous one ended in (the block start for the
    # first): where they differ, cumulative imports crossed a boundary inside the interval
    before = (cum_end[:, :1] - imp[:, :1] > bounds[:, 1:]).sum(axis=1)
    crossing = np.empty(imp.shape, dtype=bool)
    np.not_equal(seg[:, 0], before, out=crossing[:, 0])
    np.not_equal(seg[:, 1:], seg[:, :-1], out=crossing[:, 1:])
    if imp.size and float(imp.min()) < 0.0:  # negative imports: split exactly too
        crossing |= (cum_end < imp) | (cum_end < 0.0)
    past = seg == k
    rows = np.arange(sites)[:, np.newaxis]
    rate = np.concatenate([factor, np.zeros((sites, 1))], axis=1)[rows, seg]
    np.copyto(rate, res_full, where=past)
    kg = np.multiply(imp, rate, out=rate)
    covered = imp.copy()
    np.copyto(covered, 0.0, where=past)
    cross = np.nonzero(crossing)
    if cross[0].size:
        r = cross[0]
        e = cum_end[cross]
        s0 = e - imp[cross]
        cov = np.zeros(e.shape)
        cov_kg = np.zeros(e.shape)
        for j in range(k):
            lo, hi = bounds[r, j], bounds[r, j + 1]
            part = np.clip(e, lo, hi) - np.clip(s0, lo, hi)
            cov += part
            cov_kg += part * factor[r, j]
        covered[cross] = cov
        kg[cross] = cov_kg + (imp[cross] - cov) * res_full[cross]
    return covered, kg


def _match_monotone(
    imp: F64, cum_end: F64, bounds: F64, factor: F64, res_full: F64
) -> tuple[F64, F64]:
    """`_match_instruments` when imports are never negative: cumulative imports only grow,
    so each instrument covers one contiguous run of intervals per site, found by binary
    search; the intervals where a boundary is crossed are split exactly."""
    sites, k = factor.shape
    n = imp.shape[1]
    rate = np.empty(imp.shape)
    covered = imp.copy()
    cross_rows: list[int] = []
    cross_cols: list[int] = []
    for i in range(sites):  # per site, not per reading: k slices each
        # first interval whose cumulative import passes each instrument's upper bound
        edges = np.searchsorted(cum_end[i], bounds[i, 1:], side="right")
        lo = 0
        for j in range(k):
            hi = int(edges[j])
            rate[i, lo:hi] = factor[i, j]
            lo = max(lo, hi)
        rate[i, lo:] = res_full[i, lo:]
        covered[i, lo:] = 0.0
        cols = np.unique(edges[edges < n])
        cross_rows.extend([i] * len(cols))
        cross_cols.extend(cols.tolist())
    kg = np.multiply(imp, rate, out=rate)
    if cross_rows:
        r = np.array(cross_rows)
        c = np.array(cross_cols)
        e = cum_end[r, c]
        s0 = e - imp[r, c]
        cov = np.zeros(e.shape)
        cov_kg = np.zeros(e.shape)
        for j in range(k):
            part = np.clip(e, bounds[r, j], bounds[r, j + 1]) - np.clip(
                s0, bounds[r, j], bounds[r, j + 1]
            )
            cov += part
            cov_kg += part * factor[r, j]
        covered[r, c] = cov
        kg[r, c] = cov_kg + (imp[r, c] - cov) * res_full[r, c]
    return covered, kg
