"""Fuel and heat meters of inventory.yaml become counter sources (issue 26)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from peakline_core.config import load_config
from peakline_core.config.inventory import FuelMeter, HeatMeter
from peakline_ingest.derive.sources import FUEL_MAX_PER_H, carrier_sources, sources_from_config

REPO = Path(__file__).resolve().parents[3]


def test_metered_fuel_and_heat_become_counter_sources() -> None:
    platform = load_config(REPO / "config")
    inv = platform.inventory.model_copy(
        update={
            "fuel_meters": [
                FuelMeter(
                    id="g",
                    site="rt-office",
                    fuel="natural_gas",
                    unit="m3",
                    device="office-hvac",
                    point="gas_m3",
                ),
                FuelMeter(id="c", site="rt-school", fuel="raw_coal", unit="t"),  # billed only
            ],
            "heat_meters": [
                HeatMeter(
                    id="h",
                    site="rt-library",
                    network="riverton-dh",
                    unit="GJ",
                    device="library-meter",
                    point="heat_gj",
                ),
            ],
        }
    )
    platform = dataclasses.replace(platform, inventory=inv)
    found = {s.flow: s for s in carrier_sources(platform)}
    assert set(found) == {"fuel:natural_gas", "heat:riverton-dh"}
    gas, heat = found["fuel:natural_gas"], found["heat:riverton-dh"]
    assert (gas.device, gas.point, gas.kind, gas.factor) == (
        "office-hvac",
        "gas_m3",
        "counter",
        1.0,
    )
    assert gas.max_kw == FUEL_MAX_PER_H
    assert heat.factor == pytest.approx(277.777_777_8)
    assert {s.flow for s in sources_from_config(platform)} >= set(found)
