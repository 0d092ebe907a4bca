"""Fixtures of the feedback tests: the signals tests' small market and an app DB on both dialects."""

from __future__ import annotations

import pytest

from aistock_core.data.service import DataService
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.db import Database


@pytest.fixture(scope="session")
def market() -> SyntheticMarket:
    return SyntheticMarket(seed=5, n_instruments=40, start="2024-01-02", end="2024-07-31")


@pytest.fixture(scope="session")
def service(market) -> DataService:
    return DataService(market, quotes=market)


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    yield database
    database.dispose()
