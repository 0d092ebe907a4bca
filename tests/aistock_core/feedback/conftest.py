"""Fixtures of the feedback tests: preview instances traded and settled over pinned sessions, on both dialects."""

from __future__ import annotations

import pandas as pd
import pytest

from aistock_core.data.service import DataService
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.db import Database
from aistock_core.preview.engine import SignalPreviewEngine
from aistock_core.preview.instances import create_instance
from aistock_core.preview.settle import settle

#: April 2024 sessions (Qingming 4-5 closed): a whole week 8..12 and a partial one.
DAYS = pd.DatetimeIndex(["2024-04-01", "2024-04-02", "2024-04-03", "2024-04-08", "2024-04-09", "2024-04-10",
                         "2024-04-11", "2024-04-12"])


@pytest.fixture(scope="session")
def service() -> DataService:
    market = SyntheticMarket(seed=5, n_instruments=40, start="2024-01-02", end="2024-04-30")
    return DataService(market, quotes=market)


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    yield database
    database.dispose()


def _targets(service: DataService, names: int):
    stocks = [c for c in service.instruments("all") if not c.endswith(".BJ")]

    def targets(instance, day):
        start = service.calendar.sessions_in_range("2024-01-02", day).size % len(stocks)
        return pd.Series(0.95 / names, index=[stocks[(start + k * 3) % len(stocks)] for k in range(names)])

    return targets


@pytest.fixture
def traded(db, service):
    """Two preview instances ("calm": 8 names, "tight": 2 names and a 0.5% drawdown limit) traded and settled."""
    calm = create_instance(db, "calm", 1e6)
    tight = create_instance(db, "tight", 5e5, params={"limits": {"max_drawdown": 0.005}})
    for names, inst in ((8, calm), (2, tight)):
        engine = SignalPreviewEngine(db, service, _targets(service, names))
        for day in DAYS:
            engine.run(day, ids=[inst.id])
    for day in DAYS:
        settle(db, service, day)
    return {"calm": f"preview-{calm.id}", "tight": f"preview-{tight.id}"}
