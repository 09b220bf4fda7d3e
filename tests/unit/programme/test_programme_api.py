"""The programme benchmark over the example programme (riverton, lakeside): every figure is
recomputed here from the inputs the report lists (sites, kWh, factors), the CSV carries the
same numbers, and scope rules hold (public city rows for partners, inputs only in scope)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from peakline_api.keys import Role
from peakline_core.storage import Row
from tests.unit.api.api_fakes import MemoryStore, with_month_rollups
from tests.unit.api.api_support import example_config, memory_api

REPO = Path(__file__).resolve().parents[3]
NS = 10**9
DAY_NS = 86400 * NS
NOW = 1_740_830_400 * NS  # 2025-03-01T12:00:00Z
PERIOD = "start=-30d"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, dict, object]]:
    config = example_config(REPO / "config")
    store = MemoryStore()
    rows = []
    for i, site in enumerate(sorted(config.sites)):
        for day in range(60):  # 30 days now, 30 days before: falling by 10 %
            kwh = (100.0 + 10 * i) * (1.0 if day < 30 else 1.1)
            ts = NOW - NOW % DAY_NS - day * DAY_NS  # daily roll-ups, at UTC midnight
            rows.append(Row("energy_1d", {"site": site, "flow": "import"}, {"kwh": kwh}, ts))
            rows.append(Row("energy_1d", {"site": site, "flow": "export"}, {"kwh": 5.0}, ts))
    await store.write(with_month_rollups(rows))
    roles = {"op_rt": (Role.OPERATOR, ["riverton"]), "op_lk": (Role.OPERATOR, ["lakeside"]),
             "viewer_all": (Role.VIEWER, ["*"])}  # fmt: skip
    async with memory_api(tmp_path, config, store, roles, NOW) as (c, auth):
        yield c, auth, config


async def test_city_figures_are_traceable_to_inputs(client) -> None:
    c, auth, config = client
    r = await c.get(f"/api/v1/programme/benchmark?{PERIOD}", headers=auth["viewer_all"])
    assert r.status_code == 200, r.text
    body = r.json()
    items = {it["id"]: it for it in body["items"]}
    assert set(items) == {c.id for c in config.programme.cities}
    for city, it in items.items():
        inputs = it["inputs"]
        # every building of the city; not its feeder, which supplies buildings metered too
        assert {x["site"] for x in inputs} == {
            s.id for s in config.sites.values() if s.city == city and s.kind != "feeder"
        }
        if city == "riverton":
            assert "rt-feeder-7" in config.sites and "rt-feeder-7" not in {
                x["site"] for x in inputs
            }
        energy = sum(x["energy_kwh"] for x in inputs)
        kg = sum(x["energy_kwh"] * x["factor"]["kgco2e_per_kwh"] for x in inputs)
        assert energy > 0 and it["energy_kwh"] == pytest.approx(energy)
        assert it["emissions_kgco2e"] == pytest.approx(kg)
        area = sum(x["floor_area_m2"] for x in inputs)
        assert it["intensity"]["kgco2e_per_m2"] == pytest.approx(kg / area)
        assert it["intensity"]["kgco2e_per_kwh"] == pytest.approx(kg / energy)
        population = config.programme.cities[[x.id for x in config.programme.cities].index(city)]
        assert it["intensity"]["kgco2e_per_capita"] == pytest.approx(kg / population.population)
        assert it["trend"] == pytest.approx(1 / 1.1 - 1)  # 10 % higher the period before
        # Factors are listed with their set and region, and they are the ones in the book.
        for x in inputs:
            f = x["factor"]
            assert f["set_id"] in config.factor_sets and f["region"]
            assert (f["set_id"], f["region"], f["year"], f["kgco2e_per_kwh"]) in {
                (g["set_id"], g["region"], g["year"], g["kgco2e_per_kwh"]) for g in it["factors"]
            }
        assert it["trajectory"]["cap_kgco2e"] > 0
    # Different grids: the two cities' effective factors differ.
    assert items["riverton"]["intensity"]["kgco2e_per_kwh"] != pytest.approx(
        items["lakeside"]["intensity"]["kgco2e_per_kwh"]
    )


async def test_csv_carries_the_same_numbers(client) -> None:
    c, auth, _ = client
    js = (await c.get(f"/api/v1/programme/benchmark?{PERIOD}", headers=auth["op_rt"])).json()
    r = await c.get(f"/api/v1/programme/benchmark.csv?{PERIOD}", headers=auth["op_rt"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = {row["id"]: row for row in csv.DictReader(io.StringIO(r.text))}
    assert set(rows) == {it["id"] for it in js["items"]}
    for it in js["items"]:
        row = rows[it["id"]]
        assert float(row["emissions_kgco2e"]) == pytest.approx(it["emissions_kgco2e"])
        assert float(row["kgco2e_per_m2"]) == pytest.approx(it["intensity"]["kgco2e_per_m2"])
        cap = it["site_targets"]["cap_kgco2e"]
        assert row["site_targets_cap_kgco2e"] == ("" if cap is None else str(cap))
        for f in it["factors"]:
            assert f"{f['set_id']}/{f['region']}/{f['year']}=" in row["factors"]


async def test_partners_see_city_totals_but_not_each_others_inputs(client) -> None:
    c, auth, _ = client
    body = (await c.get(f"/api/v1/programme/benchmark?{PERIOD}", headers=auth["op_lk"])).json()
    items = {it["id"]: it for it in body["items"]}
    assert "inputs" in items["lakeside"] and "inputs" not in items["riverton"]
    districts = (
        await c.get(f"/api/v1/programme/benchmark?{PERIOD}&level=district", headers=auth["op_lk"])
    ).json()
    assert [it["id"] for it in districts["items"]] == ["lakeside-harbour"]
    assert districts["items"][0]["intensity"]["kgco2e_per_capita"] is None


async def test_site_targets_are_tracked_like_for_like(client) -> None:
    c, auth, config = client
    body = (await c.get(f"/api/v1/programme/benchmark?{PERIOD}", headers=auth["op_rt"])).json()
    rt = next(it for it in body["items"] if it["id"] == "riverton")
    targeted = [s for s in config.sites.values() if s.city == "riverton" and s.target]
    assert rt["site_targets"]["sites"] == [s.id for s in targeted]
    site = targeted[0]
    year = rt["site_targets"]["year"]
    assert rt["site_targets"]["cap_kgco2e"] == pytest.approx(site.target.cap(year))
    emitted = next(x for x in rt["inputs"] if x["site"] == site.id)["emissions_kgco2e"]
    share = 30 * 86400 / (366 if year % 4 == 0 else 365) / 86400
    assert rt["site_targets"]["projected_kgco2e"] == pytest.approx(emitted / share)
    # No emissions roll-ups in this store: the city's path has no verdict, and says why; the
    # cap and the partial-coverage projection are there for reference only.
    traj = rt["trajectory"]
    assert (traj["on_track"], traj["basis"], traj["reason"]) == (None, None, "no_data")
    assert traj["cap_kgco2e"] > 0 and traj["projected_kgco2e"] > 0


@pytest.mark.parametrize(("change", "on_track"), [(0.9, True), (1.2, False)])
async def test_the_city_path_is_judged_like_for_like(
    tmp_path: Path, change: float, on_track: bool
) -> None:
    """Riverton's metered sites emit `change` times what they did on the same dates last
    year; the verdict is that against the path's ratio (riverton's cap is flat to its 2025
    peak: ratio 1), not a few buildings against a city's whole cap. The feeder is left out
    (it supplies the metered sites); a site metered from the middle of the period is left
    out of the comparison."""
    config = example_config(REPO / "config")
    store = MemoryStore()
    start = (NOW - 30 * DAY_NS) // DAY_NS * DAY_NS + DAY_NS  # the range's first whole day
    days = 29
    last_year = start - 366 * DAY_NS  # 2024-01-31: 2024 is a leap year
    rows = []
    compared = ["rt-office", "rt-school"]
    for k, site in enumerate([*compared, "rt-feeder-7"]):
        for d in range(days):
            for t0, kg in ((last_year, 1000.0 + k), (start, (1000.0 + k) * change)):
                tags = {"site": site, "scope": "2", "method": "location"}
                rows.append(Row("emissions_1d", tags, {"kgco2e": kg}, t0 + d * DAY_NS))
        for t0 in (last_year, start):
            rows.append(Row("energy_1h", {"site": site, "flow": "import"}, {"kwh": 9.0}, t0))
    for d in range(10, days):  # the library: metered from day 10 only
        tags = {"site": "rt-library", "scope": "2", "method": "location"}
        rows.append(Row("emissions_1d", tags, {"kgco2e": 50.0}, start + d * DAY_NS))
        rows.append(Row("energy_1d", {"site": "rt-library", "flow": "import"}, {"kwh": 90.0},
                        start + d * DAY_NS))  # fmt: skip
    await store.write(with_month_rollups(rows))
    roles = {"op": (Role.OPERATOR, ["riverton"])}
    async with memory_api(tmp_path, config, store, roles, NOW) as (c, auth):
        r = await c.get(f"/api/v1/programme/benchmark?{PERIOD}", headers=auth["op"])
    body = r.json()
    traj = next(it for it in body["items"] if it["id"] == "riverton")["trajectory"]
    assert traj["basis"] == "year_on_year" and traj["reason"] is None
    assert sorted(traj["compared_sites"]) == compared
    assert traj["period_start"] == "2025-01-31T00:00:00.000Z"
    assert traj["period_end"] == "2025-03-01T00:00:00.000Z"
    assert traj["actual_kgco2e"] == pytest.approx((1000 + 1001) * change * days)
    assert traj["allowed_kgco2e"] == pytest.approx((1000 + 1001) * days)  # ratio 1 to the peak
    assert traj["on_track"] is on_track


async def test_another_citys_row_names_none_of_its_sites(client) -> None:
    """Issue #19: the riverton row a lakeside partner sees counts riverton's targeted sites
    but names none of them (no existence oracle)."""
    c, auth, config = client
    body = (await c.get(f"/api/v1/programme/benchmark?{PERIOD}", headers=auth["op_lk"])).json()
    riverton = next(it for it in body["items"] if it["id"] == "riverton")
    targeted = [s for s in config.sites.values() if s.city == "riverton" and s.target]
    assert targeted and riverton["site_targets"]["site_count"] == len(targeted)
    assert riverton["site_targets"]["sites"] == []
    assert not any(s.id in str(riverton) for s in config.sites.values() if s.city == "riverton")


async def test_reported_emissions_are_the_stored_rows_the_overview_sums(tmp_path: Path) -> None:
    # The benchmark prices every city at its annual factor (like for like); beside it the
    # report gives what the overview shows: the stored location-based rows (here an hourly
    # signal averaging 0.4 kg/kWh for Riverton, none for Lakeside).
    config = example_config(REPO / "config")
    store = MemoryStore()
    rows = []
    for site in sorted(config.sites):
        for day in range(30):
            ts = NOW - NOW % DAY_NS - day * DAY_NS
            rows.append(Row("energy_1d", {"site": site, "flow": "import"}, {"kwh": 100.0}, ts))
            if config.sites[site].city == "riverton":
                tags = {"site": site, "scope": "2", "method": "location"}
                rows.append(Row("emissions_1d", tags, {"kgco2e": 40.0}, ts))
    await store.write(with_month_rollups(rows))
    roles = {"viewer_all": (Role.VIEWER, ["*"])}
    async with memory_api(tmp_path, config, store, roles, NOW) as (c, auth):
        body = (
            await c.get(f"/api/v1/programme/benchmark?{PERIOD}", headers=auth["viewer_all"])
        ).json()
        csv_rows = {
            row["id"]: row
            for row in csv.DictReader(io.StringIO((await c.get(
                f"/api/v1/programme/benchmark.csv?{PERIOD}", headers=auth["viewer_all"]
            )).text))
        }  # fmt: skip
    items = {it["id"]: it for it in body["items"]}
    rt, lk = items["riverton"], items["lakeside"]
    stored = {x["site"]: x["reported_emissions_kgco2e"] for x in rt["inputs"]}
    assert all(v is not None and v > 0 for v in stored.values())
    assert rt["reported_kgco2e"] == pytest.approx(sum(stored.values()))
    kwh = sum(x["energy_kwh"] for x in rt["inputs"])
    assert rt["reported_kgco2e"] == pytest.approx(0.4 * kwh, rel=1e-9)  # the same tiles
    assert rt["emissions_kgco2e"] == pytest.approx(
        sum(x["energy_kwh"] * x["factor"]["kgco2e_per_kwh"] for x in rt["inputs"])
    )
    assert rt["reported_kgco2e"] != pytest.approx(rt["emissions_kgco2e"])
    assert lk["reported_kgco2e"] is None  # no stored rows: nothing reported, not 0
    assert float(csv_rows["riverton"]["reported_kgco2e"]) == pytest.approx(rt["reported_kgco2e"])
    assert csv_rows["lakeside"]["reported_kgco2e"] == ""
    assert "reported_kgco2e" in body["definitions"]
