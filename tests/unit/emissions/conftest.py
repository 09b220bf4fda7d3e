"""Shared fixtures: the factor book built from the shipped config/emission-factors/."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from peakline_core.emissions import EmissionFactorSet, FactorBook

FACTOR_DIR = Path(__file__).resolve().parents[3] / "config" / "emission-factors"


@pytest.fixture(scope="session")
def factor_sets() -> list[EmissionFactorSet]:
    return [
        EmissionFactorSet.model_validate(yaml.safe_load(p.read_text(encoding="utf-8")))
        for p in sorted(FACTOR_DIR.glob("*.yaml"))
    ]


@pytest.fixture(scope="session")
def book(factor_sets: list[EmissionFactorSet]) -> FactorBook:
    return FactorBook(factor_sets, gwp="AR5")
