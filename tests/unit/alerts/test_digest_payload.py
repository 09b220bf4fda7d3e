"""A digest's generic webhook body: every transition with its key, signed like a single one,
and an Idempotency-Key naming the batch (the same rows give the same key)."""

from __future__ import annotations

import json

from peakline_core.alerts import observe, render_digest
from peakline_core.alerts.webhooks import SIGNATURE_HEADER, build_digest_request, verify_generic

T0 = 1_767_578_400 * 10**9


def _opened(subject: str) -> object:
    _, transitions = observe(
        None, "firing", rule="r", subject=subject, city="c1", site="s1", severity="info",
        now_ns=T0, summary={"kind": "no_data", "minutes": 30},
    )  # fmt: skip
    return transitions[0]


def test_generic_digest_lists_every_transition_and_is_signed() -> None:
    ts = [_opened("m1"), _opened("m2")]
    message = render_digest([(t, "Meter silent") for t in ts], "en")  # type: ignore[misc]
    assert message.title == "[Digest] 2 alert changes"
    req = build_digest_request("webhook", "http://h/x", "s3cret", ts, message, "en", T0 // 10**6)  # type: ignore[arg-type]
    body = json.loads(req.body)
    assert body["digest"] is True and sorted(i["key"] for i in body["items"]) == sorted(
        t.key
        for t in ts  # type: ignore[attr-defined]
    )
    assert verify_generic("s3cret", req.headers[SIGNATURE_HEADER], req.body)
    again = build_digest_request("webhook", "http://h/x", None, ts[::-1], message, "en", 0)  # type: ignore[arg-type]
    assert again.headers["Idempotency-Key"] == req.headers["Idempotency-Key"] == body["key"]
