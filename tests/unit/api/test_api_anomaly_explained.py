"""An anomaly event a command explains (issue 18: stored by ingest with `cause_*` fields) is
listed with its cause, counted as explained (not among the events awaiting a verdict, nor as
a false alarm) and not as an open anomaly of its site."""

from __future__ import annotations

import pytest

from peakline_core.storage import Row
from peakline_core.storage.schema import ANOMALY_EVENT
from tests.unit.api.api_support import HOUR, NOW_NS, Api, sites_of

pytestmark = pytest.mark.asyncio

S = 1_000_000_000


async def explained_event(api: Api, site: str) -> tuple[str, str]:
    """An explained spike on the site's first device (the demo data's event is on it too)."""
    r = await api.get("viewer_rt", "/api/v1/anomalies?start=-1d")
    device = next(e["device"] for e in r.json()["items"] if e["site"] == site)
    point = next(e["point"] for e in r.json()["items"] if e["site"] == site)
    start = NOW_NS - HOUR // 2
    fields = {"event_id": "ev-dr", "state": "open", "end": 0, "peak_score": 0.99,
              "points": point, "cause_ns": start - 60 * S, "cause_point": "setpoint",
              "cause_from": 21.0, "cause_to": 19.0, "expected_low": 120_000.0,
              "expected_high": 175_000.0, "seen": 10_880.0}  # fmt: skip
    tags = {"site": site, "device": device, "point": point, "kind": "spike"}
    await api.store.write([Row(ANOMALY_EVENT, tags, fields, start)])
    return device, point


async def test_an_explained_event_is_listed_with_its_cause_and_is_no_alarm(api: Api) -> None:
    site = "rt-office"
    assert site in sites_of("riverton")
    before = (await api.get("viewer_rt", "/api/v1/overview")).json()
    open_before = {s["id"]: s["open_anomalies"] for s in before}
    await explained_event(api, site)
    items = (await api.get("viewer_rt", "/api/v1/anomalies?start=-1d")).json()["items"]
    got = {e["event_id"]: e for e in items}
    assert got["ev-dr"]["cause"] == {
        "point": "setpoint",
        "before": 21.0,
        "after": 19.0,
        "at": "2025-03-01T11:29:00.000Z",
    }
    assert (got["ev-dr"]["expected_low"], got["ev-dr"]["seen"]) == (120_000.0, 10_880.0)
    assert all(e["cause"] is None for k, e in got.items() if k != "ev-dr")
    # not an open anomaly of its site, not an event awaiting a verdict
    after = (await api.get("viewer_rt", "/api/v1/overview")).json()
    assert {s["id"]: s["open_anomalies"] for s in after} == open_before
    r = await api.get("viewer_rt", "/api/v1/anomalies/feedback/summary?start=-1d")
    n = len(sites_of("riverton"))
    assert r.json()["by_kind"] == [
        {"key": "spike", "events": n, "confirmed": 0, "false_alarm": 0, "explained": 1}
    ]
