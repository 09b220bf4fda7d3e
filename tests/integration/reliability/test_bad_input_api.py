"""Bad input, API: what the API suites do not already cover (tests/unit/api/test_api_hostile.py
injects into the readings/catalog filters and ids; test_api_schema_fuzz.py and
tests/integration/api/test_api_schema_sqlite.py fuzz every operation with *valid* data).

Here, on the real SQLite store: schemathesis in negative mode (invalid data) on every
operation; injection strings through every write endpoint (stored literally or refused, and the
ledgers read back intact); hostile ids on the remaining read endpoints. Never a 5xx other than
the documented 503, always problem+json.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from peakline_core.config import PlatformConfig
from tests.integration.api.api_live_support import build, example_config

pytestmark = pytest.mark.timeout(300)
INJECTIONS = [
    "x' OR '1'='1",
    "'; DROP TABLE retrofits; --",
    'rt-school" OR ""="',
    "rt-school\nGROUP BY *",
    "reading,site=evil value=1 1\n",
    'a,b=c d"e\\f',
    "школа 東京 🚀 \u202e",
    "nul\u0000byte",
    "../../etc/passwd",
    "{{7*7}} ${jndi:ldap://127.0.0.1/a}",
    "<script>alert(1)</script>",
]


@pytest.fixture(scope="module")
def platform_config(repo_root: Path) -> PlatformConfig:
    return example_config(repo_root / "config")


@pytest.fixture
async def client(tmp_path: Path, platform_config) -> httpx.AsyncClient:  # type: ignore[misc]
    app, tokens = await build(tmp_path, platform_config, f"sqlite:///{tmp_path / 'store.db'}")
    async with app.router.lifespan_context(app):  # type: ignore[attr-defined]
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        headers = {"Authorization": f"Bearer {tokens['admin_all']}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers=headers
        ) as c:
            yield c


def _problem(r: httpx.Response) -> None:
    assert r.status_code < 500 or r.status_code == 503, (r.request.url, r.text[:300])
    if r.status_code >= 400:
        assert "application/problem+json" in r.headers["content-type"], r.request.url


@pytest.mark.slow
def test_negative_schemathesis_on_every_operation(tmp_path: Path, platform_config) -> None:
    import asyncio

    app, tokens = asyncio.run(
        build(tmp_path, platform_config, f"sqlite:///{tmp_path / 'store.db'}")
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {tokens['admin_all']}"}
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=6, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=operation.as_strategy(schemathesis.GenerationMode.NEGATIVE))
        def check(case: schemathesis.Case) -> None:
            response = case.call(headers=headers)
            ok = response.status_code < 500 or response.status_code == 503
            assert ok, (case.method, case.path, case.query, case.body, response.text[:500])
            if response.status_code >= 400 and case.path != "/ready":
                assert "application/problem+json" in str(response.headers["content-type"])

        try:
            check()
        except Unsatisfiable:  # no parameters or body: nothing can be invalid
            continue
        checked += 1
    assert checked >= 20  # every operation that takes input


async def test_injection_strings_through_write_endpoints_are_stored_literally(
    client: httpx.AsyncClient,
) -> None:
    created = []
    for text in INJECTIONS:
        body = {"site": "rt-school", "date": "2025-01-01", "measures": [text], "note": text}
        r = await client.post("/api/v1/retrofits", json=body)
        _problem(r)
        assert r.status_code == 201, r.text
        created.append((r.json()["id"], text))
    for rid, text in created:
        r = await client.get(f"/api/v1/retrofits/{rid}")
        assert r.status_code == 200 and r.json()["note"] == text
        assert r.json()["measures"] == [text]
    listed = (await client.get("/api/v1/retrofits")).json()
    assert sorted(x["note"] for x in listed) == sorted(INJECTIONS)  # nothing else, nothing lost
    for text in INJECTIONS:
        bad_site = {"site": text, "date": "2025-01-01", "measures": ["x"]}
        r = await client.post("/api/v1/retrofits", json=bad_site)
        _problem(r)
        assert r.status_code in (404, 422)
        command = {"site": "rt-school", "device": text, "point": "setpoint", "value": 21}
        r = await client.post("/api/v1/commands", json=command)
        _problem(r)
        assert r.status_code in (404, 422), r.text
        command = {"site": "rt-school", "device": "school-hvac", "point": text, "value": 21}
        r = await client.post("/api/v1/commands", json=command)
        _problem(r)
        assert r.status_code in (404, 422), r.text
        event = {"name": text, "sites": [text], "reduce_kw": 5, "end": "now+1h"}
        r = await client.post("/api/v1/dr-events", json=event)
        _problem(r)
        assert r.status_code in (404, 422), r.text
    assert (await client.get("/api/v1/commands")).json()["items"] == []  # no command recorded
    assert (await client.get("/api/v1/retrofits")).json() == listed


async def test_hostile_ids_on_the_remaining_read_endpoints(client: httpx.AsyncClient) -> None:
    for text in INJECTIONS:
        q = quote(text, safe="")
        for url in (
            f"/api/v1/anomalies?site={q}",
            f"/api/v1/anomalies?device={q}",
            f"/api/v1/reports/emissions?site={q}",
            f"/api/v1/reports/emissions?start={q}",
            f"/api/v1/overview?city={q}",
            f"/api/v1/programme/benchmark?level={q}",
            f"/api/v1/programme/air-quality?start={q}",
            f"/api/v1/commands/{q}",
            f"/api/v1/commands?device={q}",
            f"/api/v1/dr-events/{q}",
            f"/api/v1/retrofits/{q}",
            f"/api/v1/retrofits/{q}/savings",
        ):
            r = await client.get(url)
            _problem(r)
            assert r.status_code in (400, 404, 422), (url, r.status_code)
