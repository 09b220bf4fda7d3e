"""What a city's archive reads besides the store: the API's own databases, wherever this
deployment keeps them (the shared PostgreSQL state, else the SQLite files)."""

from __future__ import annotations

from peakline_api.alerts.service import alerts_db
from peakline_api.archive import AppDatabases
from peakline_api.control_wiring import ledger_url
from peakline_api.ledger import sqlite_path
from peakline_api.services.inventory import refrigerants_db
from peakline_api.services.retrofits import retrofits_db
from peakline_api.state import AppState


def app_databases(state: AppState) -> AppDatabases:
    return AppDatabases(
        state.state_db if state.state_db is not None else sqlite_path(ledger_url(state)),
        alerts_db(state),
        refrigerants_db(state),
        retrofits_db(state),
    )
