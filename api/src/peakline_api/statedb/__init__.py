"""The API's own state (keys, command ledger, DR events, retrofits, refrigerant records, alert
incidents and rules, leases): SQLite files beside one process by default, or one PostgreSQL
database shared by every replica (`ApiSettings.state_url`).

`StateDb` is the one seam the stores talk through; the stores' SQL is written once, in the
dialect both engines share (`?` placeholders, `INSERT ... ON CONFLICT`), and only the table
definitions differ (sqlite: each store's `CREATE ... IF NOT EXISTS`; PostgreSQL: the
versioned migrations of `migrations.py`).
"""

from peakline_api.statedb.database import (
    PostgresState,
    SqliteState,
    StateConflict,
    StateDb,
    StateError,
    Tx,
    open_postgres,
)
from peakline_api.statedb.lease import Leases

__all__ = [
    "Leases",
    "PostgresState",
    "SqliteState",
    "StateConflict",
    "StateDb",
    "StateError",
    "Tx",
    "open_postgres",
]
