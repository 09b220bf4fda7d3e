"""Historical data import over HTTP: upload (a dry run), then commit.

`POST /api/v1/imports?kind=interval&site=..&device=..&file=usage.csv&...` with the file as
the request body (`text/csv`) parses it and compares it with the store, answering what
would be written (rows, span, total, new/changed/unchanged, every bad row) and an id;
`POST /api/v1/imports/{id}/commit` plans the same upload again against the store as it is
then and writes it. Both need the operator role and a key that sees the site's city; an
upload is committed only by the key that made it, and is kept in memory (the newest
`KEPT` uploads; a restarted API forgets them: upload again). See docs/import.md.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from peakline_api.errors import ApiError, TooLarge, UnknownId
from peakline_api.state import OperatorCaller, State
from peakline_core.importing import BillSpec, ImportingError, IntervalSpec
from peakline_store.importing import ImportRefused, commit, plan_import

router = APIRouter(prefix="/api/v1", tags=["imports"])
MAX_BYTES = 64 * 1024 * 1024
KEPT = 32
_FILE = r"^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,127}$"


class ImportInvalid(ApiError):
    status, code, title = 422, "invalid-import", "Import file not readable as asked"


class ImportConflict(ApiError):
    status, code, title = 409, "import-refused", "Import refused"


@dataclass(frozen=True, slots=True)
class PendingImport:
    key_id: str
    kind: Literal["interval", "bills"]
    file: str
    data: bytes
    site: str
    device: str
    flow: str
    spec: IntervalSpec | BillSpec


@router.post("/imports", status_code=201, summary="Upload a file for import (dry run)")
async def upload_import(
    request: Request,
    caller: OperatorCaller,
    state: State,
    kind: Literal["interval", "bills"],
    site: Annotated[str, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$")],
    device: Annotated[str, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$")],
    file: Annotated[str, Query(pattern=_FILE, description="the file's name, kept as source")],
    flow: Annotated[str, Query(pattern=r"^[a-z]+(:[A-Za-z0-9_-]+)?$")] = "import",
    timezone: str | None = None,
    unit: str | None = None,
    stored_unit: str | None = None,
    column: Annotated[list[str] | None, Query(description="role=header")] = None,
    values: Literal["interval", "register"] = "interval",
    label: Literal["start", "end"] = "start",
    interval_min: Annotated[int | None, Query(ge=1, le=1440)] = None,
    end_exclusive: bool = False,
) -> dict[str, Any]:
    the_site = caller.site(site)
    the_device = caller.device(device)
    if the_device.site != the_site.id:
        raise UnknownId(f"no device {device!r} at site {site!r}")
    data = await request.body()
    if len(data) > MAX_BYTES:
        raise TooLarge(f"an import file is at most {MAX_BYTES // 2**20} MiB")
    mapping = _columns(column)
    stored = stored_unit or ("m3" if flow.startswith("fuel:") else "kwh")
    spec: IntervalSpec | BillSpec = (
        BillSpec(mapping, unit, stored, timezone, end_inclusive=not end_exclusive)
        if kind == "bills"
        else IntervalSpec(
            mapping,
            unit,
            stored,
            timezone,
            kind=values,
            label=label,
            interval_s=interval_min * 60 if interval_min else None,
        )
    )
    pending = PendingImport(caller.key.id, kind, file, data, site, device, flow, spec)
    plan = await _plan(state.store, pending)
    import_id = uuid.uuid4().hex
    state.imports[import_id] = pending
    while len(state.imports) > KEPT:
        state.imports.pop(next(iter(state.imports)))
    return {"id": import_id, **plan.summary(), "committed": False, "written": None}


@router.post("/imports/{import_id}/commit", summary="Commit an uploaded import")
async def commit_import(import_id: str, caller: OperatorCaller, state: State) -> dict[str, Any]:
    pending = state.imports.get(import_id)
    if not isinstance(pending, PendingImport) or pending.key_id != caller.key.id:
        raise UnknownId(f"no pending import {import_id!r}")
    caller.site(pending.site)  # the key may have lost the city since
    plan = await _plan(state.store, pending)
    try:
        written = await commit(state.store, plan, clock_ns=state.clock_ns)
    except ImportRefused as exc:
        raise ImportConflict(str(exc)) from exc
    state.imports.pop(import_id, None)
    return {"id": import_id, **plan.summary(), "committed": True, "written": written}


async def _plan(store: Any, p: PendingImport) -> Any:
    try:
        return await plan_import(store, p.kind, p.file, p.data, p.site, p.device, p.flow, p.spec)
    except ImportingError as exc:
        raise ImportInvalid(str(exc)) from exc


def _columns(given: list[str] | None) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for item in given or []:
        role, sep, header = item.partition("=")
        if not sep or not role.strip() or not header.strip():
            raise ImportInvalid(f"column {item!r}: expected role=header")
        out[role.strip()] = header.strip()
    return out or None
