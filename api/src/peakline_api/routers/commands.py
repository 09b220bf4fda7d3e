"""Control commands: POST one, follow its state, and search the audit ledger.

Only operator (or admin) keys may write; any key may read commands of the sites it sees.
Validation runs here with the same function the edge runs again before writing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from peakline_api.access import issuer_of
from peakline_api.control import CommandService, CommandSpec
from peakline_api.errors import UnknownId
from peakline_api.ledger import LedgerEntry
from peakline_api.models import Page
from peakline_api.params import FiltersDep, PagingDep, RangeDep
from peakline_api.state import Caller, OperatorCaller, State
from peakline_api.timespec import iso
from peakline_core.control import DEFAULT_EXPIRES_IN_S, MAX_EXPIRES_IN_S, MIN_EXPIRES_IN_S
from peakline_core.wire import CommandState

router = APIRouter(prefix="/api/v1", tags=["commands"])
_ID = r"^[A-Za-z0-9_-]{1,64}$"


class CommandIn(BaseModel):
    site: str = Field(pattern=_ID)
    device: str = Field(pattern=_ID)
    point: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    value: bool | float = Field(description="engineering units (e.g. degC); true/false for relays")
    expires_in_s: float = Field(
        default=DEFAULT_EXPIRES_IN_S,
        ge=MIN_EXPIRES_IN_S,
        le=MAX_EXPIRES_IN_S,
        description="not executed after this many seconds",
    )
    idempotency_key: str | None = Field(default=None, max_length=128)
    dry_run: bool = Field(default=False, description="validate (API and edge) without writing")
    revert_after_s: float | None = Field(
        default=None, gt=0, le=MAX_EXPIRES_IN_S, description="restore the previous value after"
    )


class CommandEventOut(BaseModel):
    time: str
    state: str
    reason: str | None
    readback: Any
    source: str
    applied: bool


class CommandOut(BaseModel):
    id: str
    site: str
    device: str
    point: str
    value: Any
    state: CommandState
    reason: str | None
    readback: Any
    previous: Any
    issuer: str
    issued_at: str
    expires_at: str
    updated_at: str
    idempotency_key: str | None
    dry_run: bool
    revert_after_s: float | None
    origin: str | None
    history: list[CommandEventOut] | None = None


def command_out(entry: LedgerEntry, history: bool = False) -> CommandOut:
    return CommandOut(
        id=entry.id,
        site=entry.site,
        device=entry.device,
        point=entry.point,
        value=entry.value,
        state=entry.state,
        reason=entry.reason,
        readback=entry.readback,
        previous=entry.previous,
        issuer=entry.issuer,
        issued_at=iso(entry.issued_at),
        expires_at=iso(entry.expires_at),
        updated_at=iso(entry.updated_at),
        idempotency_key=entry.idempotency_key,
        dry_run=entry.dry_run,
        revert_after_s=entry.revert_after_s,
        origin=entry.origin,
        history=[
            CommandEventOut(
                time=iso(e.ts),
                state=e.state,
                reason=e.reason,
                readback=e.readback,
                source=e.source,
                applied=e.applied,
            )
            for e in entry.history
        ]
        if history
        else None,
    )


def control(state: State) -> CommandService:
    return state.control


ControlDep = Annotated[CommandService, Depends(control)]


@router.post(
    "/commands",
    response_model=CommandOut,
    status_code=202,
    summary="Send a command (operator)",
    responses={
        404: {"description": "unknown or invisible site/device"},
        409: {"description": "idempotency key reused for a different command"},
        422: {"description": "rejected by validation (recorded in the ledger)"},
        429: {"description": "device rate limit"},
    },
)
async def post_command(body: CommandIn, caller: OperatorCaller, service: ControlDep) -> CommandOut:
    """Validate against the device profile, record, publish on the device's command topic
    (QoS 1) and return the command; follow it with `GET /api/v1/commands/{id}`."""
    caller.site(body.site)
    caller.device(body.device)
    entry = service.submit(
        CommandSpec(
            site=body.site,
            device=body.device,
            point=body.point,
            value=body.value,
            expires_in_s=body.expires_in_s,
            idempotency_key=body.idempotency_key,
            dry_run=body.dry_run,
            revert_after_s=body.revert_after_s,
        ),
        issuer_of(caller),
    )
    return command_out(await service.send(entry))


@router.get("/commands/{command_id}", response_model=CommandOut, summary="One command")
async def get_command(
    command_id: str,
    caller: Caller,
    service: ControlDep,
    history: Annotated[bool, Query(description="include every state report")] = True,
) -> CommandOut:
    try:
        entry = service.ledger.get(command_id, history=history)
    except KeyError:
        raise UnknownId(f"no command {command_id!r}") from None
    try:
        caller.site(entry.site)
    except UnknownId:
        raise UnknownId(f"no command {command_id!r}") from None
    return command_out(entry, history)


@router.get("/commands", response_model=Page[CommandOut], summary="The audit ledger")
async def list_commands(
    caller: Caller,
    service: ControlDep,
    f: FiltersDep,
    tr: RangeDep,
    paging: PagingDep,
    state: Annotated[list[CommandState], Query(description="command state (repeatable)")] = [],  # noqa: B006
    origin: Annotated[str | None, Query(max_length=128, description="e.g. dr:<event>")] = None,
) -> Page[CommandOut]:
    """Commands issued in the range (default: the last hour), newest first."""
    sites = [s.id for s in caller.sites_matching(f.site, f.district, f.city)]
    devices = [caller.device(d).id for d in f.device]
    if not sites:
        items: list[LedgerEntry] = []
        total = 0
    else:
        items, total = service.ledger.search(
            sites=sites,
            devices=devices,
            states=[s.value for s in state],
            origin=origin,
            since_ns=tr.start_ns,
            until_ns=tr.end_ns,
            limit=paging.limit,
            offset=paging.offset,
        )
    return Page[CommandOut].window([command_out(e) for e in items], total, paging)
