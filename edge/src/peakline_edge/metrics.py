"""Prometheus metrics of one agent (its own registry: no module-level singletons) and the
health file operators and systemd watchdogs can read."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge


class EdgeMetrics:
    """Every metric the agent exports; names start with `peakline_edge_`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.readings = Counter(
            "peakline_edge_readings", "Readings produced", ["device", "quality"], registry=r
        )
        self.requests = Counter(
            "peakline_edge_requests", "Modbus requests sent", ["device"], registry=r
        )
        self.errors = Counter(
            "peakline_edge_errors", "Failed requests or payloads", ["device", "kind"], registry=r
        )
        self.cycles = Counter("peakline_edge_cycles", "Poll cycles run", ["device"], registry=r)
        self.available = Gauge(
            "peakline_edge_device_available", "1 when the device answers", ["device"], registry=r
        )
        self.spool_batches = Gauge("peakline_edge_spool_batches", "Batches spooled", registry=r)
        self.spool_readings = Gauge(
            "peakline_edge_spool_readings", "Readings spooled (spool depth)", registry=r
        )
        self.spool_bytes = Gauge(
            "peakline_edge_spool_bytes", "Bytes of spooled payloads", registry=r
        )
        self.spool_oldest_age = Gauge(
            "peakline_edge_spool_oldest_age_seconds",
            "Age of the oldest spooled reading (0 when empty)",
            registry=r,
        )
        self.dropped_readings = Gauge(
            "peakline_edge_spool_dropped_readings",
            "Readings dropped by the spool bounds since the spool was created",
            registry=r,
        )
        self.dropped_batches = Gauge(
            "peakline_edge_spool_dropped_batches",
            "Batches dropped by the spool bounds since the spool was created",
            registry=r,
        )
        self.published = Counter(
            "peakline_edge_published_batches", "Batches acknowledged by the broker", registry=r
        )
        self.uplink_connected = Gauge(
            "peakline_edge_uplink_connected", "1 while connected to the broker", registry=r
        )
        self.commands = Counter(
            "peakline_edge_commands",
            "Command outcomes acknowledged (applied, rejected, failed, expired, reverted)",
            ["device", "state"],
            registry=r,
        )


def write_health(path: Path, health: dict[str, Any]) -> None:
    """Replace the health file atomically (write, fsync not needed: it is rewritten often)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(health, sort_keys=True, indent=1) + "\n")
    os.replace(tmp, path)
