"""The soak: a district of N simulated meters split over K edge agents (one gateway per site,
as a district is deployed) for M minutes through the whole pipeline (district.py):

firmware-sim (subprocess) -> K x `peakline-edge run` -> mosquitto -> `peakline-ingest run`
-> influxd.

The RSS of every process is sampled every `sample_s` and judged by memtrend.summarise (robust
slope over the second half of the run); throughput is measured from the recorder, influxd and
the gateways' own counters; loss and duplicates are counted reading by reading.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from peakline_testing.servers import Influxd, Mosquitto
from peakline_testing.waiting import eventually
from tests.integration.reliability.district import district
from tests.integration.reliability.memtrend import summarise


async def soak(work: Path, minutes: float, devices: int, agents: int = 0, poll_s: float = 2.0,
               sample_s: float = 5.0) -> dict[str, Any]:  # fmt: skip
    """Run the district for `minutes` with RSS (MiB) of every process sampled every `sample_s`;
    `agents=0` means one gateway per 50 meters. Returns figures for the report."""
    agents = agents or -(-devices // 50)
    with Mosquitto.create() as mosquitto, Influxd.create() as influxd:
        prefix = f"s{os.urandom(5).hex()}"
        async with district(work / "soak", mosquitto, influxd, prefix, devices, agents,
                            poll_s) as d:  # fmt: skip
            await eventually(lambda: d.recorder.readings > 0, 60, "first readings", in_thread=True)
            await eventually(
                d.metrics_up, 60, "every /metrics endpoint", every_s=0.5, in_thread=True
            )
            t: list[float] = []
            rss: dict[str, list[float]] = {k: [] for k in d.processes}
            influx_vars: dict[str, list[float]] = {"heap_inuse": [], "tsm_cache": []}
            backlog: dict[str, list[float]] = {"not_yet_stored": [], "ingest_in_flight": []}
            stored0 = sum((await asyncio.to_thread(d.stored_count)).values())
            edge0 = await asyncio.to_thread(d.edge_counts)
            t0, n0 = time.monotonic(), d.recorder.readings
            while (now := time.monotonic()) - t0 < minutes * 60:
                t.append(now - t0)
                for k, proc in d.processes.items():
                    rss[k].append(proc.memory_info().rss / 2**20)
                for k, v in (await asyncio.to_thread(d.influxd_vars)).items():
                    influx_vars[k].append(v)
                counts = await asyncio.to_thread(d.ingest_counts)
                backlog["not_yet_stored"].append(d.recorder.readings - counts.get("stored", 0))
                backlog["ingest_in_flight"].append(counts.get("in_flight", 0))
                await asyncio.sleep(sample_s)  # the sampling period
            elapsed, produced_live = time.monotonic() - t0, d.recorder.readings - n0
            stored_live = sum((await asyncio.to_thread(d.stored_count)).values())
            edge1 = await asyncio.to_thread(d.edge_counts)
            left = await d.stop_agents(120)
            await eventually(
                lambda: d.recorder.idle_for(2.0), 60, "recorder caught up", in_thread=True
            )
            want = d.recorder.readings
            try:
                await eventually(lambda: sum(d.stored_count().values()) >= want, 180,
                                 "storage to catch up", every_s=1.0, in_thread=True)  # fmt: skip
            except AssertionError:
                pass  # counted below: the tally says what is missing
            tally = await asyncio.to_thread(d.account)
    memory = {k: summarise(t, xs) for k, xs in rss.items()}
    influx = {f"influxd {k}": summarise(t, xs) for k, xs in influx_vars.items()}
    return {
        **tally, "left_in_spool": left, "redelivered_batches": d.recorder.redelivered,
        "devices": devices, "agents": agents, "poll_s": poll_s, "minutes": minutes,
        "elapsed_s": round(elapsed, 1),
        "produced_per_s": round(produced_live / elapsed, 1),
        "stored_per_s": round((stored_live - stored0) / elapsed, 1),
        "polled_rate_per_s": round(len(d.recorder.ts) / poll_s, 1),  # series / poll period
        "edge": {  # the gateways' own counters over the run
            "cycles_per_s": round((edge1["cycles"] - edge0["cycles"]) / elapsed, 1),
            "nominal_cycles_per_s": round(devices / poll_s, 1),
            "readings_per_s": round((edge1["readings"] - edge0["readings"]) / elapsed, 1),
            "failed_requests": int(edge1["errors"] - edge0["errors"]),
        },
        "memory": memory, "influxd_internals": influx,
        "backlog": {k: {"mid": xs[len(xs) // 2], "end": xs[-1], "max": max(xs)}
                    for k, xs in backlog.items()},
        "samples": {"t_s": t, **rss, **{f"influxd {k}": v for k, v in influx_vars.items()},
                    **backlog},
    }  # fmt: skip
