"""API keys: created and revoked by the CLI, stored hashed (an SQLite file, or the shared
PostgreSQL state), checked per request.

A key is `plk_<key id>_<secret>`. Only the SHA-256 of the whole token is stored. A fast hash
is right here (unlike passwords): the secret is 256 random bits, so no dictionary or brute
force can reach it however fast the hash, and a cheap hash keeps per-request checks cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from types import TracebackType
from typing import Self

from peakline_api.errors import Internal
from peakline_api.statedb.database import SqliteState, StateDb, StateError, private_file
from peakline_core.wire.ids import is_valid_id

ALL_CITIES = "*"


class Role(IntEnum):
    """Ordered: each role may do everything the ones below it may."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name.upper()]
        except KeyError:
            raise KeyStoreError(f"unknown role {name!r}: viewer, operator or admin") from None


__all__ = ["ALL_CITIES", "ApiKey", "KeyStore", "KeyStoreError", "Role", "private_file"]


class KeyStoreError(Internal):
    """A key cannot be created, found or revoked as asked."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key's public record (never its secret)."""

    id: str
    name: str
    role: Role
    cities: tuple[str, ...]
    """City ids the key may see, or ("*",) for the whole programme."""
    created_at: float
    revoked_at: float | None = None

    @property
    def programme_wide(self) -> bool:
        return ALL_CITIES in self.cities

    def covers(self, city: str) -> bool:
        return self.programme_wide or city in self.cities


_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_key (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    cities TEXT NOT NULL,
    token_sha256 TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL
)
"""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class KeyStore:
    """The key database: an SQLite file (a path) or the shared state database (a `StateDb`,
    left open on exit). Use as a context manager; short synchronous queries."""

    def __init__(self, where: Path | StateDb) -> None:
        self._where = where
        self._db: StateDb | None = None

    def __enter__(self) -> Self:
        try:
            if isinstance(self._where, Path | str):
                self._db = SqliteState(Path(self._where), _SCHEMA)
            else:
                self._db = self._where
        except StateError as exc:
            raise KeyStoreError(str(exc)) from exc
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._db is not None and isinstance(self._where, Path | str):
            self._db.close()
        self._db = None

    @property
    def db(self) -> StateDb:
        if self._db is None:
            raise KeyStoreError("key store is not open")
        return self._db

    def create(self, name: str, role: Role, cities: list[str]) -> tuple[ApiKey, str]:
        """Create a key; returns its record and the token (shown once, never stored)."""
        if not cities:
            raise KeyStoreError("a key needs --city (repeatable) or --city '*'")
        for city in cities:
            if city != ALL_CITIES and not is_valid_id(city):
                raise KeyStoreError(f"invalid city id {city!r}")
        if not name or len(name) > 200:
            raise KeyStoreError("a key needs a name of 1 to 200 characters")
        key_id = secrets.token_hex(6)
        token = f"plk_{key_id}_{secrets.token_urlsafe(32)}"
        scope = (ALL_CITIES,) if ALL_CITIES in cities else tuple(sorted(set(cities)))
        now = time.time()
        self.db.execute(
            "INSERT INTO api_key (id, name, role, cities, token_sha256, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (key_id, name, role.name.lower(), json.dumps(scope), _digest(token), now),
        )
        return ApiKey(key_id, name, role, scope, now), token

    def revoke(self, key_id: str) -> ApiKey:
        changed = self.db.execute(
            "UPDATE api_key SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (time.time(), key_id),
        )
        if changed != 1:
            raise KeyStoreError(f"no active key {key_id!r}")
        return self._get(key_id)

    def list(self) -> list[ApiKey]:
        rows = self.db.query(
            "SELECT id, name, role, cities, created_at, revoked_at FROM api_key ORDER BY created_at"
        )
        return [self._record(r) for r in rows]

    def verify(self, token: str) -> ApiKey | None:
        """The active key this token belongs to, or None (unknown, malformed or revoked)."""
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != "plk" or len(token) > 200:
            return None
        rows = self.db.query(
            "SELECT id, name, role, cities, created_at, revoked_at, token_sha256 "
            "FROM api_key WHERE id = ?",
            (parts[1],),
        )
        row = rows[0] if rows else None
        if row is None or row[5] is not None:
            return None
        if not hmac.compare_digest(row[6], _digest(token)):
            return None
        return self._record(row[:6])

    def is_active(self, key_id: str) -> bool:
        """Whether the key exists and is not revoked (a live stream re-checks its key)."""
        rows = self.db.query("SELECT revoked_at FROM api_key WHERE id = ?", (key_id,))
        return bool(rows) and rows[0][0] is None

    def _get(self, key_id: str) -> ApiKey:
        rows = self.db.query(
            "SELECT id, name, role, cities, created_at, revoked_at FROM api_key WHERE id = ?",
            (key_id,),
        )
        if not rows:
            raise KeyStoreError(f"no key {key_id!r}")
        return self._record(rows[0])

    @staticmethod
    def _record(row: tuple[object, ...]) -> ApiKey:
        key_id, name, role, cities, created, revoked = row
        return ApiKey(
            id=str(key_id),
            name=str(name),
            role=Role.parse(str(role)),
            cities=tuple(json.loads(str(cities))),
            created_at=float(created),  # type: ignore[arg-type]
            revoked_at=None if revoked is None else float(revoked),  # type: ignore[arg-type]
        )
