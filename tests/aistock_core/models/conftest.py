"""A small synthetic market shared by the model tests."""

from __future__ import annotations

import pytest

from aistock_core.data.service import DataService
from aistock_core.data.synthetic import SyntheticMarket


@pytest.fixture(scope="session")
def market_service() -> DataService:
    return DataService(SyntheticMarket(seed=5, n_instruments=25, start="2020-01-02", end="2021-04-30"))
