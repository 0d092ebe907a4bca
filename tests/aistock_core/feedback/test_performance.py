"""Period performance: the contract's definitions on a hand-made NAV, and on a preview instance against the
preview box's own KPIs (`preview.nav.kpis`, a separate implementation) and its raw account rows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from aistock_core.db.models.preview import PreviewAccount
from aistock_core.errors import FeedbackError, SignalError
from aistock_core.feedback.figures import instance_performance, performance
from aistock_core.feedback.history import FILL_COLUMNS, ORDER_COLUMNS, TRADE_COLUMNS, AccountHistory
from aistock_core.feedback.periods import make_period
from aistock_core.instances import resolve_instance
from aistock_core.preview.engine import SignalPreviewEngine
from aistock_core.preview.instances import create_instance
from aistock_core.preview.nav import kpis, nav_frame
from aistock_core.preview.settle import settle_range


def _history(values: pd.Series, amounts: list[float], base: float) -> AccountHistory:
    trades = pd.DataFrame({"day": values.index, "amount": amounts}).reindex(columns=TRADE_COLUMNS)
    return AccountHistory(values, base, trades, pd.DataFrame(columns=ORDER_COLUMNS),
                          pd.DataFrame(columns=FILL_COLUMNS))


def test_definitions_on_a_hand_made_nav():
    days = pd.bdate_range("2024-01-01", periods=4)
    values = pd.Series([110.0, 99.0, 108.9, 108.9], index=days)  # capital 100, base 100
    bench = pd.Series([10.0, 10.0, 10.5, 10.2, 11.0], index=days.insert(0, days[0] - pd.Timedelta(days=3)))
    perf = performance(_history(values, [50.0, 0.0, 30.0, 0.0], 100.0), 100.0, bench)
    r = np.array([0.10, -0.10, 0.10, 0.0])
    std = r.std(ddof=1)
    assert perf["total_return"] == pytest.approx(0.089)
    assert perf["annual_return"] == pytest.approx(1.089 ** (238 / 4) - 1)
    assert perf["volatility"] == pytest.approx(std * math.sqrt(238))
    assert perf["sharpe"] == pytest.approx(r.mean() / std * math.sqrt(238))
    assert perf["max_drawdown"] == pytest.approx(-0.10)
    assert perf["win_rate"] == 0.5
    assert perf["turnover"] == pytest.approx(80.0 / values.mean())  # buys + sells over the mean value
    assert perf["benchmark_return"] == pytest.approx(0.10) and perf["excess_return"] == pytest.approx(-0.011)
    assert perf["nav"][0] == {"date": "2024-01-01", "nav": 1.1, "benchmark_nav": 1.0}


def test_one_flat_session_has_no_volatility_and_no_sharpe():
    days = pd.bdate_range("2024-01-01", periods=1)
    perf = performance(_history(pd.Series([100.0], index=days), [0.0], 100.0), 100.0,
                       pd.Series([1.0, 1.0], index=days.insert(0, days[0] - pd.Timedelta(days=3))))
    assert (perf["volatility"], perf["sharpe"], perf["max_drawdown"], perf["total_return"]) == (None, None, 0.0, 0.0)


@pytest.fixture
def preview(db, service):
    inst = create_instance(db, "perf", 1e6)
    stocks = [c for c in service.instruments("all") if not c.endswith(".BJ")]

    def targets(_, day):
        k = service.calendar.sessions_in_range("2024-01-02", day).size % 5
        return pd.Series(0.15, index=stocks[k:k + 6])

    engine = SignalPreviewEngine(db, service, targets)
    for day in service.calendar.sessions_in_range("2024-04-01", "2024-04-12"):
        engine.run(day)
    settle_range(db, service, "2024-04-01", "2024-04-12")
    return inst


def _perf(db, service, ref: str, start: str, end: str):
    return instance_performance(db, service, resolve_instance(db, ref), make_period(service.calendar, start, end))


def test_from_inception_equals_the_preview_kpis(db, service, preview):
    history, perf = _perf(db, service, f"preview-{preview.id}", "2024-04-01", "2024-04-12")
    ref = kpis(nav_frame(db, service, [preview.id], start="2024-04-01", end="2024-04-12")).iloc[0]
    for key in ("total_return", "annual_return", "volatility", "sharpe", "max_drawdown"):
        assert perf[key] == pytest.approx(ref[key], rel=1e-12), key
    assert perf["win_rate"] == pytest.approx(ref["win_days"])
    assert len(history.value) == ref["days"] == 8  # 4-5 April: Qingming


def test_a_later_period_starts_from_the_previous_sessions_nav(db, service, preview):
    _, perf = _perf(db, service, "perf", "2024-04-09", "2024-04-12")
    with db.session() as s:
        value = dict(s.execute(select(PreviewAccount.trading_day, PreviewAccount.total_value)).all())
    by_day = {f"{d:%Y-%m-%d}": v for d, v in value.items()}
    assert perf["total_return"] == pytest.approx(by_day["2024-04-12"] / by_day["2024-04-08"] - 1, rel=1e-12)
    assert [p["date"] for p in perf["nav"]] == ["2024-04-09", "2024-04-10", "2024-04-11", "2024-04-12"]
    assert perf["turnover"] > 0


def test_a_period_without_settled_days_is_one_clear_error(db, service, preview):
    for caught in (SignalError, FeedbackError):  # the daily evaluation and LiveFeedback both skip such an instance
        with pytest.raises(caught, match=r"no settled account day in 2024-05-06\.\.2024-05-10"):
            _perf(db, service, "perf", "2024-05-06", "2024-05-10")
    with pytest.raises(FeedbackError, match=r"2024-05-01\.\.2024-05-03 holds no trading session"):
        _perf(db, service, "perf", "2024-05-01", "2024-05-03")
