"""The yearly GHG inventory per site, district or city (issue 26), as JSON and CSV.

Activity comes from the deriver's stored roll-ups (`totals.py`): grid electricity from the
`import` flow and the stored/computed Scope 2 sums, fuel from the `fuel:<fuel>` flows (in
the fuel meter's own unit), purchased heat, steam and cooling from the `heat:<network>`
flows (kWh); refrigerants from inventory.yaml's service records. The core
(`peakline_core.programme.inventory.site_inventory`) applies the factor book; sites add up
into districts and cities with `combine`.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from peakline_api.routers.reports import _report_sites
from peakline_api.state import Caller, State
from peakline_api.totals import site_totals
from peakline_core.emissions.inventory import CSV_FIELDS, Inventory, Scope2Line, combine
from peakline_core.emissions.thermal import KWH_PER
from peakline_core.programme.inventory import site_inventory

router = APIRouter(prefix="/api/v1", tags=["reports"])

Level = Literal["site", "district", "city"]
FUEL_FLOW = "fuel:"
HEAT_FLOW = "heat:"
NS = 1_000_000_000


def year_bounds_ns(year: int) -> tuple[int, int]:
    """[1 Jan `year`, 1 Jan `year`+1) in UTC ns."""
    lo = datetime(year, 1, 1, tzinfo=UTC)
    hi = datetime(year + 1, 1, 1, tzinfo=UTC)
    return int(lo.timestamp()) * NS, int(hi.timestamp()) * NS


async def inventories(caller: Any, state: Any, level: Level, year: int) -> list[Inventory]:
    """The inventories of the caller's sites, districts or cities for `year`, by id."""
    sites = _report_sites(caller, [], [], [], level)
    reg = caller.registry
    config = reg.config
    book = config.factor_book()
    inv_cfg = config.inventory
    start, end = year_bounds_ns(year)
    totals = await site_totals(state.store, sites, book, start, end)
    per_site: list[tuple[Any, Inventory]] = []
    for s in sites:
        t = totals[s.id]
        fuel: dict[str, float] = {}
        seen: set[str] = set()
        for m in (m for m in inv_cfg.fuel_meters if m.site == s.id):
            # one flow per (site, fuel): its first meter carries it
            if m.fuel not in seen:
                fuel[m.id] = t.energy_kwh.get(f"{FUEL_FLOW}{m.fuel}", 0.0)
                seen.add(m.fuel)
        heat: dict[str, float] = {}
        seen = set()
        for h in (h for h in inv_cfg.heat_meters if h.site == s.id):
            if h.network not in seen:
                kwh = t.energy_kwh.get(f"{HEAT_FLOW}{h.network}", 0.0)
                heat[h.id] = kwh / KWH_PER[h.unit]
                seen.add(h.network)
        electricity = Scope2Line(
            "electricity",
            t.energy_kwh.get("import", 0.0),
            t.location_kg or 0.0,
            t.market_kg or 0.0,
            "",
            "",
        )
        inv = site_inventory(
            s.id,
            year,
            book,
            inv_cfg,
            floor_area_m2=s.floor_area_m2,
            fuel_activity={k: [v] for k, v in fuel.items()},
            heat_energy={k: [v] for k, v in heat.items()},
            electricity=electricity,
        )
        per_site.append((s, inv))
    if level == "site":
        return sorted((inv for _, inv in per_site), key=lambda i: i.entity_id)
    groups: dict[str, list[Inventory]] = defaultdict(list)
    for s, inv in per_site:
        groups[s.district if level == "district" else s.city].append(inv)
    out = []
    for gid, parts in sorted(groups.items()):
        population = reg.cities[gid].population if level == "city" else None
        out.append(combine(level, gid, parts, population))
    return out


def _year(state: Any, year: int | None) -> int:
    return year if year is not None else datetime.fromtimestamp(state.clock_ns() / NS, UTC).year


@router.get("/reports/inventory", summary="Yearly GHG inventory (Scope 1 and 2)")
async def inventory_report(
    caller: Caller,
    state: State,
    level: Annotated[Level, Query()] = "site",
    year: Annotated[int | None, Query(ge=2000, le=2100, description="default this year")] = None,
) -> dict[str, Any]:
    """Scope 1 (fuels, refrigerants) and Scope 2 (electricity, heat, steam, cooling) per
    site, district or city for a calendar year (UTC), kg CO2e."""
    y = _year(state, year)
    items = await inventories(caller, state, level, y)
    return {"level": level, "year": y, "items": [i.as_dict() for i in items]}


@router.get("/reports/inventory.csv", summary="Yearly GHG inventory as CSV")
async def inventory_csv(
    caller: Caller,
    state: State,
    level: Annotated[Level, Query()] = "site",
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
) -> Response:
    y = _year(state, year)
    items = await inventories(caller, state, level, y)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for inv in items:
        writer.writerows(inv.csv_rows())
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="inventory-{level}-{y}.csv"'},
    )
