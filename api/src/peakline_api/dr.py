"""Demand-response events: plan from site flexibility, issue and revert, verify from meters.

An event asks for N kW (or N %) less at some sites from `start` to `end`. When it starts, the
plan's commands are issued through `CommandService` with `origin="dr:<id>"` and
`revert_after_s` ending at `end`, so the edge restores every value on time even if the
platform is down by then (holds are durable on the gateway). Verification reads each site's
meter from the store and compares the event window with a baseline (see docs/control.md).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import structlog

from peakline_api.control import CommandService, CommandSpec, LeaseHolder
from peakline_api.errors import ApiError
from peakline_api.ledger import CommandLedger
from peakline_api.registry import Registry
from peakline_core.config import ModbusProfile, Site, WriteLimits
from peakline_core.control import (
    MAX_EXPIRES_IN_S,
    plan_event,
    pre_event_baseline,
    resample_mean,
    similar_days_baseline,
    site_target_kw,
    verify,
)
from peakline_core.emissions import FactorNotFound
from peakline_core.errors import PeaklineError
from peakline_core.storage import SeriesQuery, Store, StoreError
from peakline_core.storage.schema import READING
from peakline_core.wire.payloads import CommandState

NS = 1_000_000_000
DAY_NS = 86_400 * NS
START_SLACK_NS = 300 * NS
"""An event may start this far in the past (a client's clock, `now` sent a little late)."""
MAX_LEAD_NS = 30 * DAY_NS
"""... and at most this far ahead."""
MAX_DURATION_NS = int(MAX_EXPIRES_IN_S * NS)
"""At most as long as a command's revert-after hold (24 h), which ends the event on the edge."""
END_HOLD_S = 0.001
"""A cancelled event's holds end this soon after the edge applies the cancelling command."""
MAX_SLOTS = 2_000
"""Verification slots per event (24 h of 60 s slots is 1,440)."""
SIMILAR_DAYS = 10
MIN_SIMILAR_DAYS = 3


class EventRefused(ApiError):
    status, code, title = 422, "dr-event-rejected", "Demand-response event rejected"


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class DemandResponse:
    """Creates, runs and verifies DR events; documents live in the ledger database."""

    def __init__(
        self,
        ledger: CommandLedger,
        registry: Registry,
        store: Store,
        commands: CommandService,
        clock_ns: Callable[[], int],
        *,
        slot_s: float = 60.0,
        pre_window_s: float = 900.0,
    ) -> None:
        self.ledger = ledger
        self.registry = registry
        self.store = store
        self.commands = commands
        self.clock_ns = clock_ns
        self.slot_ns = int(slot_s * NS)
        self.pre_window_ns = int(pre_window_s * NS)
        self.factors = registry.config.factor_book()
        self.log = structlog.get_logger("peakline.api.dr")

    # -- reading the store
    async def _series(self, device: str, point: str, start: int, end: int) -> tuple[Any, Any]:
        found = await self.store.query(
            SeriesQuery(READING, "value", start, end, where={"device": [device], "point": [point]})
        )
        times = np.array([t for s in found for t in s.times], dtype=np.int64)
        values = np.array(
            [np.nan if v is None else float(v) for s in found for v in s.values],
            dtype=np.float64,
        )
        return times, values

    async def _latest(self, device: str, point: str) -> float | None:
        try:
            found = await self.store.latest(
                READING, "value", {"device": [device], "point": [point]}
            )
        except StoreError:
            return None
        for series in found:
            if series.values:
                return _as_float(series.values[-1])
        return None

    async def _mean_kw(self, site: Site, start: int, end: int) -> float | None:
        if site.meter is None:
            return None
        _, values = await self._series(site.meter, site.meter_point, start, end)
        values = values[np.isfinite(values)]
        return float(values.mean()) / 1000.0 if values.size else None

    # -- creating
    async def create(self, body: dict[str, Any], sites: list[Site], issuer: str) -> dict[str, Any]:
        """Plan and store an event. `body`: reduce_kw | reduce_pct, start_ns, end_ns, name,
        marginal_g_per_kwh (avoided-emissions factor, gCO2e/kWh; optional)."""
        now = self.clock_ns()
        start, end = body["start_ns"], body["end_ns"]
        check_window(start, end, now)
        current: dict[tuple[str, str], float | bool] = {}
        limits: dict[tuple[str, str], WriteLimits | None] = {}
        targets: dict[str, float] = {}
        for site in sites:
            for flex in site.flexibility:
                device = self.registry.devices.get(flex.device)
                if device is None:
                    continue
                profile = self.registry.config.profile_of(device)
                if isinstance(profile, ModbusProfile):
                    limits[(flex.device, flex.point)] = profile.point(flex.point).writable
                value = await self._latest(flex.device, flex.point)
                if value is not None:
                    current[(flex.device, flex.point)] = value
            baseline = await self._mean_kw(site, now - self.pre_window_ns, now)
            try:
                targets[site.id] = site_target_kw(
                    body.get("reduce_kw"), body.get("reduce_pct"), baseline
                )
            except ValueError as exc:
                raise EventRefused(f"site {site.id}: {exc}") from None
        plan = plan_event(sites, targets, current, limits)
        event = {
            "id": uuid.uuid4().hex,
            "name": body.get("name") or "",
            "sites": [s.id for s in sites],
            "reduce_kw": body.get("reduce_kw"),
            "reduce_pct": body.get("reduce_pct"),
            "start_ns": start,
            "end_ns": end,
            "marginal_g_per_kwh": body.get("marginal_g_per_kwh"),
            "state": "scheduled",
            "created_by": issuer,
            "created_ns": now,
            "plan": [
                {
                    "site": sp.site,
                    "target_kw": sp.target_kw,
                    "expected_kw": sp.expected_kw,
                    "shortfall_kw": sp.shortfall_kw,
                    "skipped": list(sp.skipped),
                    "actions": [
                        {
                            "device": a.device,
                            "point": a.point,
                            "kind": a.kind,
                            "value": a.value,
                            "previous": a.previous,
                            "expected_kw": a.expected_kw,
                        }
                        for a in sp.actions
                    ],
                }
                for sp in plan.sites
            ],
            "commands": [],
        }
        # Atomic: an event that cannot start as planned is not left behind (nor its commands).
        if now >= start:
            try:
                await self._start(event, now, store=False)
            except BaseException:
                self._cancel_commands(event, now, "the event could not be created")
                raise
        self.ledger.put_event(event["id"], now, event)
        return self.ledger.event(event["id"])

    async def cancel(self, event: dict[str, Any], issuer: str) -> dict[str, Any]:
        """End an event now: a scheduled one never starts; an active one's holds end at once
        and its pending commands expire.

        Ending a hold is the edge's revert, not a write of the old value: each applied point
        gets the event's own value again with a hold that ends immediately, and a hold on a
        held point keeps the value from before the first one, so the edge restores that (a
        Modbus point is written back, a BACnet point's priority is relinquished and the
        building's schedule takes over again)."""
        if event["state"] not in ("scheduled", "active"):
            raise EventRefused(f"the event is {event['state']}, it cannot be cancelled")
        now = self.clock_ns()
        reverts: list[dict[str, Any]] = []
        if event["state"] == "active":
            self._cancel_commands(event, now, "the event was cancelled")
            held = {
                (sp["site"], a["device"], a["point"]): a["value"]
                for sp in event["plan"]
                for a in sp["actions"]
            }
            for ref in event["commands"]:
                entry = self.ledger.get(ref["id"]) if ref.get("id") else None
                # A sent command may still be applied: its revert follows it on the same topic.
                if entry is None or entry.state not in (CommandState.SENT, CommandState.APPLIED):
                    continue
                value = held.get((entry.site, entry.device, entry.point))
                if value is None:
                    continue
                spec = CommandSpec(
                    site=entry.site,
                    device=entry.device,
                    point=entry.point,
                    value=value,
                    expires_in_s=60.0,
                    idempotency_key=f"dr:{event['id']}:cancel:{entry.device}:{entry.point}",
                    revert_after_s=END_HOLD_S,
                )
                try:
                    sent = await self.commands.send(
                        self.commands.submit(spec, issuer, f"dr:{event['id']}:cancel")
                    )
                    reverts.append({"id": sent.id, "device": sent.device, "point": sent.point})
                except (ApiError, PeaklineError) as exc:
                    reverts.append({"id": None, "device": entry.device, "error": str(exc)})
        event["state"] = "cancelled"
        event["cancelled_ns"] = now
        event["cancelled_by"] = issuer
        event["reverts"] = reverts
        self.ledger.put_event(event["id"], event["created_ns"], event)
        return event

    def _cancel_commands(self, event: dict[str, Any], now: int, reason: str) -> None:
        """Expire the event's commands not yet published (the sweeper will not send them)."""
        for ref in event.get("commands", []):
            if ref.get("id"):
                entry = self.ledger.get(ref["id"])
                if entry.state is CommandState.ACCEPTED:
                    self.ledger.transition(
                        entry.id, CommandState.EXPIRED, now, source="api", reason=reason
                    )

    # -- running
    async def tick(self) -> None:
        """Start due events (issue their commands); mark ended ones completed."""
        now = self.clock_ns()
        for event in self.ledger.events():
            try:
                if event["state"] == "scheduled" and now >= event["start_ns"]:
                    await self._start(event, now)
                elif event["state"] == "active" and now >= event["end_ns"]:
                    event["state"] = "completed"
                    self.ledger.put_event(event["id"], event["created_ns"], event)
            except (KeyError, TypeError, ValueError) as exc:
                # One damaged record (hand-edited, or from an older release) must not stop
                # every other event: it is skipped on each tick, and the listing shows it
                # as unreadable.
                self.log.error("dr event unreadable", id=event.get("id"), error=repr(exc))

    async def _start(self, event: dict[str, Any], now: int, store: bool = True) -> None:
        # The command limits hold for DR too: an event stored before its bounds existed is
        # held no longer than a command may be.
        hold_s = min((event["end_ns"] - now) / NS, MAX_EXPIRES_IN_S)
        ids: list[dict[str, Any]] = []
        for site_plan in event["plan"]:
            for action in site_plan["actions"]:
                spec = CommandSpec(
                    site=site_plan["site"],
                    device=action["device"],
                    point=action["point"],
                    value=action["value"],
                    expires_in_s=min(max(hold_s, 1.0), 60.0),
                    idempotency_key=f"dr:{event['id']}:{action['device']}:{action['point']}",
                    revert_after_s=max(hold_s, 0.001),
                )
                event["commands"] = ids  # what was recorded so far, should a send fail
                try:
                    entry = self.commands.submit(spec, event["created_by"], f"dr:{event['id']}")
                except (ApiError, PeaklineError) as exc:
                    ids.append({"id": None, "device": action["device"], "error": str(exc)})
                    continue
                ids.append({"id": entry.id, "device": entry.device, "point": entry.point})
                await self.commands.send(entry)
        event["commands"] = ids
        event["state"] = "active"
        if store:
            self.ledger.put_event(event["id"], event["created_ns"], event)
        self.log.info("dr event started", id=event["id"], commands=len(ids))

    # -- verifying
    async def verification(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Baseline vs metered load per site over the event so far (None before it starts)."""
        now = self.clock_ns()
        start, end = event["start_ns"], min(event["end_ns"], event.get("cancelled_ns", now), now)
        if end <= start:
            return None
        slots = max(1, -(-(end - start) // self.slot_ns))
        if slots > MAX_SLOTS:  # an event stored before its bounds existed: its last slots
            start = end - MAX_SLOTS * self.slot_ns
            slots = MAX_SLOTS
        sites = [self.registry.sites[s] for s in event["sites"]]
        actual = np.full((len(sites), slots), np.nan)
        baseline = np.full((len(sites), slots), np.nan)
        methods: list[str] = []
        for i, site in enumerate(sites):
            if site.meter is None:
                methods.append("no meter")
                continue
            t, v = await self._series(site.meter, site.meter_point, start, end)
            actual[i] = resample_mean(t, v / 1000.0, start, self.slot_ns, slots)
            row, method = await self._baseline(site, start, slots)
            baseline[i] = row
            methods.append(method)
        factors, sources = self._marginal_factors(event, sites, start)
        edges = start + np.arange(slots + 1, dtype=np.int64) * self.slot_ns
        durations = (np.minimum(edges[1:], end) - edges[:-1]) / NS  # the last slot may be cut
        result = verify(baseline, actual, durations, np.nan_to_num(factors))
        return {
            "window_start_ns": start,
            "window_end_ns": end,
            "slot_s": self.slot_ns / NS,
            "complete": now >= event["end_ns"],
            "sites": [
                {
                    "site": site.id,
                    "baseline_method": methods[i],
                    "baseline_kw": _num(result.baseline_kw[i]),
                    "actual_kw": _num(result.actual_kw[i]),
                    "shed_kw": _num(result.shed_kw[i]),
                    "shed_kwh": _num(result.shed_kwh[i]),
                    "avoided_kg_co2e": _num(result.avoided_kg[i])
                    if np.isfinite(factors[i])
                    else None,
                    "marginal_g_per_kwh": _num(factors[i]),
                    "factor_source": sources[i],
                    "coverage": _num(result.coverage[i]),
                }
                for i, site in enumerate(sites)
            ],
            "total_shed_kwh": _num(result.shed_kwh.sum()),
            "total_avoided_kg_co2e": _num(result.avoided_kg.sum())
            if np.isfinite(factors).any()
            else None,
        }

    def _marginal_factors(
        self, event: dict[str, Any], sites: list[Site], start_ns: int
    ) -> tuple[Any, list[str | None]]:
        """Per site gCO2e/kWh (NaN: unknown) and where it came from: the event's own factor,
        else the site's grid region's marginal factor from the configured factor sets."""
        given = event.get("marginal_g_per_kwh")
        factors = np.full(len(sites), np.nan)
        sources: list[str | None] = []
        year = int(1970 + start_ns / NS / 86_400 / 365.2425)
        for i, site in enumerate(sites):
            if given is not None:
                factors[i] = float(given)
                sources.append("event")
                continue
            try:
                found = self.factors.marginal_detail(site.grid_region, year)
            except FactorNotFound:
                sources.append(None)
                continue
            factors[i] = found.value * 1000.0
            kind = found.kind if not found.fallback else f"{found.fallback} (no marginal)"
            sources.append(f"{found.set_id}: {found.region} {kind} {found.year}")
        return factors, sources

    async def _baseline(self, site: Site, start: int, slots: int) -> tuple[Any, str]:
        assert site.meter is not None
        days: list[Any] = []
        weekend = _weekend(start)
        day = 1
        while len(days) < SIMILAR_DAYS and day <= 3 * SIMILAR_DAYS:
            day_start = start - day * DAY_NS
            day += 1
            if _weekend(day_start) != weekend:
                continue
            t, v = await self._series(
                site.meter, site.meter_point, day_start, day_start + slots * self.slot_ns
            )
            if t.size:
                days.append(resample_mean(t, v / 1000.0, day_start, self.slot_ns, slots))
        if len(days) >= MIN_SIMILAR_DAYS:
            history = np.stack(days)[None, :, :]
            return similar_days_baseline(history)[0], f"similar_days({len(days)})"
        t, v = await self._series(site.meter, site.meter_point, start - self.pre_window_ns, start)
        pre = (v / 1000.0)[None, :] if v.size else np.full((1, 1), np.nan)
        return pre_event_baseline(pre, slots)[0], f"pre_event({self.pre_window_ns // NS}s)"


def check_window(start_ns: int, end_ns: int, now_ns: int) -> None:
    """An event starts within `START_SLACK_NS` before now and `MAX_LEAD_NS` after, and lasts
    at most `MAX_DURATION_NS` (UTC ns). Raises EventRefused."""
    if end_ns <= start_ns or end_ns <= now_ns:
        raise EventRefused("the event must end after it starts and after now")
    if start_ns < now_ns - START_SLACK_NS:
        raise EventRefused(f"the event must not start more than {START_SLACK_NS // NS} s ago")
    if start_ns > now_ns + MAX_LEAD_NS:
        raise EventRefused(f"the event must start within {MAX_LEAD_NS // DAY_NS} days")
    if end_ns - start_ns > MAX_DURATION_NS:
        raise EventRefused(f"the event must last at most {MAX_DURATION_NS // NS} s")


def _weekend(ts_ns: int) -> bool:
    # 1970-01-01 was a Thursday: day index 2 and 3 (mod 7) are Saturday and Sunday (UTC).
    return (ts_ns // DAY_NS) % 7 in (2, 3)


def _num(x: Any) -> float | None:
    value = float(x)
    return value if np.isfinite(value) else None


async def run_events(
    dr: DemandResponse, every_s: float = 1.0, lease: LeaseHolder | None = None
) -> None:
    """Start and complete events on time, forever (a store outage only delays a tick); with a
    lease, only while this process holds it (one scheduler across replicas)."""
    try:
        while True:
            try:
                if lease is None or lease.held():
                    await dr.tick()
            except (StoreError, PeaklineError) as exc:
                dr.log.warning("dr tick failed", error=str(exc))
            except Exception:  # a bug in one tick must not end the scheduler for good
                dr.log.exception("dr tick failed unexpectedly")
            await asyncio.sleep(every_s)
    finally:
        if lease is not None:
            lease.release()
