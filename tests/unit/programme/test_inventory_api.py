"""The yearly inventory report reads the deriver's fuel and heat flows (issue 26): stored
roll-ups in, the factor book's figures out, tenant-scoped, JSON and CSV agree."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from peakline_api.keys import Role
from peakline_core.emissions.combustion import FuelBlock, scope1_combustion
from peakline_core.emissions.refrigerants import refrigerant_gwp
from peakline_core.storage import Row
from tests.unit.api.api_fakes import MemoryStore, with_month_rollups
from tests.unit.api.api_support import example_config, memory_api

REPO = Path(__file__).resolve().parents[3]
NS = 10**9
DAY_NS = 86400 * NS
NOW = 1_740_830_400 * NS  # 2025-03-01T12:00:00Z
Y2025 = 1_735_689_600 * NS  # 2025-01-01T00:00:00Z
HEAT_GJ = 1000.0
GAS_M3 = 5000.0


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, dict, object]]:
    config = example_config(REPO / "config")
    store = MemoryStore()
    rows = []
    for day in range(10):
        ts = Y2025 + day * DAY_NS
        rows += [
            Row("energy_1d", {"site": "rt-office", "flow": "fuel:natural_gas"},
                {"kwh": GAS_M3 / 10}, ts),
            Row("energy_1d", {"site": "rt-library", "flow": "heat:riverton-dh"},
                {"kwh": HEAT_GJ / 10 * 1000 / 3.6}, ts),
        ]  # fmt: skip
    rows.append(Row("energy_1d", {"site": "rt-office", "flow": "fuel:natural_gas"},
                    {"kwh": 999.0}, Y2025 - DAY_NS))  # fmt: skip  # 2024: not counted
    await store.write(with_month_rollups(rows))
    roles = {"op_rt": (Role.OPERATOR, ["riverton"]), "op_lk": (Role.OPERATOR, ["lakeside"])}
    async with memory_api(tmp_path, config, store, roles, NOW) as (c, auth):
        yield c, auth, config


async def test_site_inventory_from_stored_fuel_and_heat(client) -> None:
    c, auth, config = client
    r = await c.get("/api/v1/reports/inventory?level=site&year=2025", headers=auth["op_rt"])
    assert r.status_code == 200, r.text
    items = {i["id"]: i for i in r.json()["items"]}
    assert "lk-" not in "".join(items)  # riverton's operator sees riverton only
    library = items["rt-library"]
    heat = next(line for line in library["scope2"]["lines"] if line["carrier"] == "heat")
    assert heat["energy_kwh"] == pytest.approx(HEAT_GJ * 1000 / 3.6)
    assert heat["location_kg"] == pytest.approx(HEAT_GJ * 110.0)  # China default 0.11 t/GJ
    office = items["rt-office"]
    gas = [line for line in office["scope1"]["lines"] if "natural_gas" in line["source"]]
    assert len(gas) == 1 and gas[0]["co2e_kg"] > 0
    # the same activity through the core: the stored m3 of 2025, none of 2024's
    book = config.factor_book()
    factor = book.combustion("natural_gas")
    block = FuelBlock.from_factors([factor], ["m3"], [None])
    want = scope1_combustion(np.array([[GAS_M3]]), block)
    assert gas[0]["co2e_kg"] == pytest.approx(float(np.sum(want.co2e)))


async def test_csv_and_city_level(client) -> None:
    c, auth, _ = client
    r = await c.get("/api/v1/reports/inventory.csv?level=city&year=2025", headers=auth["op_rt"])
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert "riverton" in {row["id"] for row in rows}  # public cities are reportable too
    assert {row["level"] for row in rows} == {"city"}
    j = await c.get("/api/v1/reports/inventory?level=city&year=2025", headers=auth["op_rt"])
    city = next(i for i in j.json()["items"] if i["id"] == "riverton")
    total = next(r for r in rows if r["id"] == "riverton" and r["scope"] == "2")
    assert total  # the CSV carries the city's scope 2 lines
    assert city["scope2"]["location"] >= 1000 * 110.0  # the library's heat is in the city


async def test_posted_service_records_enter_fugitive_emissions(client) -> None:
    c, auth, config = client
    url = "/api/v1/reports/inventory?level=site&year=2025"

    def fugitive(body: dict) -> float:
        office = next(i for i in body["items"] if i["id"] == "rt-office")
        lines = [x for x in office["scope1"]["lines"] if x["category"] == "fugitive_refrigerant"]
        return sum(x["co2e_kg"] for x in lines)

    before = fugitive((await c.get(url, headers=auth["op_rt"])).json())
    post = "/api/v1/refrigerants/office-chiller-1/service"
    r = await c.post(post, json={"date": "2025-02-10", "kg": 20.0}, headers=auth["op_rt"])
    assert r.status_code == 201, r.text
    assert r.json()["site"] == "rt-office"
    # another tenant cannot see or post to the asset
    other = await c.post(post, json={"date": "2025-02-10", "kg": 1.0}, headers=auth["op_lk"])
    assert other.status_code == 404
    listed = await c.get(post, headers=auth["op_rt"])
    assert [e["kg"] for e in listed.json()] == [20.0]
    after = fugitive((await c.get(url, headers=auth["op_rt"])).json())
    gwp = refrigerant_gwp("R-410A", config.factor_book().gwp)
    assert after - before == pytest.approx(20.0 * gwp.kyoto)


def test_printable_page_strings_exist_in_both_languages() -> None:
    """The inventory page's strings live in the dashboard's catalogues (inventory.*), in both
    languages; test_i18n.py checks every page's keys, this one that the page has its own."""
    static = REPO / "api/src/peakline_api/static"
    en = json.loads((static / "i18n/en.json").read_text(encoding="utf-8"))
    zh = json.loads((static / "i18n/zh-CN.json").read_text(encoding="utf-8"))
    page = (static / "inventory.html").read_text(encoding="utf-8")
    script = (static / "inventory.js").read_text(encoding="utf-8")
    used = set(re.findall(r'data-i18n="(inventory\.[a-z0-9_]+)"', page))
    used |= set(re.findall(r'\bt\("(inventory\.[a-z0-9_]+)"\)', script))
    assert len(used) > 10 and used <= en.keys() and used <= zh.keys()
    assert all(zh[k] != en[k] for k in used if k != "inventory.csv")  # translated, not copied


