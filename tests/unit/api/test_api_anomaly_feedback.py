"""Operators' verdicts on anomaly events: who may give them, validation, idempotency, the
stored pattern ingest reads back, and the per-detector / per-city summary."""

from __future__ import annotations

from typing import Any

import pytest

from peakline_core.storage import SeriesQuery
from peakline_core.storage.schema import ANOMALY_FEEDBACK, READING
from peakline_ingest.derive.feedback import stored_dismissals
from tests.unit.api.api_support import HOUR, NOW_NS, Api, sites_of

pytestmark = pytest.mark.asyncio


async def post(api: Api, who: str, event_id: str, body: dict[str, Any]) -> Any:
    return await api.client.post(
        f"/api/v1/anomalies/{event_id}/feedback", json=body, headers=api.headers(who)
    )


async def events(api: Api, who: str = "viewer_rt") -> dict[str, dict[str, Any]]:
    r = await api.get(who, "/api/v1/anomalies?start=-1d")
    assert r.status_code == 200
    return {e["event_id"]: e for e in r.json()["items"]}


def feedback_rows(api: Api) -> list[tuple[dict[str, str], int, dict[str, object]]]:
    return [
        (dict(tags), ts, fields)
        for (m, tags, ts), fields in api.store.rows.items()
        if m == ANOMALY_FEEDBACK
    ]


async def test_only_an_operator_of_the_events_city_may_judge_it(api: Api) -> None:
    body = {"verdict": "false_alarm", "note": "meter swapped"}
    assert (await post(api, "viewer_rt", "ev-rt-school", body)).status_code == 403
    # a lakeside operator cannot name a riverton event: the same 404 as for no event
    assert (await post(api, "operator_lk", "ev-rt-school", body)).status_code == 404
    assert (await post(api, "operator_rt", "ev-nowhere", body)).status_code == 404
    r = await api.client.post("/api/v1/anomalies/ev-rt-school/feedback", json=body)
    assert r.status_code == 401
    assert feedback_rows(api) == []


@pytest.mark.parametrize(
    "body",
    [
        {"verdict": "maybe"},
        {},
        {"verdict": "false_alarm", "note": "x" * 2001},
        {"verdict": "confirmed", "note": 3},
    ],
)
async def test_a_bad_verdict_is_refused(api: Api, body: dict[str, Any]) -> None:
    r = await post(api, "operator_rt", "ev-rt-school", body)
    assert r.status_code == 422, r.text
    assert feedback_rows(api) == []


async def test_a_bad_event_id_is_refused(api: Api) -> None:
    r = await post(api, "operator_rt", "ev%20x", {"verdict": "confirmed"})
    assert r.status_code == 422


async def test_a_false_alarm_stores_the_pattern_ingest_reads(api: Api) -> None:
    r = await post(api, "operator_rt", "ev-rt-school", {"verdict": "false_alarm", "note": "测试"})
    assert r.status_code == 200, r.text
    assert r.json()["verdict"] == "false_alarm" and r.json()["verdict_note"] == "测试"
    [(tags, ts, fields)] = feedback_rows(api)
    event = (await events(api))["ev-rt-school"]
    assert event["verdict"] == "false_alarm" and event["verdict_note"] == "测试"
    assert tags == {"site": "rt-school", "device": event["device"], "point": event["point"],
                    "kind": "spike"}  # fmt: skip
    assert ts == NOW_NS - HOUR  # the event's start: a later verdict overwrites this row
    assert fields["detector"] == "robust_z" and fields["peak"] == pytest.approx(0.93)
    assert fields["lead"] == 1 and fields["by"] == "operator_rt" and fields["given"] == NOW_NS
    # the band is what the point read from the event's start on (it is still open)
    [read] = await api.store.query(
        SeriesQuery(READING, "value", NOW_NS - HOUR, NOW_NS + 1,
                    where={"device": [event["device"]], "point": [event["point"]]})
    )  # fmt: skip
    assert (fields["low"], fields["high"]) == (min(read.values), max(read.values))  # type: ignore[type-var]
    [d] = await stored_dismissals(api.store, NOW_NS - 2 * HOUR, NOW_NS)
    assert d.series == f"rt-school/{event['device']}/{event['point']}"
    assert (d.detector, d.since_ns, d.low, d.high) == ("robust_z", NOW_NS, fields["low"],
                                                       fields["high"])  # fmt: skip


async def test_the_same_verdict_again_is_a_no_op_and_the_latest_wins(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = []
    write = api.store.write

    async def counted(rows: Any) -> None:
        writes.append(list(rows))
        await write(rows)

    monkeypatch.setattr(api.store, "write", counted)
    body = {"verdict": "false_alarm", "note": "calibration"}
    first = await post(api, "operator_rt", "ev-rt-school", body)
    again = await post(api, "operator_rt", "ev-rt-school", body)
    assert first.json() == again.json() and len(writes) == 1
    r = await post(api, "operator_rt", "ev-rt-school", {"verdict": "confirmed"})
    assert r.status_code == 200 and len(writes) == 2
    [(_, _, fields)] = feedback_rows(api)  # overwritten, not added
    assert fields["verdict"] == "confirmed" and fields["note"] == ""
    assert (await events(api))["ev-rt-school"]["verdict"] == "confirmed"
    # a confirmed event teaches ingest nothing
    assert await stored_dismissals(api.store, NOW_NS - 2 * HOUR, NOW_NS) == []


async def test_summary_counts_per_detector_and_city(api: Api) -> None:
    riverton = sorted(sites_of("riverton"))
    listed = await events(api)
    assert len(listed) == len(riverton) >= 2
    first, second = sorted(listed)[:2]
    await post(api, "operator_rt", first, {"verdict": "confirmed"})
    await post(api, "operator_rt", second, {"verdict": "false_alarm"})
    r = await api.get("viewer_rt", "/api/v1/anomalies/feedback/summary?start=-1d")
    assert r.status_code == 200
    got = r.json()
    n = len(riverton)
    assert got["by_kind"] == [
        {"key": "spike", "events": n, "confirmed": 1, "false_alarm": 1, "explained": 0}
    ]
    assert got["by_city"] == [
        {"key": "riverton", "events": n, "confirmed": 1, "false_alarm": 1, "explained": 0}
    ]
    # another city's key counts its own events only (none judged)
    r = await api.get("operator_lk", "/api/v1/anomalies/feedback/summary?start=-1d")
    assert all(c["confirmed"] == c["false_alarm"] == 0 for c in r.json()["by_city"])
    assert [c["key"] for c in r.json()["by_city"]] == ["lakeside"]
