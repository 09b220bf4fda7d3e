"""Hostile names and strings, encoded by us, written to a real influxd and read back exactly."""

from __future__ import annotations

import itertools

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peakline_core.storage import Row, encode_rows

text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=16,
)
name = text.filter(lambda s: "\n" not in s and "\r" not in s and not s.endswith("\\"))
_unique = itertools.count(1)  # the database outlives one hypothesis example


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tag=name, value=text)
def test_hostile_strings_round_trip_through_influxd(influx_db, tag, value) -> None:
    n = next(_unique)
    row = Row("hostile", {"k": tag, "n": str(n)}, {"s": value, "f": 1.5}, 1_000 + n)
    r = httpx.post(
        f"{influx_db.url}/write",
        params={"db": influx_db.database, "precision": "ns"},
        content=encode_rows([row]),
    )
    assert r.status_code == 204, r.text
    out = httpx.post(
        f"{influx_db.url}/query",
        params={"db": influx_db.database, "epoch": "ns"},
        data={"q": f'SELECT "s", "k" FROM "hostile" WHERE "n" = \'{n}\' AND time = {1_000 + n}'},
    ).json()
    (series,) = out["results"][0]["series"]
    assert series["values"] == [[1_000 + n, value, tag]]
