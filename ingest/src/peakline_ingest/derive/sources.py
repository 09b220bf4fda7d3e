"""Energy sources: which reading series measure a site's flows, and what they may do.

From the device profiles: on main meters (profile kind `meter` or `feeder`; only the site's
`meter` device when the site names one) the kWh/Wh counters whose point name says `import`
or `export` give the flows `import` / `export`; on PV inverters (kind `pv_inverter`) a kWh/Wh
counter gives `pv`. A main meter or inverter with no counter for a flow falls back to power
(W or kW): net `power_total` split into import (positive) and export (negative), inverter
`ac_power` into `pv`. Sub-meters (HVAC, feeders' children) are not site flows, so nothing
is counted twice.

Each source carries the most power it can plausibly carry (`max_kw`, the site's
`demand_cap_kw()`): a counter step or power sample beyond it is suspect.

Data-centre meters (inventory.yaml `data_centres`) give one flow per device: `dc:<device>`
(kWh) and `water:<device>` (litres), for PUE and WUE; sub-meters, not site flows.

Fuel and heat meters named in inventory.yaml are counter sources too, walked the
same glitch-robust way (`carrier_sources`): a fuel meter with a `device` and `point` gives
the flow `fuel:<fuel id>` in the fuel's own unit (m3, t, ...: the meter's `unit`, stored in
the `kwh` field unscaled); a heat meter gives `heat:<network id>` in kWh (GJ x 277.78,
MWh x 1000) whatever the network's carrier (heat, steam or cooling). Their `max_kw` is a
rate per hour in the stored unit: `FUEL_MAX_PER_H` (a sanity cap; inventory.yaml has no
rated flow yet).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import structlog

from peakline_core.config.loader import PlatformConfig
from peakline_core.config.profiles import ModbusProfile

log = structlog.get_logger("peakline.ingest.derive")

NS = 1_000_000_000
MAIN_METERS = frozenset({"meter", "feeder"})
_COUNTER_UNITS = {"kwh": 1.0, "wh": 1e-3, "mwh": 1e3}
_POWER_UNITS = {"w": 1e-3, "kw": 1.0, "mw": 1e3}
_NET_POWER = ("power_total", "power", "active_power")
_PV_POWER = ("ac_power", "power")
_HEAT_TO_KWH = {"kwh": 1.0, "mwh": 1e3, "gj": 1e3 / 3.6, "mj": 1 / 3.6}
FUEL_MAX_PER_H = 1e6
"""Plausible fuel use per hour in the meter's own unit: a sanity cap only (m3/h, t/h)."""
FUEL_FLOW = "fuel:"
HEAT_FLOW = "heat:"
DC_FLOW = "dc:"
"""A data-centre meter's electricity, per device (`dc:<device>`, kWh): a sub-meter, never
part of a site's own flows (its energy is already in the site's `import`)."""
WATER_FLOW = "water:"
"""A data-centre water meter, per device (`water:<device>`), in litres."""
_WATER_TO_L = {"m3": 1000.0, "l": 1.0}


@dataclass(frozen=True, slots=True)
class EnergySource:
    """One reading series that measures a site flow.

    `kind` counter: cumulative energy, `factor` to kWh, `rollover` in kWh; power: `factor`
    to kW, `flow` "net" splits into import (>0) and export (<0).
    """

    site: str
    device: str
    point: str
    flow: str
    kind: Literal["counter", "power"]
    factor: float
    rollover: float | None = None
    max_kw: float = 1e6


def _flow_of_counter(kind: str, point: str) -> str | None:
    name = point.lower()
    if kind in MAIN_METERS:
        if "reactive" in name:
            return None
        if "export" in name:
            return "export"
        if "import" in name:
            return "import"
        return None
    if kind == "pv_inverter":
        return "pv"
    return None


