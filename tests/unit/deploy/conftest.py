"""Deploy unit tests share the two-city district (tests/two_city.py)."""

from __future__ import annotations

import pytest

from peakline_core.config import PlatformConfig
from tests.two_city import two_city_config


@pytest.fixture
def district() -> PlatformConfig:
    return two_city_config()
