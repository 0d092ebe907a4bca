"""A small synthetic market shared by the execution tests (bars through 2024-06-28; 2024-07-01 is "live")."""

from __future__ import annotations

import pytest

from aistock_core.config import Settings
from aistock_core.data.factory import build_service


@pytest.fixture(scope="session")
def market():
    return build_service(Settings(synthetic_end="2024-06-28", synthetic_instruments=40, synthetic_start="2024-01-02"))


@pytest.fixture(scope="session")
def universe(market) -> list[str]:
    return market.instruments("all")[:30]
