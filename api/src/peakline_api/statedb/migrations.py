"""PostgreSQL schema, as numbered migrations recorded in `schema_version`.

`migrate` runs at every start: under a transaction-scoped advisory lock, so replicas starting
together apply each migration once (the second waits, then finds it recorded), and in one
transaction with the DDL (PostgreSQL's DDL is transactional), so a failed migration leaves
nothing half done. Append new migrations; never edit an applied one.

Types: UTC ns timestamps are BIGINT, floats DOUBLE PRECISION, JSON documents TEXT (the stores
share their SQL with SQLite and parse JSON themselves).
"""

from __future__ import annotations

from typing import Any

import psycopg

ADVISORY_LOCK = 0x70656B6C_00000001
"""pg_advisory_xact_lock key of the migrations ("pekl" + 1), unique to peakline."""

MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "keys, command ledger, DR events, retrofits, refrigerant records, alerts, leases",
        """
CREATE TABLE api_key (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    cities TEXT NOT NULL,
    token_sha256 TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    revoked_at DOUBLE PRECISION
);
CREATE TABLE commands (
    id TEXT PRIMARY KEY,
    site TEXT NOT NULL, device TEXT NOT NULL, point TEXT NOT NULL,
    value TEXT NOT NULL,
    issuer TEXT NOT NULL,
    issued_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
    idempotency_key TEXT, dry_run INTEGER NOT NULL, revert_after_s DOUBLE PRECISION,
    origin TEXT,
    state TEXT NOT NULL, reason TEXT,
    readback TEXT, previous TEXT,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX commands_idem ON commands (issuer, idempotency_key);
CREATE INDEX commands_site ON commands (site, issued_at);
CREATE INDEX commands_state ON commands (state, expires_at);
CREATE TABLE command_events (
    seq BIGSERIAL PRIMARY KEY,
    command_id TEXT NOT NULL,
    ts BIGINT NOT NULL, state TEXT NOT NULL, reason TEXT, readback TEXT,
    source TEXT NOT NULL,
    applied INTEGER NOT NULL
);
CREATE INDEX command_events_id ON command_events (command_id, seq);
CREATE TABLE dr_events (id TEXT PRIMARY KEY, created_at BIGINT NOT NULL, body TEXT NOT NULL);
CREATE TABLE retrofit (
    id TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    day TEXT NOT NULL,
    measures TEXT NOT NULL,
    cost DOUBLE PRECISION,
    currency TEXT,
    note TEXT NOT NULL DEFAULT '',
    recorded_by TEXT NOT NULL,
    recorded_at_ns BIGINT NOT NULL
);
CREATE INDEX retrofit_site ON retrofit (site, day);
CREATE TABLE refrigerant_service (
    id TEXT PRIMARY KEY,
    asset TEXT NOT NULL,
    day TEXT NOT NULL,
    kind TEXT NOT NULL,
    kg DOUBLE PRECISION NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    recorded_by TEXT NOT NULL,
    recorded_at_ns BIGINT NOT NULL
);
CREATE INDEX refrigerant_service_asset ON refrigerant_service (asset, day);
CREATE TABLE incident (
    id TEXT PRIMARY KEY,
    rule TEXT NOT NULL,
    subject TEXT NOT NULL,
    city TEXT NOT NULL,
    site TEXT,
    severity TEXT NOT NULL,
    state TEXT NOT NULL,
    opened_ns BIGINT NOT NULL,
    summary TEXT NOT NULL,
    acknowledged_ns BIGINT,
    acknowledged_by TEXT,
    comment TEXT,
    resolved_ns BIGINT,
    last_notified_ns BIGINT,
    reminders INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX incident_live ON incident (rule, subject) WHERE state != 'resolved';
CREATE INDEX incident_city ON incident (city, state, opened_ns);
CREATE TABLE outbox (
    key TEXT NOT NULL,
    channel TEXT NOT NULL,
    incident TEXT NOT NULL,
    transition TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    created_ns BIGINT NOT NULL,
    due_ns BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    sent_ns BIGINT,
    dead INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    PRIMARY KEY (key, channel)
);
CREATE INDEX outbox_due ON outbox (sent_ns, dead, due_ns);
CREATE TABLE evaluator (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
CREATE TABLE channel_send (channel TEXT NOT NULL, at_ns BIGINT NOT NULL);
CREATE INDEX channel_send_at ON channel_send (channel, at_ns);
CREATE TABLE rule (
    seq BIGSERIAL UNIQUE,
    id TEXT PRIMARY KEY,
    city TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_ns BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);
CREATE TABLE lease (name TEXT PRIMARY KEY, holder TEXT NOT NULL, until_ns BIGINT NOT NULL);
""",
    ),
)

LATEST = MIGRATIONS[-1][0]


def migrate(conn: psycopg.Connection[Any]) -> list[int]:
    """Apply the migrations this database lacks; returns the versions applied now."""
    applied: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY,"
            " description TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        done = {int(r[0]) for r in conn.execute("SELECT version FROM schema_version")}
        for version, description, ddl in MIGRATIONS:
            if version in done:
                continue
            conn.execute(ddl.encode())
            conn.execute(
                "INSERT INTO schema_version (version, description) VALUES (%s, %s)",
                (version, description),
            )
            applied.append(version)
    return applied
