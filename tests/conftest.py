"""Shared fixtures: real mosquitto, influxd and PostgreSQL on free loopback ports, socat serial
pairs.

Session-scoped servers are shared; tests isolate themselves with a unique topic prefix and a
fresh database. Tests that stop or restart a server take the function-scoped `fresh_*` ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from peakline_testing.servers import Influxd, Mosquitto, Postgres, SerialPair
from tests.state_backends import StateBackend

# No timed assertions (the machine is shared and noisy, two test workers on two cores):
# hypothesis neither fails a slow example (deadline) nor a slow generator (too_slow).
settings.register_profile("peakline", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("peakline")

REPO = Path(__file__).resolve().parent.parent


# Markers given by where a test lives, not by what its module declares. The browser tests drive
# a real API (and often the demo's servers) too, so `-m "not integration"` leaves them out.
FOLDER_MARKERS = {
    REPO / "tests" / "integration": (pytest.mark.integration,),
    REPO / "tests" / "browser": (pytest.mark.browser, pytest.mark.integration),
}


# The files that take longest (about so many seconds on one worker of a quiet 2-core
# machine), run first. pytest-xdist hands out whole files (--dist loadfile) in collection
# order (--no-loadscope-reorder in scripts/test.sh; its default hands out the files with the
# fewest tests last, and most of these are single tests: two could end up one after the other
# on one worker while the other had nothing left). Started first, they overlap the many short
# files, which then even out the two workers' ends. A file not listed runs in its usual place;
# tests/unit/test_suite_schedule.py checks that every one listed exists.
LONG_FILES_FIRST = (
    "tests/browser/test_dashboard_demo_stack.py",  # 250: one live demo, faults and dashboard
    "tests/integration/demo/test_demo_run.py",  # 150
    "tests/integration/reliability/test_soak.py",  # 90
    "tests/browser/test_demo_history_browser.py",  # 80: one demo with history, two tests
    "tests/integration/ingest/test_derive_scaleout.py",  # 80 (50 to 110)
    "tests/integration/demo/test_demo_history.py",  # 45
    "tests/unit/api/test_api_schema_fuzz.py",  # 42
    "tests/integration/pipeline/test_ingest_cli_processors.py",  # 41
    "tests/integration/pipeline/test_faults_found.py",  # 36
    "tests/integration/pipeline/test_alerts_meter_dropout.py",  # 34
)


def long_files_first(items: list[pytest.Item]) -> None:
    """Reorder `items` in place: the files of LONG_FILES_FIRST in that order, then the rest as
    collected. Each file's tests stay together and in their order (a stable sort)."""
    rank = {REPO / name: i for i, name in enumerate(LONG_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path, len(rank)))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/integration `integration`, and under tests/browser `browser`
    and `integration`; put the longest files first."""
    for item in items:
        for folder, markers in FOLDER_MARKERS.items():
            if item.path.is_relative_to(folder):
                for marker in markers:
                    item.add_marker(marker)
    long_files_first(items)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[Mosquitto]:
    with Mosquitto.create() as server:
        yield server


@pytest.fixture
def fresh_mosquitto() -> Iterator[Mosquitto]:
    with Mosquitto.create() as server:
        yield server


@pytest.fixture(scope="session")
def influxd() -> Iterator[Influxd]:
    with Influxd.create() as server:
        yield server


@pytest.fixture
def fresh_influxd() -> Iterator[Influxd]:
    with Influxd.create() as server:
        yield server


@dataclass(frozen=True)
class InfluxDatabase:
    server: Influxd
    database: str

    @property
    def url(self) -> str:
        return self.server.url

    def query(self, q: str) -> dict[str, object]:
        return self.server.query(q, db=self.database)


@pytest.fixture
def influx_db(influxd: Influxd) -> Iterator[InfluxDatabase]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    influxd.query(f'CREATE DATABASE "{name}"')
    yield InfluxDatabase(influxd, name)
    if influxd.running:
        influxd.query(f'DROP DATABASE "{name}"')


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    with Postgres.create() as server:
        yield server


@pytest.fixture
def pg_database(postgres: Postgres) -> Iterator[str]:
    """A fresh, empty database on the session's PostgreSQL: its URL (password included)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = postgres.create_database(name)
    yield url
    if postgres.running:
        postgres.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def state_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateBackend]:
    """The API's state on each backend in turn (contract tests)."""
    url = request.getfixturevalue("pg_database") if request.param == "postgresql" else None
    backend = StateBackend(request.param, tmp_path, url)
    yield backend
    backend.close()


@pytest.fixture
def topic_prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def serial_pair() -> Iterator[SerialPair]:
    with SerialPair.create() as pair:
        yield pair
