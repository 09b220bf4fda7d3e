"""A short soak in the suite: 120 simulated meters polled every 2 s for 75 s through the whole
pipeline; zero loss, zero duplicates, and the edge agent, ingest and mosquitto do not grow
beyond noise (median RSS
of the last third of samples within 25% + 20 MiB of the first third's). The 10-minute
500-device soak is `python bench/reliability_report.py --only --soak-minutes 10`."""

from __future__ import annotations

from pathlib import Path

import pytest
import scenarios

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


async def test_short_soak_no_loss_no_memory_growth(tmp_path: Path) -> None:
    result = await scenarios.soak(tmp_path, minutes=1.25, devices=120, sample_s=2.5)
    assert result["produced"] > 120 * 20 * 20  # about 30 polls of ~29 points per device
    assert (result["lost"], result["duplicated"]) == (0, 0), result
    # influxd's cache and the harness's record of every reading grow with data by design
    for name in ("edge", "ingest", "mosquitto"):
        m = result["memory"][name]
        assert m["last_third_mib"] <= m["first_third_mib"] * 1.25 + 20, (name, m)
