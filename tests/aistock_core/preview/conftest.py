"""Fixtures of the preview tests: a small synthetic market with live quotes, and an app database on both dialects."""

from __future__ import annotations

import pandas as pd
import pytest

from aistock_core.data.service import DataService
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.db import Database

#: Sessions the engine tests trade (the market's bars run to END; pinned, never "today").
DAYS = pd.DatetimeIndex(["2024-04-01", "2024-04-02", "2024-04-03", "2024-04-08", "2024-04-09"])
END = "2024-04-30"


@pytest.fixture(scope="session")
def market() -> SyntheticMarket:
    return SyntheticMarket(seed=5, n_instruments=40, start="2024-01-02", end=END)


@pytest.fixture(scope="session")
def service(market) -> DataService:
    return DataService(market, quotes=market)


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    yield database
    database.dispose()


def rotating_targets(service: DataService, names: int = 8):
    """Deterministic target source: ``names`` equal weights rotating through the stocks day by day."""
    stocks = [c for c in service.instruments("all") if not c.endswith(".BJ")]

    def targets(instance, day):
        start = service.calendar.sessions_in_range("2024-01-02", day).size % len(stocks)
        picks = [stocks[(start + k * 3) % len(stocks)] for k in range(names)]
        return pd.Series(0.95 / names, index=picks)

    return targets
