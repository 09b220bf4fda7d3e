"""One error tree: every package's errors sit under its root, and every root under PeaklineError."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import httpx
import pytest
from fastapi import FastAPI

import firmware_sim
import peakline_api
import peakline_cli
import peakline_core
import peakline_edge
import peakline_ingest
import peakline_store
from firmware_sim.errors import SimError
from peakline_api.errors import ApiError, Internal, install_problem_handlers
from peakline_api.ledger import LedgerError
from peakline_cli.errors import CliError
from peakline_core.errors import PeaklineError
from peakline_edge.errors import EdgeError
from peakline_ingest.errors import IngestError
from peakline_store.errors import StorePackageError
from peakline_store.open import StoreUrlError

ROOTS: dict[ModuleType, type[Exception]] = {
    peakline_core: PeaklineError,
    peakline_edge: EdgeError,
    peakline_store: StorePackageError,
    peakline_ingest: IngestError,
    peakline_api: ApiError,
    firmware_sim: SimError,
    peakline_cli: CliError,
}


def _errors_defined_in(package: ModuleType) -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        module = importlib.import_module(info.name)
        found += [
            obj
            for _, obj in inspect.getmembers(module, inspect.isclass)
            if issubclass(obj, BaseException) and obj.__module__ == module.__name__
        ]
    return found


@pytest.mark.parametrize("root", ROOTS.values(), ids=lambda r: r.__name__)
def test_each_root_is_a_peakline_error(root: type[Exception]) -> None:
    assert issubclass(root, PeaklineError)


@pytest.mark.parametrize("package", ROOTS, ids=lambda p: p.__name__)
def test_every_error_of_a_package_is_under_its_root(package: ModuleType) -> None:
    errors = _errors_defined_in(package)
    assert errors, "no exception classes found: the walk is broken"
    outside = [e.__qualname__ for e in errors if not issubclass(e, ROOTS[package])]
    assert outside == []


def test_store_url_error_is_still_a_value_error() -> None:
    assert issubclass(StoreUrlError, ValueError)
    assert issubclass(StoreUrlError, StorePackageError)


async def test_an_internal_api_error_is_answered_like_an_unexpected_one() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/ledger")
    async def ledger() -> None:
        raise LedgerError("/var/lib/peakline/ledger.db: disk I/O error")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.get("/ledger")
    assert issubclass(LedgerError, Internal)
    assert answer.status_code == 500
    body = answer.json()
    assert body["type"].endswith(":internal")
    assert body["detail"] == "unexpected error; it has been logged"
    assert "disk" not in answer.text
