"""The rule evaluator: reads the store, steps each (rule, subject) incident through the core
lifecycle and enqueues one outbox row per (transition, channel).

Everything it decides is in the alert store before anything is sent, so a restart resumes
from there: an incident already open is not opened again, and an enqueued row is sent once.
Run by one API process (the one with `alerts` enabled); see docs/alerts.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import structlog

from peakline_api.alerts.store import AlertStore
from peakline_api.ledger import CommandLedger, LedgerEntry
from peakline_api.live import AgentSpool
from peakline_api.params import TimeRange
from peakline_api.registry import Registry
from peakline_api.services.programme import city_trajectory, judged_trajectory
from peakline_core.alerts import Incident, Observation, Transition, acknowledge, observe
from peakline_core.alerts.conditions import (
    city_month,
    daily_emissions,
    daily_energy,
    in_quiet_hours,
    in_schedule,
    no_data,
    quiet_until,
    spool_backlog,
    threshold,
)
from peakline_core.alerts.lifecycle import NS_PER_MINUTE, reminder_due
from peakline_core.config.alerts import (
    SEVERITY_RANK,
    AlertsFile,
    AnomalyRule,
    Channel,
    CityMonth,
    CommandOutcome,
    DailyEmissions,
    DailyEnergy,
    NoData,
    RefrigerantLeak,
    Rule,
    SpoolBacklog,
    Threshold,
)
from peakline_core.config.inventory import RefrigerantAsset
from peakline_core.storage import SeriesQuery, Store
from peakline_core.storage.schema import ANOMALY_EVENT, EMISSIONS_1D, ENERGY_1D, READING

log = structlog.get_logger("peakline.alerts")

DAY_NS = 86_400 * 1_000_000_000
ANOMALY_LOOKBACK_NS = DAY_NS
Seen = dict[str, tuple[Observation, str | None, dict[str, str | float]]]
"""subject -> (observation, site, summary)"""


def digest_due(channel: Channel, rank: int, due_ns: int) -> int:
    """When a row is due: at once, or for a digest channel and a rule at or below its
    severity, at the end of the digest period it falls in (on the clock, UTC)."""
    digest = channel.digest
    if digest is None or rank > SEVERITY_RANK[digest.max_severity]:
        return due_ns
    period = int(digest.minutes * NS_PER_MINUTE)
    return (due_ns // period + 1) * period


class AlertEvaluator:
    def __init__(
        self,
        alerts: AlertsFile,
        registry: Registry,
        store: Store,
        db: AlertStore,
        ledger: CommandLedger | None = None,
        spool: Callable[[], Mapping[str, AgentSpool]] | None = None,
        refrigerants: Callable[[], Sequence[RefrigerantAsset]] | None = None,
    ):
        self.ledger = ledger
        self.refrigerants = refrigerants
        """inventory.yaml's refrigerant assets with the service records posted through the
        API (read on every pass); None: the inventory's own."""
        self.spool = spool
        """The agents' last reported spool depth (the API's live view of the agent topic)."""
        self.alerts = alerts
        """alerts.yaml: its rules and every channel (rules added through the API are in `db`)"""
        self.channels = {c.id: c for c in alerts.channels}
        self.registry = registry
        self.store = store
        self.db = db
        self.no_verdict: dict[str, dict[str, str]] = {}
        """rule id -> city -> why its last pass gave no verdict (a `city_month` rule whose
        city cannot be judged like for like); cleared once it is judged again"""
        self.no_verdict_count: Counter[str] = Counter()
        """no-verdict evaluations since start, by reason"""

    def all_rules(self) -> list[Rule]:
        """alerts.yaml's rules, then the API's (read from the database on every pass, so an
        evaluator in another process sees a change within one pass)."""
        return [*self.alerts.rules, *self.db.rules()]

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.all_rules() if r.id == rule_id), None)

    def devices_in(self, rule: Rule) -> list[str]:
        s = rule.scope
        kinds = set(s.device_kinds)
        config = self.registry.config
        out = []
        for d in self.registry.devices.values():
            if s.device is not None and d.id != s.device:
                continue
            site = self.registry.sites.get(d.site)
            if site is None or site.city != s.city or not d.enabled:
                continue
            if kinds and config.profile_of(d).kind not in kinds:
                continue
            if s.agent is not None and d.agent != s.agent:
                continue
            if s.district is not None and site.district != s.district:
                continue
            if s.site is not None and site.id != s.site:
                continue
            out.append(d.id)
        return sorted(out)

    def _timezone(self, site: str | None) -> str | None:
        s = None if site is None else self.registry.sites.get(site)
        return None if s is None else s.timezone

    def _site_of(self, device: str) -> str | None:
        d = self.registry.devices.get(device)
        return None if d is None else d.site

    async def evaluate(self, now_ns: int) -> list[Transition]:
        """One pass over every enabled rule; returns the transitions it recorded."""
        since = self.db.since_ns(now_ns)
        done: list[Transition] = []
        for rule in self.all_rules():
            if not rule.enabled:
                continue
            seen = await self._observe(rule, now_ns, since)
            for subject, (obs, site, summary) in sorted(seen.items()):
                if not in_schedule(rule.during, self._timezone(site), now_ns):
                    obs = "clear"  # outside the rule's days and hours: nothing to watch
                current = self.db.live(rule.id, subject)
                new, transitions = observe(
                    current,
                    obs,
                    rule=rule.id,
                    subject=subject,
                    city=rule.scope.city,
                    site=site,
                    severity=rule.severity,
                    now_ns=now_ns,
                    summary=summary,
                )
                if transitions:
                    done += self._record(rule, transitions, now_ns)
                elif new is not None and new != current:
                    self.db.save(new)
            quiet = rule.severity != "critical" and in_quiet_hours(rule.quiet_hours, now_ns)
            for incident in [] if quiet else self.db.live_of_rule(rule.id):
                # No reminders pile up in quiet hours: the first one after them is enough.
                due = reminder_due(incident, rule.repeat_minutes, now_ns)
                if due is not None:
                    done += self._record(rule, [due], now_ns)
        return done

    def acknowledge(self, incident: Incident, by: str, comment: str, now_ns: int) -> Transition:
        """Acknowledge and enqueue its notification (raises IncidentError unless open)."""
        transition = acknowledge(incident, by=by, comment=comment, now_ns=now_ns)
        rule = self.rule(incident.rule)
        if rule is None:  # the rule left the config: keep the record, notify nobody
            self.db.save(transition.incident)
        else:
            self._record(rule, [transition], now_ns)
        return transition

    def _record(
        self, rule: Rule, transitions: Sequence[Transition], now_ns: int
    ) -> list[Transition]:
        due = now_ns if rule.severity == "critical" else quiet_until(rule.quiet_hours, now_ns)
        rank = SEVERITY_RANK[rule.severity]
        channels = [
            self.channels[ch]
            for ch in rule.channels
            if ch in self.channels and rank >= SEVERITY_RANK[self.channels[ch].min_severity]
        ]
        for t in transitions:
            rows = [(t.key, ch.id, t.kind, t.at_ns, digest_due(ch, rank, due)) for ch in channels]
            incident = t.incident
            if t.kind in ("opened", "reminder"):
                incident = dataclasses.replace(incident, last_notified_ns=now_ns)
            self.db.save(incident, rows)
        return list(transitions)

    async def _observe(self, rule: Rule, now_ns: int, since_ns: int) -> Seen:
        cond = rule.condition
        if isinstance(cond, Threshold):
            return await self._threshold(rule, cond, now_ns)
        if isinstance(cond, NoData):
            return await self._no_data(rule, cond, now_ns, since_ns)
        if isinstance(cond, AnomalyRule):
            return await self._anomaly(rule, cond, now_ns)
        if isinstance(cond, DailyEnergy):
            return await self._daily_energy(rule, cond, now_ns)
        if isinstance(cond, DailyEmissions):
            return await self._daily_emissions(rule, cond, now_ns)
        if isinstance(cond, CityMonth):
            return await self._city_month(rule, cond, now_ns)
        if isinstance(cond, SpoolBacklog):
            return self._spool_backlog(rule, cond, now_ns)
        if isinstance(cond, RefrigerantLeak):
            return self._refrigerant_leak(rule, cond, now_ns)
        return self._commands(rule, cond, now_ns)

    def _refrigerant_leak(self, rule: Rule, cond: RefrigerantLeak, now_ns: int) -> Seen:
        """Subject: each refrigerant asset of a site in scope (and, with a device in scope, the
        asset on that device); firing while its top-ups this UTC year exceed the share of its
        charge, clear otherwise (a new year starts from nothing topped up)."""
        inventory = self.registry.config.inventory
        assets = self.refrigerants() if self.refrigerants else inventory.refrigerant_assets
        share = cond.share if cond.share is not None else inventory.leak_threshold
        s = rule.scope
        year = dt.datetime.fromtimestamp(now_ns / 1e9, dt.UTC).year
        out: Seen = {}
        for asset in assets:
            site = self.registry.sites.get(asset.site)
            if site is None or site.city != s.city or asset.retired is not None:
                continue
            if (s.district is not None and site.district != s.district) or (
                s.site is not None and site.id != s.site
            ):
                continue
            if s.device is not None and asset.device != s.device:
                continue
            topped = asset.year_totals(year)[0]
            summary: dict[str, str | float] = {
                "kind": "refrigerant_leak",
                "asset": asset.id,
                "refrigerant": asset.refrigerant,
                "charge_kg": asset.charge_kg,
                "topped_up_kg": round(topped, 2),
                "share_percent": round(share * 100, 1),
                "year": year,
            }
            state: Observation = "firing" if topped > share * asset.charge_kg else "clear"
            out[asset.id] = (state, site.id, summary)
        return out

    def _spool_backlog(self, rule: Rule, cond: SpoolBacklog, now_ns: int) -> Seen:
        """Subject: an edge agent polling devices in scope. An agent that has not reported its
        spool (offline, or an agent too old to report it) holds: no-data rules cover silence."""
        if self.spool is None:
            return {}
        agents = sorted({self.registry.devices[d].agent for d in self.devices_in(rule)})
        reported = self.spool()
        out: Seen = {}
        for agent in agents:
            got = reported.get(agent)
            site = self.registry.config.agents[agent].site
            if got is None:
                out[agent] = ("hold", site, {})
                continue
            summary: dict[str, str | float] = {
                "kind": "spool_backlog",
                "agent": agent,
                "readings": got.readings,
                "oldest_minutes": round(got.oldest_age_s / 60, 1),
            }
            out[agent] = (spool_backlog(cond, got.readings, got.oldest_age_s), site, summary)
        return out

    async def _daily_emissions(self, rule: Rule, cond: DailyEmissions, now_ns: int) -> Seen:
        """The site's last complete UTC day in the deriver's `emissions_1d` (every scope of the
        rule's method), the roll-up the reports read."""
        site = rule.scope.site
        if site is None:
            return {}
        day_start = (now_ns // DAY_NS - 1) * DAY_NS
        series = await self.store.query(
            SeriesQuery(
                EMISSIONS_1D,
                "kgco2e",
                day_start,
                day_start + DAY_NS,
                where={"site": [site], "method": [cond.method]},
            )
        )
        values = [float(v) for s in series for v in s.values if isinstance(v, int | float)]
        kg = sum(values) if values else None
        day = dt.datetime.fromtimestamp(day_start / 1e9, dt.UTC).date().isoformat()
        summary: dict[str, str | float] = {
            "kind": "daily_emissions",
            "day": day,
            "kgco2e": round(kg or 0.0, 1),
            "baseline_kgco2e": cond.baseline_kgco2e,
            "over_percent": round(100 * ((kg or 0.0) / cond.baseline_kgco2e - 1), 1),
        }
        return {site: (daily_emissions(cond, kg), site, summary)}

    async def _city_month(self, rule: Rule, cond: CityMonth, now_ns: int) -> Seen:
        """The city's last complete UTC month judged like for like, exactly as the programme
        page and the overview judge it (`judged_trajectory`): the same sites against the same
        dates last year times the path's ratio, else the sites with their own targets pro rata.
        Firing when that verdict is over by more than the tolerance, clear when on track. With
        no verdict (no data, no baseline, no target) it holds: no incident, and the reason is
        kept in `no_verdict`, logged and counted."""
        city = rule.scope.city
        now = dt.datetime.fromtimestamp(now_ns / 1e9, dt.UTC)
        end = dt.datetime(now.year, now.month, 1, tzinfo=dt.UTC)
        start = (end - dt.timedelta(days=1)).replace(day=1)
        tr = TimeRange(int(start.timestamp()) * 10**9, int(end.timestamp()) * 10**9)
        row = await city_trajectory(self.store, self.registry, city, tr)
        if row is None:
            return {}
        sites = [s for s in self.registry.sites.values() if s.city == city]
        judged = await judged_trajectory(
            self.store, self.registry.cities[city], sites, tr, row["emissions_kgco2e"]
        )
        if judged is None:
            return {}
        month = start.strftime("%Y-%m")
        actual, allowed = judged["actual_kgco2e"], judged["allowed_kgco2e"]
        if judged["basis"] is None or actual is None or allowed is None:
            reason = str(judged["reason"])
            self.no_verdict.setdefault(rule.id, {})[city] = reason
            self.no_verdict_count[reason] += 1
            log.info("alerts.no_verdict", rule=rule.id, city=city, month=month, reason=reason)
            return {city: ("hold", None, {})}
        self.no_verdict.get(rule.id, {}).pop(city, None)
        summary: dict[str, str | float] = {
            "kind": "city_month",
            "month": month,
            "basis": str(judged["basis"]),
            "sites": len(judged["compared_sites"]),
            "actual_kgco2e": round(actual, 1),
            "allowed_kgco2e": round(allowed, 1),
            "projected_kgco2e": round(row["projected_kgco2e"], 1),
            "cap_kgco2e": round(row["cap_kgco2e"], 1),
        }
        obs = city_month(cond, actual, allowed)
        return {city: (obs, None, summary)}

    def _commands(self, rule: Rule, cond: CommandOutcome, now_ns: int) -> Seen:
        """Subject: a device's point. Firing when the newest command of the last day to it
        ended in one of `outcomes`; clear when the newest one was applied (a retry worked)."""
        if self.ledger is None:
            return {}
        devices = set(self.devices_in(rule))
        sites = sorted({self._site_of(d) or "" for d in devices} - {""})
        if not sites:
            return {}
        entries, _ = self.ledger.search(
            sites=sites, devices=sorted(devices), since_ns=now_ns - DAY_NS, limit=1000
        )
        newest: dict[str, LedgerEntry] = {}
        for e in entries:  # newest first
            if e.dry_run:
                continue
            newest.setdefault(f"{e.device}.{e.point}", e)
        out: Seen = {}
        for subject, e in newest.items():
            state = str(e.state)
            obs: Observation = (
                "firing" if state in cond.outcomes else "clear" if state == "applied" else "hold"
            )
            summary: dict[str, str | float] = {
                "kind": "command",
                "command": e.id,
                "outcome": state,
            }
            out[subject] = (obs, e.site, summary)
        return out

    async def _threshold(self, rule: Rule, cond: Threshold, now_ns: int) -> Seen:
        devices = self.devices_in(rule)
        if not devices:
            return {}
        # Enough history to see the reading before the window opened.
        start = now_ns - int((cond.for_minutes + 15) * NS_PER_MINUTE)
        series = await self.store.query(
            SeriesQuery(
                READING,
                "value",
                start,
                now_ns + 1,
                where={"device": devices, "point": [cond.point]},
            )
        )
        out: Seen = {}
        for s in series:
            pairs = [(t, v) for t, v in zip(s.times, s.values, strict=True) if v is not None]
            if not pairs:
                continue
            times = np.fromiter((t for t, _ in pairs), dtype=np.int64, count=len(pairs))
            values = np.fromiter((float(v) for _, v in pairs), dtype=np.float64, count=len(pairs))
            device = s.tags.get("device", "")
            summary: dict[str, str | float] = {
                "kind": "threshold",
                "point": cond.point,
                "value": round(float(values[-1]), 3),
                "op": cond.op,
                "limit": cond.value,
                "for_minutes": cond.for_minutes,
            }
            out[device] = (threshold(cond, times, values, now_ns), s.tags.get("site"), summary)
        return out

    async def _no_data(self, rule: Rule, cond: NoData, now_ns: int, since_ns: int) -> Seen:
        devices = self.devices_in(rule)
        if not devices:
            return {}
        # A value (a number or a text), not a quality: a meter that stops answering still gets
        # an error-quality reading from its gateway every poll, and that is no data.
        last: dict[str, int] = {}
        for fld in ("value", "text"):
            for s in await self.store.latest(READING, fld, {"device": devices}):
                device = s.tags.get("device", "")
                if s.times:
                    last[device] = max(last.get(device, 0), int(s.times[-1]))
        summary: dict[str, str | float] = {"kind": "no_data", "minutes": cond.minutes}
        return {
            d: (no_data(cond, last.get(d), now_ns, since_ns), self._site_of(d), summary)
            for d in devices
        }

    async def _anomaly(self, rule: Rule, cond: AnomalyRule, now_ns: int) -> Seen:
        devices = self.devices_in(rule)
        if not devices:
            return {}
        where: dict[str, Sequence[str]] = {"device": devices}
        if cond.event_kinds:
            where["kind"] = cond.event_kinds
        q = SeriesQuery(ANOMALY_EVENT, "end", now_ns - ANOMALY_LOOKBACK_NS, now_ns + 1, where)
        ends, scores, causes = await asyncio.gather(
            self.store.query(q),
            self.store.query(SeriesQuery(ANOMALY_EVENT, "peak_score", q.start_ns, q.end_ns, where)),
            self.store.query(SeriesQuery(ANOMALY_EVENT, "cause_ns", q.start_ns, q.end_ns, where)),
        )
        score_of = {
            (tuple(sorted(s.tags.items())), t): v
            for s in scores
            for t, v in zip(s.times, s.values, strict=True)
        }
        # an incident a command explains (the platform's own order) is no alarm (issue 18)
        explained = {
            (tuple(sorted(s.tags.items())), t)
            for s in causes
            for t, v in zip(s.times, s.values, strict=True)
            if isinstance(v, int | float) and v > 0
        }
        out: Seen = {d: ("clear", self._site_of(d), {}) for d in devices}
        for s in ends:
            device = s.tags.get("device", "")
            for t, end in zip(s.times, s.values, strict=True):
                key = (tuple(sorted(s.tags.items())), t)
                score = score_of.get(key)
                if end != 0 or not isinstance(score, int | float) or score < cond.min_score:
                    continue
                if key in explained:
                    continue
                out[device] = (
                    "firing",
                    s.tags.get("site"),
                    {"kind": "anomaly", "event_kind": s.tags.get("kind", ""), "score": score},
                )
        return out

    async def _daily_energy(self, rule: Rule, cond: DailyEnergy, now_ns: int) -> Seen:
        site = rule.scope.site
        if site is None:
            return {}
        day_start = (now_ns // DAY_NS - 1) * DAY_NS  # the last complete UTC day
        series = await self.store.query(
            SeriesQuery(
                ENERGY_1D,
                "kwh",
                day_start,
                day_start + DAY_NS,
                where={"site": [site], "flow": ["import"]},
            )
        )
        values = [float(v) for s in series for v in s.values if isinstance(v, int | float)]
        kwh = sum(values) if values else None
        day = dt.datetime.fromtimestamp(day_start / 1e9, dt.UTC).date().isoformat()
        summary: dict[str, str | float] = {
            "kind": "daily_energy",
            "day": day,
            "kwh": round(kwh or 0.0, 1),
            "baseline_kwh": cond.baseline_kwh,
            "over_percent": round(100 * ((kwh or 0.0) / cond.baseline_kwh - 1), 1),
        }
        return {site: (daily_energy(cond, kwh), site, summary)}
