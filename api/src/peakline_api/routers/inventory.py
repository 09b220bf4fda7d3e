"""The yearly GHG inventory per site, district or city, as JSON and CSV, and refrigerant
service records: the endpoints; services/inventory.py says where each figure comes from and
computes them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from datetime import date as Date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from peakline_api.services import inventory
from peakline_api.services.inventory import InventoryReport, Level, ServiceOut
from peakline_api.state import AppState, Caller, OperatorCaller, State
from peakline_api.timespec import NS
from peakline_core.emissions.inventory import CSV_FIELDS

router = APIRouter(prefix="/api/v1", tags=["reports"])


def _year(state: AppState, year: int | None) -> int:
    return year if year is not None else datetime.fromtimestamp(state.clock_ns() / NS, UTC).year


@router.get(
    "/reports/inventory",
    response_model=InventoryReport,
    summary="Yearly GHG inventory (Scope 1 and 2)",
)
async def inventory_report(
    caller: Caller,
    state: State,
    level: Annotated[Level, Query()] = "site",
    year: Annotated[int | None, Query(ge=2000, le=2100, description="default this year")] = None,
) -> InventoryReport:
    """Scope 1 (fuels, refrigerants) and Scope 2 (electricity, heat, steam, cooling) per
    site, district or city for a calendar year (UTC), kg CO2e."""
    return await inventory.inventory_report(caller, state, level, _year(state, year))


@router.get("/reports/inventory.csv", summary="Yearly GHG inventory as CSV")
async def inventory_csv(
    caller: Caller,
    state: State,
    level: Annotated[Level, Query()] = "site",
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
) -> Response:
    y = _year(state, year)
    items = await inventory.inventories(caller, state, level, y)
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


class ServiceIn(BaseModel):
    date: Date
    kg: float = Field(ge=0, le=100_000, description="kg of refrigerant added or recovered")
    kind: Literal["top_up", "recovery"] = "top_up"
    note: str = Field(default="", max_length=2000)


@router.post(
    "/refrigerants/{asset}/service",
    status_code=201,
    response_model=ServiceOut,
    summary="Record a refrigerant top-up or recovery",
)
async def record_service(
    asset: str, body: ServiceIn, caller: OperatorCaller, state: State
) -> ServiceOut:
    a = inventory.visible_asset(caller, asset)
    return inventory.add_service(state, a, body.date, body.kind, body.kg, body.note, caller.key.id)


@router.get(
    "/refrigerants/{asset}/service",
    response_model=list[ServiceOut],
    summary="Service records posted for an asset (inventory.yaml's are in the config)",
)
async def list_service(asset: str, caller: Caller, state: State) -> list[ServiceOut]:
    a = inventory.visible_asset(caller, asset)
    return inventory.services_of(state, a)
