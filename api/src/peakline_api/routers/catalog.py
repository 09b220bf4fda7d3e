"""Cities, districts, sites and devices from the config, with live status from the broker."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from peakline_api.models import (
    CityOut,
    DeviceOut,
    DeviceStatusOut,
    DistrictOut,
    Page,
    PointOut,
    SiteOut,
)
from peakline_api.params import FiltersDep, PagingDep
from peakline_api.state import AppState, Caller, State
from peakline_api.timespec import iso
from peakline_core.config import Device

router = APIRouter(prefix="/api/v1", tags=["catalog"])

SitePath = Annotated[str, Path(max_length=64, description="site id", examples=["rt-school"])]
DevicePath = Annotated[str, Path(max_length=64, description="device id", examples=["school-meter"])]


def device_out(state: AppState, device: Device) -> DeviceOut:
    live = state.hub.device(device.site, device.id)
    profile = state.registry.config.profile_of(device)
    points = [
        PointOut(
            name=p.name,
            unit=p.unit,
            counter=p.counter,
            writable=None if p.writable is None else p.writable.model_dump(),
        )
        for p in state.registry.points[device.id].values()
    ]
    return DeviceOut(
        id=device.id,
        site=device.site,
        agent=device.agent,
        profile=device.profile,
        kind=profile.kind,
        name=device.name,
        read_only=device.read_only,
        enabled=device.enabled,
        poll_interval_s=device.poll_interval_s,
        status=DeviceStatusOut(
            state=live.state,
            since=iso(live.since_ns) if live.since_ns else None,
            reason=live.reason,
            last_seen=iso(live.last_seen_ns) if live.last_seen_ns else None,
            quality=live.quality,
        ),
        points=points,
    )


def site_out(state: AppState, site_id: str) -> SiteOut:
    site = state.registry.sites[site_id]
    devices = [d for d in state.registry.devices_of_site(site_id) if d.enabled]
    online = sum(1 for d in devices if state.hub.device(site_id, d.id).state == "online")
    return SiteOut(
        **site.model_dump(
            include={
                "id",
                "name",
                "city",
                "district",
                "kind",
                "floor_area_m2",
                "occupants",
                "grid_region",
                "timezone",
            }
        ),
        city_name=state.registry.cities[site.city].name,
        district_name=state.registry.districts[site.district].name,
        devices=len(devices),
        online=online,
    )


@router.get("/cities", response_model=Page[CityOut], summary="Cities the key may see")
async def list_cities(caller: Caller, paging: PagingDep) -> Page[CityOut]:
    return Page[CityOut].of(
        [CityOut.model_validate(c.model_dump()) for c in caller.visible_cities()], paging
    )


@router.get("/districts", response_model=Page[DistrictOut], summary="Districts")
async def list_districts(
    caller: Caller,
    paging: PagingDep,
    city: Annotated[list[str], Query(max_length=100, description="city id")] = [],  # noqa: B006
) -> Page[DistrictOut]:
    wanted = {caller.city(c).id for c in city}
    items = [
        DistrictOut.model_validate(d.model_dump())
        for d in caller.visible_districts()
        if not wanted or d.city in wanted
    ]
    return Page[DistrictOut].of(items, paging)


@router.get("/sites", response_model=Page[SiteOut], summary="Sites with device counts")
async def list_sites(
    caller: Caller, state: State, f: FiltersDep, paging: PagingDep
) -> Page[SiteOut]:
    sites = caller.sites_matching(f.site, f.district, f.city)
    return Page[SiteOut].of([site_out(state, s.id) for s in sites], paging)


@router.get("/sites/{site}", response_model=SiteOut, summary="One site")
async def get_site(site: SitePath, caller: Caller, state: State) -> SiteOut:
    return site_out(state, caller.site(site).id)


@router.get(
    "/devices", response_model=Page[DeviceOut], summary="Devices with live status and points"
)
async def list_devices(
    caller: Caller, state: State, f: FiltersDep, paging: PagingDep
) -> Page[DeviceOut]:
    sel = caller.select(f.site, f.district, f.city, f.device)
    devices = [state.registry.devices[d] for d in sel.devices]
    return Page[DeviceOut].of([device_out(state, d) for d in devices], paging)


@router.get("/devices/{device}", response_model=DeviceOut, summary="One device")
async def get_device(device: DevicePath, caller: Caller, state: State) -> DeviceOut:
    return device_out(state, caller.device(device))
