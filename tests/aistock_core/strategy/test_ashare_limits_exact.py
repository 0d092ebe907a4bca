"""No A-share fill at or beyond a price limit, with the limits recomputed independently in Decimal.

Independent of `aistock_core.trading`: the rate table is typed here from the exchanges' rules, the reference
price is the previous raw close times the factor ratio, rounded half up to the cent with ``Decimal``.
"""

from __future__ import annotations

import dataclasses
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd
import pytest

from aistock_core.data.service import DataService
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.strategy.backtest.ashare_mode import AshareConfig, AshareExchange
from aistock_core.strategy.backtest.engine import run_backtest
from aistock_core.strategy.backtest.market import load_market
from aistock_core.strategy.topk import TopkDropoutStrategy

CENT = Decimal("0.01")


def _rate(code: str, st: bool) -> Decimal:
    if code.endswith(".BJ"):
        return Decimal("0.30")
    if code[:3] in ("300", "301", "688", "689"):
        return Decimal("0.20")
    return Decimal("0.05") if st else Decimal("0.10")


def _free_sessions(code: str) -> int:
    return 5 if code[:3] in ("300", "301", "688", "689") else 1


def _band(market, t: int, i: int) -> tuple[Decimal, Decimal] | None:
    raw = market.close[:, i] / market.factor[:, i]
    prev_rows = np.flatnonzero(np.isfinite(raw[:t]))
    if not len(prev_rows) or market.listed[: t + 1, i].sum() <= _free_sessions(market.instruments[i]):
        return None
    prev = Decimal(round(float(raw[prev_rows[-1]]) * 100)) / 100
    ratio = Decimal(float(market.factor[t - 1, i])) / Decimal(float(market.factor[t, i]))
    ref = (prev * ratio).quantize(CENT, rounding=ROUND_HALF_UP)
    rate = _rate(market.instruments[i], bool(market.st[t, i]) if market.st is not None else False)
    up = (ref * (1 + rate)).quantize(CENT, rounding=ROUND_HALF_UP)
    down = max((ref * (1 - rate)).quantize(CENT, rounding=ROUND_HALF_UP), CENT)
    return down, up


@pytest.fixture(scope="module")
def run():
    service = DataService(SyntheticMarket(seed=5, n_instruments=60, start="2021-01-04", end="2022-12-30"))
    market = load_market(service, "all", "2021-02-01", "2022-12-30", benchmark=None)
    market = dataclasses.replace(market, limit_up=None, limit_down=None)  # the engine computes every limit
    index = pd.MultiIndex.from_product([market.dates, market.instruments], names=["datetime", "instrument"])
    scores = pd.Series(np.random.default_rng(8).standard_normal(len(index)), index=index, name="score")
    result = run_backtest(market, scores, TopkDropoutStrategy(topk=10, n_drop=4), mode="ashare", account=1e7)
    return market, result


def test_no_fill_at_or_beyond_an_exact_limit(run):
    market, result = run
    day_row = {d: k for k, d in enumerate(market.dates)}
    col = {c: k for k, c in enumerate(market.instruments)}
    checked = 0
    for row in result.trades[result.trades["status"] == "filled"].itertuples():
        if row.reason == "delisted_writeoff":
            continue
        t, i = day_row[row.datetime], col[row.instrument]
        band = _band(market, t, i)
        if band is None:
            continue
        close = Decimal(round(float(market.close[t, i] / market.factor[t, i]) * 100)) / 100
        down, up = band
        assert (close < up) if row.side == "buy" else (close > down), row
        checked += 1
    assert checked > 300


def test_every_limit_and_limit_flag_equals_the_decimal_computation(run):
    market, _ = run
    ex = AshareExchange(market, AshareConfig())
    ex_days = np.flatnonzero((np.diff(market.factor, axis=0) != 0).any(axis=1)) + 1
    sealed = 0
    for t in range(1, len(market.dates)):
        for i in np.flatnonzero(market.listed[t] & np.isfinite(market.close[t])):
            band = _band(market, t, i)
            if band is None:
                continue
            assert (Decimal(str(ex.limit_down[t, i])), Decimal(str(ex.limit_up[t, i]))) == band, (t, i)
            close = Decimal(round(float(market.close[t, i] / market.factor[t, i]) * 100)) / 100
            at_up, at_down = close >= band[1], close <= band[0]
            assert ex._at_up[t, i] == at_up and ex._at_down[t, i] == at_down, (t, i)
            sealed += at_up or at_down
    assert sealed > 5 and len(ex_days) > 5  # limit days and ex-dates inside the window
