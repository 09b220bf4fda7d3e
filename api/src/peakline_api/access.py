"""Who is calling and what they may see: the one place where scope and role are enforced.

Every router resolves ids through `Access`, never through the registry directly, so a key
scoped to riverton cannot name a lakeside site, device or district: it gets the same 404 as
for an id that does not exist (no existence oracle across cities).

Scope rules: a key sees everything in the cities it names. A programme-wide key (`*`) sees
every public city, and non-public cities only if it is an admin key. City-level aggregate
reports of public cities are readable by any key (partner cities benchmark each other).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from peakline_api.errors import Forbidden, InvalidQuery, UnknownId
from peakline_api.keys import ApiKey, Role
from peakline_api.registry import Registry
from peakline_core.config import City, Device, District, Site
from peakline_core.wire.ids import is_valid_id, is_valid_point


@dataclass(frozen=True, slots=True)
class Selection:
    """Sites, devices and points a query may touch, already checked against scope."""

    sites: tuple[str, ...]
    devices: tuple[str, ...]
    points: tuple[str, ...] = ()
    where: dict[str, list[str]] = field(default_factory=dict)


def _check_id(kind: str, value: str) -> None:
    if not is_valid_id(value):
        raise InvalidQuery(f"{kind} id must match [A-Za-z0-9_-]{{1,64}}", param=kind)


@dataclass(frozen=True)
class Access:
    """The caller's key resolved against the registry."""

    key: ApiKey
    registry: Registry

    # ---- roles
    def require(self, role: Role) -> None:
        if self.key.role < role:
            raise Forbidden(f"this needs the {role.name.lower()} role")

    # ---- cities
    def sees_city(self, city: str) -> bool:
        if city in self.key.cities:
            return True
        if not self.key.programme_wide:
            return False
        known = self.registry.cities.get(city)
        return known is not None and (known.public or self.key.role >= Role.ADMIN)

    def may_report_city(self, city: str) -> bool:
        known = self.registry.cities.get(city)
        return known is not None and (known.public or self.sees_city(city))

    def visible_cities(self) -> list[City]:
        return [c for c in self.registry.cities.values() if self.sees_city(c.id)]

    def city(self, city_id: str, *, report: bool = False) -> City:
        _check_id("city", city_id)
        ok = self.may_report_city(city_id) if report else self.sees_city(city_id)
        if not ok:
            raise UnknownId(f"no city {city_id!r}")
        return self.registry.cities[city_id]

    # ---- districts, sites, devices
    def district(self, district_id: str) -> District:
        _check_id("district", district_id)
        d = self.registry.districts.get(district_id)
        if d is None or not self.sees_city(d.city):
            raise UnknownId(f"no district {district_id!r}")
        return d

    def visible_districts(self) -> list[District]:
        return [d for d in self.registry.districts.values() if self.sees_city(d.city)]

    def site(self, site_id: str) -> Site:
        _check_id("site", site_id)
        s = self.registry.sites.get(site_id)
        if s is None or not self.sees_city(s.city):
            raise UnknownId(f"no site {site_id!r}")
        return s

    def visible_sites(self) -> list[Site]:
        return [s for s in self.registry.sites.values() if self.sees_city(s.city)]

    def device(self, device_id: str) -> Device:
        _check_id("device", device_id)
        d = self.registry.devices.get(device_id)
        if d is None or not self.sees_city(self.registry.city_of_site(d.site)):
            raise UnknownId(f"no device {device_id!r}")
        return d

    def visible_devices(self) -> list[Device]:
        return [
            d
            for d in self.registry.devices.values()
            if self.sees_city(self.registry.city_of_site(d.site))
        ]

    # ---- filters shared by every list endpoint
    def sites_matching(
        self,
        sites: Sequence[str] = (),
        districts: Sequence[str] = (),
        cities: Sequence[str] = (),
    ) -> list[Site]:
        """Visible sites filtered by site, district and city ids (AND across, OR within)."""
        chosen = self.visible_sites()
        if sites:
            wanted = {self.site(s).id for s in sites}
            chosen = [s for s in chosen if s.id in wanted]
        if districts:
            wanted = {self.district(d).id for d in districts}
            chosen = [s for s in chosen if s.district in wanted]
        if cities:
            wanted = {self.city(c).id for c in cities}
            chosen = [s for s in chosen if s.city in wanted]
        return chosen

    def select(
        self,
        sites: Sequence[str] = (),
        districts: Sequence[str] = (),
        cities: Sequence[str] = (),
        devices: Sequence[str] = (),
        points: Sequence[str] = (),
    ) -> Selection:
        """Resolve the standard filters into a store `where` limited to the caller's scope."""
        site_ids = [s.id for s in self.sites_matching(sites, districts, cities)]
        site_set = set(site_ids)
        if devices:
            chosen = [self.device(d) for d in dict.fromkeys(devices)]
            device_ids = [d.id for d in chosen if d.site in site_set]
        else:
            device_ids = [d.id for d in self.visible_devices() if d.site in site_set]
        point_ids = list(dict.fromkeys(points))
        for p in point_ids:
            if not is_valid_point(p):
                raise InvalidQuery("point must match [A-Za-z0-9_.-]{1,64}", param="point")
            if not any(p in self.registry.points.get(d, {}) for d in device_ids):
                raise UnknownId(f"no point {p!r} on the selected devices")
        where: dict[str, list[str]] = {}
        if devices:
            where["device"] = device_ids
        # Always bounded by site: rows of sites no longer in the config never leak out.
        where["site"] = site_ids
        if point_ids:
            where["point"] = point_ids
        return Selection(tuple(site_ids), tuple(device_ids), tuple(point_ids), where)

    def regions(self, sites: Iterable[Site]) -> list[str]:
        return sorted({s.grid_region for s in sites})


def issuer_of(caller: Access) -> str:
    """Who a command or DR event was issued by, as the ledger records it."""
    return f"key:{caller.key.id}:{caller.key.name}"[:1024]