async def test_completeness_counts_imported_hours_apart(tmp_path: Path) -> None:
    # 48 hours of the library's heat: the first 24 from a committed import (its ledger row
    # spans them), the next 24 metered live. Completeness tells them apart.
    config = example_config(REPO / "config")
    store = MemoryStore()
    flow = "heat:riverton-dh"
    hour = 3600 * NS
    rows = [
        Row("energy_1h", {"site": "rt-library", "flow": flow}, {"kwh": 100.0}, Y2025 + h * hour)
        for h in range(48)
    ]
    tags = {"site": "rt-library", "device": "library-heat-meter", "flow": flow}
    ledger = {"file": "bms.csv", "sha256": "0" * 64, "kind": "interval", "rows": 96,
              "written": 96, "from_ns": Y2025, "to_ns": Y2025 + 24 * hour,
              "total": 2400.0}  # fmt: skip
    rows.append(Row("import_ledger", tags, ledger, Y2025 + 30 * hour))  # committed then
    await store.write(rows)
    roles = {"op_rt": (Role.OPERATOR, ["riverton"])}
    now = Y2025 + 48 * hour
    async with memory_api(tmp_path, config, store, roles, now) as (c, auth):
        r = await c.get("/api/v1/reports/inventory?level=site&year=2025", headers=auth["op_rt"])
    assert r.status_code == 200, r.text
    library = next(i for i in r.json()["items"] if i["id"] == "rt-library")
    [heat] = [m for m in library["completeness"]["meters"] if m["meter"] == flow]
    assert (heat["hours"], heat["imported"], heat["measured"]) == (48, 0.5, 0.5)
