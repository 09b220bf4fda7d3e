"""The programme's benchmark of cities or districts (JSON and CSV) and its air-quality summary:
the endpoints; services/programme.py computes them with the same definitions for every city."""

from __future__ import annotations

import csv
import io
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from peakline_api.params import TimeRange, report_range
from peakline_api.services import programme
from peakline_api.services.programme import AirQualityReport, Level, ProgrammeReport
from peakline_api.state import Caller, State

router = APIRouter(prefix="/api/v1", tags=["programme"])

RangeParam = Annotated[TimeRange, Depends(report_range)]
LevelParam = Annotated[Level, Query(description="city or district rows")]


@router.get(
    "/programme/benchmark",
    response_model=ProgrammeReport,
    response_model_exclude_unset=True,
    summary="Benchmark cities or districts (same definitions)",
)
async def programme_benchmark(
    caller: Caller, state: State, tr: RangeParam, level: LevelParam = "city"
) -> ProgrammeReport:
    return await programme.programme_report(caller, state, tr, level)


CSV_COLUMNS = [
    "level", "id", "name", "city", "sites", "floor_area_m2", "population", "energy_kwh",
    "emissions_kgco2e", "reported_kgco2e", "previous_emissions_kgco2e", "trend",
    "kgco2e_per_capita", "kgco2e_per_m2", "kwh_per_m2", "kgco2e_per_kwh", "target_year",
    "cap_kgco2e", "projected_kgco2e", "on_track", "site_targets_cap_kgco2e",
    "site_targets_projected_kgco2e", "site_targets_on_track", "retrofits_counted",
    "retrofit_avoided_kwh", "retrofit_uncertainty_kwh", "retrofit_avoided_tco2e", "factors",
    "start", "end",
]  # fmt: skip


@router.get(
    "/programme/benchmark.csv",
    summary="The benchmark as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def programme_benchmark_csv(
    caller: Caller, state: State, tr: RangeParam, level: LevelParam = "city"
) -> Response:
    report = await programme.programme_report(caller, state, tr, level)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for it in report.items:
        t, st, rf, i = it.trajectory, it.site_targets, it.retrofits, it.intensity
        w.writerow(
            [it.level, it.id, it.name, it.city, it.sites, it.floor_area_m2, it.population,
             it.energy_kwh, it.emissions_kgco2e, it.reported_kgco2e,
             it.previous_emissions_kgco2e, it.trend,
             i.kgco2e_per_capita, i.kgco2e_per_m2, i.kwh_per_m2, i.kgco2e_per_kwh,
             *((t.year, t.cap_kgco2e, t.projected_kgco2e, t.on_track) if t else (None,) * 4),
             st.cap_kgco2e, st.projected_kgco2e, st.on_track,
             rf.counted, rf.avoided_kwh, rf.uncertainty_kwh, rf.avoided_tco2e,
             ";".join(f"{f.set_id}/{f.region}/{f.year}={f.kgco2e_per_kwh}" for f in it.factors),
             report.start, report.end]
        )  # fmt: skip
    name = f"peakline-benchmark-{level}.csv"
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/programme/air-quality",
    response_model=AirQualityReport,
    summary="Air-quality sensors summarised per district",
)
async def air_quality(caller: Caller, state: State, tr: RangeParam) -> AirQualityReport:
    """Per visible district and point (co2 ppm, pm25 ug/m3): hours of data, mean, 95th
    percentile and max of hourly means, and the share of hours above the threshold."""
    return await programme.air_quality(caller, state, tr)
