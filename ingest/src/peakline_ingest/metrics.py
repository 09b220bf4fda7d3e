"""Prometheus metrics of one ingest worker, on its own registry (no global singletons)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class IngestMetrics:
    """Counters, gauges and histograms; `registry` is served on /metrics."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        p = "peakline_ingest_"
        self.messages = Counter(p + "messages", "MQTT messages handled", ["outcome"], registry=r)
        self.readings = Counter(p + "readings", "readings stored", registry=r)
        self.grid_points = Counter(
            p + "grid_points", "grid carbon intensity points stored", registry=r
        )
        self.rejects = Counter(
            p + "rejects", "messages rejected, by reason", ["reason"], registry=r
        )
        self.dead_letters_parked = Counter(
            p + "dead_letters_parked",
            "dead letters parked on disk (broker unreachable)",
            registry=r,
        )
        self.batch_readings = Histogram(
            p + "batch_readings",
            "readings per store write",
            buckets=(10, 100, 1000, 5000, 10_000, 20_000, 50_000),
            registry=r,
        )
        self.write_seconds = Histogram(
            p + "write_seconds",
            "store write latency (s)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.write_retries = Counter(
            p + "write_retries", "store writes retried (store unavailable)", registry=r
        )
        self.in_flight = Gauge(
            p + "in_flight_messages", "messages received, not yet acked", registry=r
        )
        self.lag_seconds = Histogram(
            p + "lag_seconds",
            "from the agent sending a batch to its readings being stored (s)",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 600),
            registry=r,
        )
        self.connected = Gauge(
            p + "broker_connected", "1 while connected to the broker", registry=r
        )
        self.guard_recovered = Counter(
            p + "guard_recovered",
            "telemetry messages the restart guard handed to the pipeline (published while the"
            " broker had lost the shared subscription, e.g. after a mosquitto restart)",
            registry=r,
        )
        self.processor_errors = Counter(
            p + "processor_errors", "batch processor failures", ["processor"], registry=r
        )
        self.derive_lag = Gauge(
            p + "derive_lag_seconds",
            "how far the deriver's watermark is behind the clock (s; lateness included)",
            registry=r,
        )
        self.derive_current = Gauge(
            p + "derive_current_seconds",
            "wall time (Unix s) of the last completed step: the derived rows reflect every"
            " reading whose late mark was readable then (what a backfill or test waits for)",
            registry=r,
        )
        self.derive_rows = Counter(
            p + "derive_rows", "derived rows written (energy, roll-ups, scores)", registry=r
        )
        self.derive_rederived = Counter(
            p + "derive_rederived",
            "energy sources re-derived because readings were stored late",
            registry=r,
        )
        self.derive_errors = Counter(
            p + "derive_errors", "derivation steps that failed (retried)", ["kind"], registry=r
        )
        self.energy_suspect = Counter(
            p + "energy_suspect_readings",
            "meter readings not believed (implausible steps or samples), by source kind",
            ["kind"],
            registry=r,
        )
