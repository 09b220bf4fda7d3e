"""An influxd whose `[http] max-row-limit` cuts answers short: the store refuses the short
answer (StoreTruncated) and the API says so (502 store-truncated) instead of serving a
series with its tail, and every later series, silently missing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from peakline_core.config import PlatformConfig
from peakline_core.storage import SeriesQuery, StoreTruncated
from peakline_core.storage.schema import READING
from peakline_store import InfluxStore
from peakline_testing.servers import Influxd
from tests.integration.api.api_live_support import NOW_NS, build

pytestmark = pytest.mark.asyncio
LIMIT = 30  # rows per answer; the seeded series hold one reading a minute for two hours
S = 1_000_000_000


@pytest.fixture
def limited_influxd() -> Iterator[Influxd]:
    with Influxd.create(max_row_limit=LIMIT) as server:
        server.query("CREATE DATABASE limited")
        yield server


async def test_a_truncated_answer_is_refused_not_served_short(
    tmp_path: Path, platform_config: PlatformConfig, limited_influxd: Influxd
) -> None:
    url = f"{limited_influxd.url}?db=limited"
    app, tokens = await build(tmp_path, platform_config, url)
    store = InfluxStore(limited_influxd.url, "limited")
    try:
        where = {"device": ["school-meter"], "point": ["power_total"]}
        hour = SeriesQuery(READING, "value", NOW_NS - 3600 * S, NOW_NS, where=where)
        with pytest.raises(StoreTruncated, match="max-row-limit"):
            await store.query(hour)
        # under the limit the same store answers in full
        quarter = SeriesQuery(READING, "value", NOW_NS - 900 * S, NOW_NS, where=where)
        [series] = await store.query(quarter)
        assert len(series.values) == 15
    finally:
        await store.aclose()

    headers = {"Authorization": f"Bearer {tokens['viewer_rt']}"}
    async with app.router.lifespan_context(app):  # type: ignore[attr-defined]
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            raw = await client.get(
                "/api/v1/series?device=school-meter&point=power_total&start=-1h", headers=headers
            )
            assert raw.status_code == 502, raw.text
            problem = raw.json()
            assert (
                problem["type"].endswith("store-truncated") and "max-row-limit" in problem["detail"]
            )
            windowed = await client.get(
                "/api/v1/series?device=school-meter&point=power_total&start=-1h&window=15m",
                headers=headers,
            )
            assert windowed.status_code == 200, windowed.text
            assert len(windowed.json()["series"][0]["values"]) == 4
