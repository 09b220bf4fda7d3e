"""Per-point series from the store: newest values, and time series with aggregation and
automatic downsampling (readings, or anomaly scores), checked against the registry."""

from __future__ import annotations

import asyncio

from peakline_api.access import Access, Selection
from peakline_api.errors import InvalidQuery
from peakline_api.models import LatestReading, SeriesOut, SeriesResponse
from peakline_api.params import Filters, TimeRange, window_ns
from peakline_api.state import AppState
from peakline_api.timespec import NS, auto_window, iso
from peakline_core.storage import Aggregate, Series, SeriesQuery
from peakline_core.storage.schema import READING, QualityCode

_QUALITY = {int(q): q.name.lower() for q in QualityCode}


def _known(caller: Access, sel: Selection, s: Series) -> tuple[str, str, str] | None:
    """The series' (site, device, point) if it is a registered point of a selected device."""
    site, device, point = (s.tags.get(k, "") for k in ("site", "device", "point"))
    if device not in sel.devices or point not in caller.registry.points.get(device, {}):
        return None
    if sel.points and point not in sel.points:
        return None
    return site, device, point


async def fetch_series(
    state: AppState,
    caller: Access,
    f: Filters,
    tr: TimeRange,
    window: str | None,
    aggregate: Aggregate,
    measurement: str = READING,
    field: str = "value",
) -> tuple[list[SeriesOut], str | None, bool]:
    """Query per-point series (readings, or anomaly scores); returns (series, window
    used, whether the API chose it)."""
    sel = caller.select(f.site, f.district, f.city, f.device, f.point)
    reg = caller.registry
    n_series = sum(
        len([p for p in reg.points[d] if not sel.points or p in sel.points]) for d in sel.devices
    )
    if n_series > state.settings.max_series:
        raise InvalidQuery(
            f"{n_series} series match; at most {state.settings.max_series}: narrow the filters"
        )
    if not sel.devices or n_series == 0:
        return [], window, False
    auto = False
    every_ns: int | None = None
    if window:
        every_ns = window_ns(window, tr)
    else:
        sample_s = min(
            reg.sample_interval_s(d, p)
            for d in sel.devices
            for p in (sel.points or reg.points[d])
            if p in reg.points[d]
        )
        chosen = auto_window(
            tr.start_ns, tr.end_ns, state.settings.max_points_per_series, int(sample_s * NS)
        )
        if chosen is not None:
            window, every_ns = chosen
            auto = True
    query = SeriesQuery(
        measurement=measurement,
        field=field,
        start_ns=tr.start_ns,
        end_ns=tr.end_ns,
        where=sel.where,
        every_ns=every_ns,
        aggregate=aggregate,
        limit=None if every_ns else state.settings.max_points_per_series * 4,
    )
    out: list[SeriesOut] = []
    for s in await state.store.query(query):
        key = _known(caller, sel, s)
        if key is None:
            continue
        site, device, point = key
        out.append(
            SeriesOut(
                site=site,
                device=device,
                point=point,
                unit=reg.points[device][point].unit,
                t_ms=[t // 1_000_000 for t in s.times],
                values=list(s.values),
            )
        )
    out.sort(key=lambda r: (r.site, r.device, r.point))
    return out, window, auto


async def series_response(
    state: AppState,
    caller: Access,
    f: Filters,
    tr: TimeRange,
    window: str | None,
    aggregate: Aggregate,
    measurement: str = READING,
    field: str = "value",
) -> SeriesResponse:
    """`fetch_series` with the range, the window used and whether the API chose it."""
    data, used, auto = await fetch_series(
        state, caller, f, tr, window, aggregate, measurement=measurement, field=field
    )
    return SeriesResponse(
        start=iso(tr.start_ns),
        end=iso(tr.end_ns),
        window=used,
        aggregate=aggregate.value if used else None,
        downsampled=auto,
        series=data,
    )


async def newest_readings(caller: Access, state: AppState, f: Filters) -> list[LatestReading]:
    """The newest value and quality of every matching registered point, by site, device,
    point."""
    sel = caller.select(f.site, f.district, f.city, f.device, f.point)
    if not sel.devices:
        return []
    values, qualities = await asyncio.gather(
        state.latest.latest(READING, "value", sel.where),
        state.latest.latest(READING, "quality", sel.where),
    )
    quality: dict[tuple[str, str, str], object] = {}
    for s in qualities:
        key = _known(caller, sel, s)
        if key is not None and s.values:
            quality[key] = s.values[-1]
    items: list[LatestReading] = []
    for s in values:
        key = _known(caller, sel, s)
        if key is None or not s.times:
            continue
        site, device, point = key
        q = quality.get(key)
        items.append(
            LatestReading(
                site=site,
                device=device,
                point=point,
                unit=caller.registry.points[device][point].unit,
                time=iso(s.times[-1]),
                t_ms=s.times[-1] // 1_000_000,
                value=s.values[-1],
                quality=_QUALITY.get(int(q)) if isinstance(q, int | float) else None,
            )
        )
    items.sort(key=lambda r: (r.site, r.device, r.point))
    return items
