"""Historical data import over HTTP: upload (a dry run), then commit.

`POST /api/v1/imports?kind=interval&site=..&device=..&file=usage.csv&...` with the file as
the request body (`text/csv`) parses it and compares it with the store, answering what
would be written (rows, span, total, new/changed/unchanged, every bad row) and an id;
`POST /api/v1/imports/{id}/commit` plans the same upload again against the store as it is
then and writes it. Both need the operator role and a key that sees the site's city; an
upload is committed only by the key that made it. The body is spooled to a temporary file
as it arrives and read from there a chunk at a time by the same streamed import as the
CLI's, so an upload of any size up to `MAX_BYTES` takes bounded memory. The newest `KEPT`
uploads are kept (their files deleted when committed or pushed out; a restarted API
forgets them: upload again). See docs/import.md.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from peakline_api.errors import ApiError, TooLarge, UnknownId
from peakline_api.state import AppState, OperatorCaller, State
from peakline_core.importing import BillSpec, ImportingError, IntervalSpec
from peakline_core.storage import Store
from peakline_store.importing import ImportPlan, ImportRefused, import_file

router = APIRouter(prefix="/api/v1", tags=["imports"])
MAX_BYTES = 2 * 1024**3
KEPT = 32
_FILE = r"^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,127}$"


class ImportInvalid(ApiError):
    status, code, title = 422, "invalid-import", "Import file not readable as asked"


class ImportConflict(ApiError):
    status, code, title = 409, "import-refused", "Import refused"


class ImportSpan(BaseModel):
    from_ns: int
    to_ns: int


class ImportRowError(BaseModel):
    """A refused row: its 1-based line, the column and what was expected."""

    line: int
    column: str
    expected: str
    got: str


class ImportOut(BaseModel):
    """What an upload gives and how it compares with the store (store `ImportPlan.summary`)."""

    id: str
    kind: Literal["interval", "bills"]
    file: str
    sha256: str
    site: str
    device: str
    flow: str
    unit: str
    stored_unit: str
    interval_s: int | None
    rows: int = Field(description="valid rows")
    span: ImportSpan | None
    total: float = Field(description="sum of the valid rows, stored unit")
    new: int
    changed: int
    cleared: int = Field(description="stored imported rows the file no longer has")
    relabelled: int
    unchanged: int
    live_overlap: int = Field(description="intervals already derived from live readings")
    committed_before_ns: list[int]
    bills: int | None
    cost: float | None
    errors: list[ImportRowError]
    notes: list[str]
    committed: bool
    written: int | None = Field(description="rows written (a commit only)")


def import_out(import_id: str, plan: ImportPlan, committed: bool) -> ImportOut:
    return ImportOut.model_validate(
        {
            "id": import_id,
            **plan.summary(),
            "committed": committed,
            "written": plan.written if committed else None,
        }
    )


@dataclass(frozen=True, slots=True)
class PendingImport:
    key_id: str
    kind: Literal["interval", "bills"]
    file: str
    path: Path
    site: str
    device: str
    flow: str
    spec: IntervalSpec | BillSpec


@router.post(
    "/imports",
    status_code=201,
    response_model=ImportOut,
    summary="Upload a file for import (dry run)",
)
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
) -> ImportOut:
    the_site = caller.site(site)
    the_device = caller.device(device)
    if the_device.site != the_site.id:
        raise UnknownId(f"no device {device!r} at site {site!r}")
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
    path = await _spool(request)
    pending = PendingImport(caller.key.id, kind, file, path, site, device, flow, spec)
    try:
        plan = await _import(state.store, pending, write=False)
    except BaseException:
        _discard(path)
        raise
    import_id = uuid.uuid4().hex
    state.imports[import_id] = pending
    while len(state.imports) > KEPT:
        old = state.imports.pop(next(iter(state.imports)))
        if isinstance(old, PendingImport):
            _discard(old.path)
    return import_out(import_id, plan, committed=False)


@router.post(
    "/imports/{import_id}/commit", response_model=ImportOut, summary="Commit an uploaded import"
)
async def commit_import(import_id: str, caller: OperatorCaller, state: State) -> ImportOut:
    pending = state.imports.get(import_id)
    if not isinstance(pending, PendingImport) or pending.key_id != caller.key.id:
        raise UnknownId(f"no pending import {import_id!r}")
    caller.site(pending.site)  # the key may have lost the city since
    try:
        plan = await _import(state.store, pending, write=True, clock_ns=state.clock_ns)
    except ImportRefused as exc:
        raise ImportConflict(str(exc)) from exc
    state.imports.pop(import_id, None)
    _discard(pending.path)
    return import_out(import_id, plan, committed=True)


async def _spool(request: Request) -> Path:
    """The request body in a temporary file (refused past `MAX_BYTES`)."""
    fd, name = tempfile.mkstemp(prefix="peakline-import-")
    path = Path(name)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            async for part in request.stream():
                size += len(part)
                if size > MAX_BYTES:
                    raise TooLarge(f"an import file is at most {MAX_BYTES // 2**20} MiB")
                await asyncio.to_thread(out.write, part)
    except BaseException:
        _discard(path)
        raise
    return path


async def _import(store: Store, p: PendingImport, write: bool, **kw: Any) -> ImportPlan:
    try:
        return await import_file(
            store, p.kind, p.file, p.path, p.site, p.device, p.flow, p.spec, write=write, **kw
        )
    except ImportingError as exc:
        raise ImportInvalid(str(exc)) from exc


def discard_pending(state: AppState) -> None:
    """Delete the spooled files of uploads never committed (at the API's shutdown)."""
    while state.imports:
        _, pending = state.imports.popitem()
        if isinstance(pending, PendingImport):
            _discard(pending.path)


def _discard(path: Path) -> None:
    path.unlink(missing_ok=True)


def _columns(given: list[str] | None) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for item in given or []:
        role, sep, header = item.partition("=")
        if not sep or not role.strip() or not header.strip():
            raise ImportInvalid(f"column {item!r}: expected role=header")
        out[role.strip()] = header.strip()
    return out or None
