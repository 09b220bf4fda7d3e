"""Bad input, MQTT -> ingest: the hostile telemetry corpus (tests/cases/hostile/telemetry),
mixed with valid batches, published to a real mosquitto into a real `peakline-ingest` writing
to a real influxd.

Every valid reading is stored exactly; every bad message is dead-lettered with its reason and
counted under that reason; nothing else is in the database (the bad cases aim at the valid
batches' own series and timestamps, so a wrongly stored one would show as a changed value);
the worker is still ready afterwards. The corpus also runs through the validator in-process,
so a reason that drifts is named case by case.
"""

from __future__ import annotations

import time
from collections import Counter

import httpx
import pytest

from peakline_core.storage.schema import QualityCode
from peakline_core.wire import TelemetryBatch, Topics, decode_telemetry
from peakline_ingest.validate import Limits, Rejected, Validator
from peakline_testing.waiting import wait_until
from tests.integration.ingest.support import Publisher, influxql, ingest_args, make_batch, telemetry
from tests.integration.reliability.bad_input_support import (
    DeadLetterListener,
    Row,
    RowKey,
    counters,
    healthy,
    measurements,
    reading_rows,
    row_count,
    series_keys,
    start_ingest,
)
from tests.integration.reliability.hostile_corpus import STORED, Case, expected_rejects, load_cases

T0 = 1_700_000_000_000_000_000
COPIES = 2  # each bad case is published twice: counts must add up, not just appear
TEN_YEARS_S = 10 * 365 * 86400
pytestmark = pytest.mark.timeout(240)


def expected_rows(batches: list[TelemetryBatch]) -> dict[RowKey, Row]:
    out: dict[RowKey, Row] = {}
    for b in batches:
        for r in b.readings:
            v = r.value
            text = v if isinstance(v, str) else None
            value = None if v is None or isinstance(v, str) else float(v)
            out[(b.site, b.device, r.point, r.ts)] = (value, text, int(QualityCode.of(r.quality)))
    return out


def test_every_corpus_case_gets_its_reason_from_the_validator() -> None:
    topics = Topics("pfx")
    validator = Validator(topics, limits=Limits(max_past_s=TEN_YEARS_S))
    validator.window.commit("a1", 5)  # the duplicate case's original is stored
    got = {}
    for case in load_cases():
        try:
            validator.validate(case.topic(topics), case.payload, time.time_ns())
            got[case.name] = STORED
        except Rejected as exc:
            got[case.name] = exc.reason
    assert got == {c.name: c.reason for c in load_cases()}


def _interleave(bad: list[tuple[str, bytes]], good: list[tuple[str, bytes]]) -> list:  # type: ignore[type-arg]
    out, good = [], list(good)
    for i, item in enumerate(bad):
        out.append(item)
        if i % 2 == 0 and good:
            out.append(good.pop())
    return out + good


def test_hostile_corpus_through_broker_ingest_and_influxd(
    mosquitto, influx_db, topic_prefix, tmp_path
) -> None:
    topics = Topics(topic_prefix)
    cases = load_cases()
    valid = [make_batch("a1", "s1", "m1", seq, 10, T0) for seq in range(120)]
    stored_cases = [c for c in cases if c.reason == STORED]
    accepted = valid + [decode_telemetry(c.payload) for c in stored_cases]

    def items(chosen: list[Case]) -> list[tuple[str, bytes]]:
        return [(c.topic(topics), c.payload) for c in chosen for _ in range(COPIES)]

    bad_now = [c for c in cases if c.reason != STORED and not c.after]
    bad_after = [c for c in cases if c.reason != STORED and c.after]
    listener = DeadLetterListener(mosquitto.host, mosquitto.port, topics.dead_letter("ingest"))
    args = ingest_args(
        mosquitto.url, f"{influx_db.url}?db={influx_db.database}", topic_prefix, tmp_path / "st"
    )
    proc, port = start_ingest(args, tmp_path / "w1")
    pub = Publisher(mosquitto.url)
    want = expected_rows(accepted)
    try:
        pub.publish(_interleave(items(bad_now), telemetry(topics, valid)))
        pub.publish([(c.topic(topics), c.payload) for c in stored_cases])
        wait_until(lambda: row_count(influx_db) >= len(want), 120, "valid readings stored")
        pub.publish(items(bad_after))  # duplicates of stored seqs, with other values
        rejects = expected_rejects(cases, COPIES)
        wait_until(lambda: listener.count() >= rejects.total(), 120, "every dead letter")

        # each bad message dead-lettered once, with its own reason
        letters = Counter((d.topic, d.payload_size, d.reason) for d in listener.letters)
        sent = Counter(
            (c.topic(topics), len(c.payload), c.reason)
            for c in bad_now + bad_after
            for _ in range(COPIES)
        )
        assert letters == sent
        assert all(d.detail and d.component == "ingest" for d in listener.letters)
        # counted by reason, and nothing else rejected
        metrics = f"http://127.0.0.1:{port}/metrics"
        assert counters(metrics, "peakline_ingest_rejects_total", "reason") == rejects
        outcomes = counters(metrics, "peakline_ingest_messages_total", "outcome")
        assert outcomes == {"rejected": rejects.total(), "stored": len(accepted)}
        # stored exactly, nothing stray, nothing overwritten
        assert reading_rows(influx_db) == want
        derived = set(measurements(influx_db)) - {"reading", "late_data"}
        assert derived <= {"anomaly_score", "anomaly_event"}  # the deriver scores readings
        marks = influxql(influx_db, 'SELECT * FROM "late_data" GROUP BY "site", "device"')
        marked = {(s["tags"]["site"], s["tags"]["device"])
                  for s in marks["results"][0].get("series", [])}  # fmt: skip
        assert marked <= {(k[0], k[1]) for k in want}  # late marks name stored devices only
        for measurement in derived:  # ... of stored readings only
            assert set(series_keys(influx_db, measurement)) <= want.keys()
        assert proc.proc.poll() is None and healthy(port) and healthy(port, "/healthz")  # type: ignore[union-attr]
        assert httpx.get(metrics, timeout=10).status_code == 200
    finally:
        pub.close()
        listener.close()
        assert proc.terminate() == 0, proc.log
