"""API settings: built by the CLI (or a test) and handed to `create_app`; never read at import."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """The mail relay alert emails go through (docs/alerts.md)."""

    host: str
    port: int = 587
    sender: str = "peakline@localhost"
    starttls: bool = True
    username: str | None = None
    password_file: Path | None = None
    timeout_s: float = 10.0
    ca_file: Path | None = None


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """The alert evaluator and sender: `enabled` runs them in this process (one evaluator
    across replicas holds the lease), a pass every `interval_s`."""

    enabled: bool = False
    interval_s: float = 60.0
    webhook_timeout_s: float = 5.0
    retry_first_s: float = 30.0
    """First retry of a failed notification (then doubling)."""
    smtp: SmtpSettings | None = None
    deliver: bool = True
    """False: incidents open, remind and resolve as configured and their notifications are
    queued, but none is sent (the demo, whose example channels are placeholders)."""


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """Everything the API needs to start.

    `store_url` is `sqlite:///path/to/file.db` or `http://host:8086?db=name` (InfluxDB 1.x API;
    `&token=` for 2.x v1-compatibility auth). `broker_url` None runs without live status and
    streams (the store still serves every query). `cors_origins` empty keeps CORS off.
    """

    config_dir: Path
    store_url: str
    keys_db: Path
    broker_url: str | None = None
    """`mqtt://[user[:password]@]host:port` or `mqtts://...` (TLS)."""
    broker_username: str | None = None
    broker_password_file: Path | None = None
    """File holding the broker password (kept out of the URL, the environment and `ps`)."""
    broker_ca_file: Path | None = None
    """CA bundle for `mqtts://` brokers (default: the system's)."""
    topic_prefix: str = "peakline"
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 64 * 1024
    """Largest request body accepted (bytes); larger bodies get 413."""
    max_points_per_series: int = 2000
    """Automatic downsampling keeps each returned series at or under this many points."""
    max_series: int = 500
    stream_queue: int = 1000
    """Per-client live stream buffer (messages); a slow client loses its oldest messages."""
    stream_heartbeat_s: float = 15.0
    """Also how often an open stream re-checks that its key is not revoked (s)."""
    max_streams_per_key: int = 8
    max_streams: int = 200
    """Open live streams per API key and in all; one more gets 429."""
    latest_cache_s: float = 1.0
    """How long a latest-readings answer is reused (s); 0 turns the cache off."""
    dashboard: bool = True
    private_ops: bool = False
    """`/ready` and `/metrics` need an API key (any role) and `/docs` is off: for an API port
    reachable from outside when no private ops network fronts it (`/health` stays open)."""
    state_url: str | None = None
    """`postgresql://user@host:port/db`: keys, command ledger, DR events, retrofits,
    refrigerant records, alert state and leases in one PostgreSQL database shared by every
    replica (migrated at start). None keeps them in SQLite files beside `keys_db`."""
    state_password_file: Path | None = None
    """File holding the PostgreSQL password (kept out of the URL, the environment and `ps`)."""
    lease_s: float = 15.0
    """Lease time of the command sweeper and the DR scheduler (s): one replica runs each,
    renewing every second; another takes over this long after the holder stops renewing."""
    alerts: AlertSettings = field(default_factory=lambda: AlertSettings())
    dr_slot_s: float = 60.0
    """Demand-response verification slots (s): as coarse as the meter data they pair (the
    demo's stepped history holds a reading per 5-15 minutes and uses 900)."""
    workers: int = 1
    """uvicorn worker processes (`--workers`); more than one shares the state like replicas."""
    json_logs: bool = True
