"""Demand-response planning: which flexible loads to act on, by how much, to meet a target.

Pure: the caller passes each site's flexibility, its baseline load (for % targets) and the
current values of setpoints (offsets are relative). Per site, actions are taken in priority
order, then largest first; a setpoint offset may be used partly (rounded up to the point's
step), a power limit or deferrable load is all or nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from peakline_core.config.platform import Flexibility, Site
from peakline_core.config.profiles import WriteLimits


@dataclass(frozen=True, slots=True)
class PlannedAction:
    """One command of a plan: write `value` to `device.point`, expecting `expected_kw` shed."""

    site: str
    device: str
    point: str
    kind: str
    value: float | bool
    previous: float | bool | None
    expected_kw: float


@dataclass(frozen=True, slots=True)
class SitePlan:
    site: str
    target_kw: float
    expected_kw: float
    actions: tuple[PlannedAction, ...]
    skipped: tuple[str, ...] = ()
    """Flexibility that could not be used, with why (no current value, limits)."""

    @property
    def shortfall_kw(self) -> float:
        return max(0.0, self.target_kw - self.expected_kw)


@dataclass(frozen=True, slots=True)
class DrPlan:
    sites: tuple[SitePlan, ...] = field(default_factory=tuple)

    @property
    def actions(self) -> list[PlannedAction]:
        return [a for s in self.sites for a in s.actions]

    @property
    def expected_kw(self) -> float:
        return sum(s.expected_kw for s in self.sites)


def site_target_kw(
    reduce_kw: float | None, reduce_pct: float | None, baseline_kw: float | None
) -> float:
    """The kW a site must shed: `reduce_kw`, or `reduce_pct` % of its baseline load (kW)."""
    if reduce_kw is not None:
        return reduce_kw
    if reduce_pct is None or baseline_kw is None:
        raise ValueError("a percentage target needs the site's baseline load")
    return baseline_kw * reduce_pct / 100.0


def _offset_action(
    site: str,
    flex: Flexibility,
    need_kw: float,
    current: float,
    limits: WriteLimits | None,
) -> PlannedAction | str:
    assert flex.offset is not None and flex.kw_per_unit is not None
    units = min(abs(flex.offset), need_kw / flex.kw_per_unit)
    step = limits.step if limits and limits.step else None
    if step is not None:
        units = math.ceil(units / step - 1e-9) * step
        units = min(units, math.floor(abs(flex.offset) / step + 1e-9) * step)
    if limits is not None and limits.max_rate_per_min is not None:
        units = min(units, limits.max_rate_per_min)
    target = current + math.copysign(units, flex.offset)
    if limits is not None:
        target = min(max(target, limits.min), limits.max)
        if step is not None:  # back onto the grid after clamping
            target = limits.min + round((target - limits.min) / step) * step
    used = abs(target - current)
    if used <= 0:
        return f"{flex.device}.{flex.point}: already at its limit ({current:g})"
    return PlannedAction(
        site, flex.device, flex.point, flex.kind, target, current, used * flex.kw_per_unit
    )


def plan_site(
    site: Site,
    target_kw: float,
    current: Mapping[tuple[str, str], float | bool],
    limits: Mapping[tuple[str, str], WriteLimits | None],
) -> SitePlan:
    """Plan one site: shed `target_kw` kW from its flexibility, using `current` values
    (device, point) -> value and each point's `limits` from its profile."""
    actions: list[PlannedAction] = []
    skipped: list[str] = []
    got = 0.0
    order = sorted(
        site.flexibility,
        key=lambda f: (f.priority, -(f.kw or abs(f.offset or 0) * (f.kw_per_unit or 0))),
    )
    for flex in order:
        if got >= target_kw - 1e-9:
            break
        key = (flex.device, flex.point)
        now = current.get(key)
        if flex.kind == "setpoint_offset":
            if now is None or isinstance(now, bool):
                skipped.append(f"{flex.device}.{flex.point}: current value unknown")
                continue
            made = _offset_action(site.id, flex, target_kw - got, float(now), limits.get(key))
            if isinstance(made, str):
                skipped.append(made)
                continue
        else:
            assert flex.value is not None and flex.kw is not None
            made = PlannedAction(
                site.id, flex.device, flex.point, flex.kind, flex.value, now, flex.kw
            )
        actions.append(made)
        got += made.expected_kw
    return SitePlan(site.id, target_kw, got, tuple(actions), tuple(skipped))


def plan_event(
    sites: Sequence[Site],
    targets_kw: Mapping[str, float],
    current: Mapping[tuple[str, str], float | bool],
    limits: Mapping[tuple[str, str], WriteLimits | None],
) -> DrPlan:
    """Plan every site of an event; `targets_kw` maps site id -> kW to shed."""
    return DrPlan(tuple(plan_site(s, targets_kw[s.id], current, limits) for s in sites))
