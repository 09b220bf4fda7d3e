"""A city's yearly energy and emissions report from the roll-ups: 200 sites, one year.

The store holds what the deriver writes for a year of 15-minute meter data at 200 sites:
`energy_1mo` and `emissions_1mo` for every month, `energy_1d` and `emissions_1d` for every day, `energy_1h` and hourly `emissions` for the
days at either end of the range, and 1-minute `energy` for the partial hours at the ends
(a `-365d` range starts and ends mid-hour). The data are generated from a 15-minute load
profile per site (not timed). The API runs as its own process (`peakline-api run`, uvicorn,
one worker) and is asked, over loopback HTTP:

  - `GET /api/v1/reports/emissions?level=city&city=riverton&start=-365d` (the headline:
    energy by flow, estimated/suspect, location- and market-based Scope 2, intensities);
  - the same at `level=site` (200 rows);
  - the city for the last twelve whole calendar months (months only: what inventories and
    monthly reports ask);
  - baseline, same run: `/health` (framework + HTTP, no store) and the store's own summed
    query of the daily roll-up called in-process (one statement, no API).

Target: the city's year under 300 ms. Last line: one JSON object.

    uv run --frozen python bench/year_report.py [--sites 200] [--store sqlite|influx]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import yaml

from peakline_api.keys import KeyStore, Role
from peakline_core.derive.calendar import month_floor
from peakline_core.storage import Aggregate, Row, SeriesQuery
from peakline_core.storage.schema import (
    EMISSIONS,
    EMISSIONS_1D,
    EMISSIONS_1MO,
    ENERGY,
    ENERGY_1D,
    ENERGY_1H,
    ENERGY_1MO,
)
from peakline_store.open import open_store
from peakline_testing.configs import copy_example
from peakline_testing.servers import Influxd, free_port
from peakline_testing.waiting import wait_until

REPO = Path(__file__).resolve().parent.parent
NS = 1_000_000_000
MIN, HOUR, DAY = 60 * NS, 3600 * NS, 86400 * NS
FACTOR = 0.5703  # kg/kWh, the example book's CN-EAST figure order of magnitude


def bench_config(root: Path, n: int) -> Path:
    copy_example(root)
    sites = yaml.safe_load((root / "sites.yaml").read_text())
    for i in range(n):
        sites["sites"].append({
            "id": f"yr-{i:03d}", "name": f"Bench building {i}", "city": "riverton",
            "district": "riverton-old-town", "floor_area_m2": 2000 + 50 * i,
            "occupants": 100 + i, "grid_region": "CN-EAST", "timezone": "Asia/Shanghai",
        })  # fmt: skip
    (root / "sites.yaml").write_text(yaml.safe_dump(sites, sort_keys=False))
    return root


def rows(n: int, start: int, end: int, rng: np.random.Generator) -> list[Row]:
    """Roll-ups of a 15-minute load profile per site, as the deriver stores them."""
    out: list[Row] = []
    d0, d1 = start - start % DAY, end - end % DAY + DAY
    q = np.arange(d0, d1, 15 * MIN)
    hour = (q // HOUR) % 24
    shape = 0.6 + 0.4 * np.sin(np.pi * np.clip(hour - 6, 0, 12) / 12)
    for i in range(n):
        site = f"yr-{i:03d}"
        kwh_q = (20 + i % 40) * 0.25 * shape * rng.uniform(0.9, 1.1, q.size)  # kWh per 15 min
        days = kwh_q.reshape(-1, 96).sum(axis=1)
        hours = kwh_q.reshape(-1, 4).sum(axis=1)
        e, s = {"site": site, "flow": "import"}, {"site": site, "scope": "2", "method": "location"}
        for j, t in enumerate(range(d0, d1, DAY)):
            out.append(Row(ENERGY_1D, e, {"kwh": float(days[j]), "estimated_kwh": 0.0,
                                          "suspect_kwh": 0.0}, t))  # fmt: skip
            out.append(Row(EMISSIONS_1D, s, {"kgco2e": float(days[j]) * FACTOR}, t))
        months: dict[int, float] = {}
        for j, t in enumerate(range(d0, d1, DAY)):
            months[month_floor(t)] = months.get(month_floor(t), 0.0) + float(days[j])
        for t, k in months.items():
            out.append(Row(ENERGY_1MO, e, {"kwh": k, "estimated_kwh": 0.0,
                                           "suspect_kwh": 0.0}, t))  # fmt: skip
            out.append(Row(EMISSIONS_1MO, s, {"kgco2e": k * FACTOR}, t))
        for edge in (d0, d1 - DAY):
            for h in range(24):
                t = edge + h * HOUR
                k = float(hours[(t - d0) // HOUR])
                out.append(Row(ENERGY_1H, e, {"kwh": k, "estimated_kwh": 0.0,
                                              "suspect_kwh": 0.0}, t))  # fmt: skip
                out.append(Row(EMISSIONS, s, {"kgco2e": k * FACTOR, "kg_per_kwh": FACTOR,
                                              "basis": "annual"}, t))  # fmt: skip
        m = {"site": site, "device": f"{site}-meter", "flow": "import"}
        for edge in (start - start % HOUR, end - end % HOUR):
            for t in range(edge, edge + HOUR, MIN):
                k = float(kwh_q[(t - d0) // (15 * MIN)]) / 15
                out.append(Row(ENERGY, m, {"kwh": k, "estimated_kwh": 0.0, "suspect_kwh": 0.0,
                                           "covered_s": 60.0, "suspect_n": 0,
                                           "quality": "measured"}, t))  # fmt: skip
    return out


async def timed(
    client: httpx.AsyncClient, url: str, n: int, headers: dict[str, str]
) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        resp = await client.get(url, headers=headers)
        out.append(time.perf_counter() - t)
        resp.raise_for_status()
    return out


def ms(values: list[float]) -> dict[str, float]:
    s = sorted(values)
    return {"p50_ms": round(statistics.median(s) * 1e3, 1),
            "max_ms": round(s[-1] * 1e3, 1)}  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--store", choices=("sqlite", "influx"), default="influx")
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory(prefix="peakline-bench-year-") as tmp_:
        tmp = Path(tmp_)
        config_dir = bench_config(tmp / "config", args.sites)
        influxd = None
        if args.store == "influx":
            influxd = Influxd.create(tmp / "influx")
            influxd.__enter__()
            influxd.query('CREATE DATABASE "bench"')
            store_url = f"{influxd.url}?db=bench"
        else:
            store_url = f"sqlite:///{tmp / 'store.db'}"
        try:
            now = time.time_ns() // MIN * MIN
            start = now - 365 * DAY
            data = rows(args.sites, start, now, rng)
            store = open_store(store_url)
            for i in range(0, len(data), 20_000):
                await store.write(data[i : i + 20_000])
            t = time.perf_counter()
            answer = await store.query(
                SeriesQuery(
                    ENERGY_1D,
                    "kwh",
                    start - start % DAY,
                    now,
                    {"flow": ["import"]},
                    every_ns=366 * DAY,
                    aggregate=Aggregate.SUM,
                )
            )
            direct_s = time.perf_counter() - t
            await store.aclose()
            print(f"seeded {len(data):,} roll-up rows ({args.store}); the daily roll-up "
                  f"summed in-process: {direct_s * 1e3:.1f} ms, {len(answer)} series",
                  file=sys.stderr)  # fmt: skip
            with KeyStore(tmp / "keys.db") as keys:
                token = keys.create("bench", Role.VIEWER, ["*"])[1]
            port = free_port()
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", "from peakline_api.cli import main; main()", "run",
                "--config", str(config_dir), "--store", store_url, "--keys-db",
                str(tmp / "keys.db"), "--port", str(port),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
            try:
                base = f"http://127.0.0.1:{port}"

                def up() -> bool:
                    try:
                        return httpx.get(base + "/health", timeout=0.5).status_code == 200
                    except httpx.HTTPError:
                        return False

                wait_until(up, 60, "the API process")
                headers = {"Authorization": f"Bearer {token}"}
                city = "/api/v1/reports/emissions?level=city&city=riverton&start=-365d"
                site = "/api/v1/reports/emissions?level=site&city=riverton&start=-365d"
                # twelve whole calendar months, as inventories and monthly reports ask
                m1 = month_floor(now)
                m0 = month_floor(m1 - 330 * DAY)
                iso = lambda ns: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns // 10**9))  # noqa: E731
                months = (f"/api/v1/reports/emissions?level=city&city=riverton"
                          f"&start={iso(m0)}&end={iso(m1)}")  # fmt: skip
                async with httpx.AsyncClient(base_url=base, timeout=60) as client:
                    first = (await client.get(city, headers=headers)).json()
                    health = await timed(client, "/health", args.repeat, headers)
                    city_t = await timed(client, city, args.repeat, headers)
                    site_t = await timed(client, site, args.repeat, headers)
                    months_t = await timed(client, months, args.repeat, headers)
            finally:
                proc.terminate()
                await asyncio.wait_for(proc.wait(), 30)
        finally:
            if influxd is not None:
                influxd.__exit__(None, None, None)
    item = first["items"][0]
    expect = sum(r.fields["kwh"] for r in data if r.measurement == ENERGY_1D)
    print(f"city's year: {item['energy_kwh'].get('import', 0):,.0f} kWh import "
          f"({item['sites']} sites), location {item['emissions_kgco2e']['location']['2']:,.0f} "
          f"kgCO2e; stored daily roll-ups hold {expect:,.0f} kWh over the whole edge days")  # fmt: skip
    result = {
        "store": args.store,
        "sites": args.sites,
        "rollup_rows": len(data),
        "baseline_health": ms(health),
        "baseline_store_sum_ms": round(direct_s * 1e3, 1),
        "city_year_report": ms(city_t),
        "site_year_report_200_rows": ms(site_t),
        "city_12_calendar_months": ms(months_t),
    }
    print(f"/health                        p50 {result['baseline_health']['p50_ms']} ms")
    print(f"city year report               p50 {result['city_year_report']['p50_ms']} ms "
          f"(max {result['city_year_report']['max_ms']})")  # fmt: skip
    print(f"per-site year report ({args.sites})   p50 "
          f"{result['site_year_report_200_rows']['p50_ms']} ms")  # fmt: skip
    print(f"city, 12 calendar months       p50 {result['city_12_calendar_months']['p50_ms']} ms")
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