def sources_from_config(platform: PlatformConfig) -> list[EnergySource]:
    """Energy sources of every enabled device (see the module docstring for the rules)."""
    out: list[EnergySource] = []
    for device in platform.devices.values():
        profile = platform.profile_of(device)
        site = platform.sites.get(device.site)
        if not device.enabled or not isinstance(profile, ModbusProfile) or site is None:
            continue
        if profile.kind in MAIN_METERS and site.meter is not None and site.meter != device.id:
            continue
        found: dict[str, EnergySource] = {}
        cap = site.demand_cap_kw()
        for p in profile.points:
            unit = p.unit.lower()
            if not p.counter or unit not in _COUNTER_UNITS:
                continue
            flow = _flow_of_counter(profile.kind, p.name)
            if flow is None or flow in found:
                continue
            factor = _COUNTER_UNITS[unit]
            # SunSpec scale factors vary: the rollover is only known without one
            rollover = (
                abs(p.rollover * p.scale) * factor
                if p.rollover is not None and p.scale_factor is None
                else None
            )
            found[flow] = EnergySource(
                device.site, device.id, p.name, flow, "counter", factor, rollover, cap
            )
        points = {p.name: p for p in profile.points}
        wanted = (
            _NET_POWER
            if profile.kind in MAIN_METERS
            else _PV_POWER
            if profile.kind == "pv_inverter"
            else ()
        )
        needs = {"import", "export"} if profile.kind in MAIN_METERS else {"pv"}
        if wanted and not needs <= found.keys():
            name = next((n for n in wanted if n in points), None)
            if name is not None and points[name].unit.lower() in _POWER_UNITS:
                flow = "net" if profile.kind in MAIN_METERS else "pv"
                factor = _POWER_UNITS[points[name].unit.lower()]
                if flow == "net" and found:  # one counter present: power fills the other only
                    log.info("mixed counter/power meter uses counters only", device=device.id)
                else:
                    found[flow] = EnergySource(
                        device.site, device.id, name, flow, "power", factor, None, cap
                    )
        out.extend(found.values())
    out.extend(carrier_sources(platform))
    out.extend(data_centre_sources(platform))
    return out


def data_centre_sources(platform: PlatformConfig) -> list[EnergySource]:
    """Counter sources of inventory.yaml's data-centre meters, one flow per device: facility
    and IT meters `dc:<device>` (kWh, capped at the site's demand), the water meter
    `water:<device>` (litres). PUE and WUE are computed from these per hour at report time;
    being sub-meters, they are never summed into a site's energy (reports list them apart).
    A meter without an energy (or volume) counter in its profile is skipped with a warning."""
    out: list[EnergySource] = []
    seen: set[str] = set()
    for dc in platform.inventory.data_centres:
        site = platform.sites.get(dc.site)
        if site is None:
            continue
        meters = [(d, DC_FLOW, _COUNTER_UNITS) for d in (*dc.facility_meters, *dc.it_meters)]
        if dc.water_meter is not None:
            meters.append((dc.water_meter, WATER_FLOW, _WATER_TO_L))
        for device_id, prefix, units in meters:
            device = platform.devices.get(device_id)
            if device is None or not device.enabled or device_id in seen:
                continue
            profile = platform.profile_of(device)
            points = profile.points if isinstance(profile, ModbusProfile) else []
            p = next((q for q in points if q.counter and q.unit.lower() in units), None)
            if p is None:
                log.warning("data-centre meter has no counter, no PUE/WUE from it",
                            device=device_id, data_centre=dc.id)  # fmt: skip
                continue
            seen.add(device_id)
            factor = units[p.unit.lower()]
            rollover = (
                abs(p.rollover * p.scale) * factor
                if p.rollover is not None and p.scale_factor is None
                else None
            )
            cap = site.demand_cap_kw() if prefix == DC_FLOW else FUEL_MAX_PER_H
            out.append(EnergySource(site.id, device.id, p.name, f"{prefix}{device.id}",
                                    "counter", factor, rollover, cap))  # fmt: skip
    return out


def carrier_sources(platform: PlatformConfig) -> list[EnergySource]:
    """Counter sources of inventory.yaml's fuel and heat meters that name a device and point.

    Fuel: flow `fuel:<fuel>`, in the meter's unit (factor 1). Heat: flow `heat:<network>`,
    in kWh. A meter whose device is disabled or unknown, or that names no point, is skipped
    (its activity comes from bills, not the deriver).
    """
    out: list[EnergySource] = []
    inv = platform.inventory
    metered = [
        (m.site, m.device, m.point, f"{FUEL_FLOW}{m.fuel}", 1.0, FUEL_MAX_PER_H)
        for m in inv.fuel_meters
    ]
    for h in inv.heat_meters:
        # a site's electrical cap says nothing of its heat connection: the generic sanity cap
        cap = FUEL_MAX_PER_H
        metered.append(
            (
                h.site,
                h.device,
                h.point,
                f"{HEAT_FLOW}{h.network}",
                _HEAT_TO_KWH[h.unit.lower()],
                cap,
            )
        )
    for site_id, device_id, point, flow, factor, cap in metered:
        device = platform.devices.get(device_id) if device_id is not None else None
        if device is None or point is None or not device.enabled:
            continue
        profile = platform.profile_of(device)
        p = (
            next((q for q in profile.points if q.name == point), None)
            if isinstance(profile, ModbusProfile)
            else None
        )
        rollover = (
            abs(p.rollover * p.scale) * factor
            if p is not None and p.rollover is not None and p.scale_factor is None
            else None
        )
        out.append(EnergySource(site_id, device.id, point, flow, "counter", factor, rollover, cap))
    return out
