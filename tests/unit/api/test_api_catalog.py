"""Catalog endpoints, pagination, and the key/role/scope checks on them."""

from __future__ import annotations

import pytest

from tests.unit.api.api_support import Api, sites_of

pytestmark = pytest.mark.asyncio


async def test_sites_are_scoped_to_the_keys_cities(api: Api) -> None:
    rt = (await api.get("viewer_rt", "/api/v1/sites")).json()
    assert {s["id"] for s in rt["items"]} == sites_of("riverton")
    lk = (await api.get("operator_lk", "/api/v1/sites")).json()
    assert [s["id"] for s in lk["items"]] == sorted(sites_of("lakeside")) == ["lk-townhall"]
    everyone = (await api.get("viewer_all", "/api/v1/sites")).json()
    assert everyone["total"] == len(sites_of())
    # names beside the ids, for pages that show them (the overview, a site's header)
    townhall = (await api.get("operator_lk", "/api/v1/sites/lk-townhall")).json()
    assert (townhall["city_name"], townhall["district_name"]) == ("Lakeside", "Harbour")
    rows = (await api.get("operator_lk", "/api/v1/overview")).json()
    assert [(r["city_name"], r["district_name"]) for r in rows] == [("Lakeside", "Harbour")]


async def test_no_key_is_401_problem(api: Api) -> None:
    r = await api.client.get("/api/v1/sites")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == 401 and body["type"].endswith("unauthenticated")
    r = await api.client.get("/api/v1/sites", headers={"Authorization": "Bearer plk_x_y"})
    assert r.status_code == 401


async def test_x_api_key_header_works(api: Api) -> None:
    r = await api.client.get("/api/v1/cities", headers={"X-API-Key": api.tokens["viewer_rt"]})
    assert r.status_code == 200
    assert [c["id"] for c in r.json()["items"]] == ["riverton"]


async def test_cross_city_ids_look_like_unknown_ids(api: Api) -> None:
    for url in (
        "/api/v1/sites/lk-townhall",
        "/api/v1/devices/townhall-meter",
        "/api/v1/readings/latest?site=lk-townhall",
        "/api/v1/readings/latest?device=townhall-meter",
        "/api/v1/series?district=lakeside-harbour",
        "/api/v1/sites?city=lakeside",
        "/api/v1/anomalies?site=lk-townhall",
    ):
        r = await api.get("operator_rt", url)
        assert r.status_code == 404, url
        assert r.json()["type"].endswith("unknown-id")
        missing = await api.get(
            "operator_rt",
            url.replace("lakeside", "nowhere")
            .replace("lk-townhall", "nowhere")
            .replace("townhall-meter", "nowhere"),
        )
        assert missing.status_code == 404
        assert missing.json()["title"] == r.json()["title"]


async def test_device_has_points_and_status(api: Api) -> None:
    r = await api.get("viewer_rt", "/api/v1/devices/school-hvac")
    assert r.status_code == 200
    body = r.json()
    assert body["site"] == "rt-school" and body["status"]["state"] == "unknown"
    setpoint = next(p for p in body["points"] if p["name"] == "setpoint")
    assert setpoint["writable"]["min"] == 16
    ro = (await api.get("viewer_rt", "/api/v1/devices/library-meter")).json()
    assert all(p["writable"] is None for p in ro["points"])


async def test_pagination(api: Api) -> None:
    first = (await api.get("viewer_all", "/api/v1/devices?limit=3")).json()
    assert len(first["items"]) == 3 and first["next_offset"] == 3
    ids = [d["id"] for d in first["items"]]
    offset = first["next_offset"]
    while offset is not None:
        page = (await api.get("viewer_all", f"/api/v1/devices?limit=3&offset={offset}")).json()
        ids += [d["id"] for d in page["items"]]
        offset = page["next_offset"]
    assert len(ids) == len(set(ids)) == first["total"]


async def test_filters_combine(api: Api) -> None:
    r = await api.get("viewer_all", "/api/v1/devices?site=rt-school&site=lk-townhall&city=lakeside")
    assert [d["id"] for d in r.json()["items"]] == ["townhall-meter"]


async def test_programme_wide_viewer_does_not_see_private_city(api: Api, platform_config) -> None:
    # A city made non-public is invisible to '*' viewers but visible to '*' admins.
    from peakline_api.access import Access
    from peakline_api.keys import ApiKey, Role
    from peakline_api.registry import Registry

    reg = Registry.from_config(platform_config)
    lk = reg.cities["lakeside"].model_copy(update={"public": False})
    reg.cities["lakeside"] = lk
    viewer = Access(ApiKey("v", "v", Role.VIEWER, ("*",), 0), reg)
    admin = Access(ApiKey("a", "a", Role.ADMIN, ("*",), 0), reg)
    own = Access(ApiKey("o", "o", Role.VIEWER, ("lakeside",), 0), reg)
    assert "lk-townhall" not in {s.id for s in viewer.visible_sites()}
    assert "lk-townhall" in {s.id for s in admin.visible_sites()}
    assert "lk-townhall" in {s.id for s in own.visible_sites()}
    assert not viewer.may_report_city("lakeside")


async def test_operator_role_gate(api: Api) -> None:
    from peakline_api.access import Access
    from peakline_api.errors import Forbidden
    from peakline_api.keys import Role

    state = api.client._transport.app.state.peakline  # type: ignore[attr-defined]
    viewer = Access(state.keys.verify(api.tokens["viewer_rt"]), state.registry)
    with pytest.raises(Forbidden):
        viewer.require(Role.OPERATOR)
    Access(state.keys.verify(api.tokens["operator_rt"]), state.registry).require(Role.OPERATOR)
