"""The backtest's speed paths change nothing: the up-front score ranking, the one-pass score grid, and the
Qlib exchange's shortcuts (trusted lot rounding, all-filled batches) give the same orders, fills and reports
as the plain per-day code."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aistock_core.data.qlib_bin import QlibBinProvider
from aistock_core.data.service import DataService
from aistock_core.errors import StrategyError
from aistock_core.strategy.backtest import report
from aistock_core.strategy.backtest.engine import run_backtest
from aistock_core.strategy.backtest.market import MarketData, load_market
from aistock_core.strategy.backtest.qlib_mode import QlibExchange, QlibExchangeConfig
from aistock_core.strategy.base import DayContext, ScoreRanking
from aistock_core.strategy.scores import align_scores, normalise_scores, score_grid
from aistock_core.strategy.topk import TopkDropoutStrategy
from aistock_core.trading.account import Account

START, END = "2020-01-10", "2020-08-20"


def _pandas_desc(scores: np.ndarray, idx: np.ndarray) -> list[int]:
    """What Qlib does: ``Series.sort_values(ascending=False)`` on the column-sorted subset, NaN last."""
    idx = np.sort(idx)
    return pd.Series(scores[idx], index=idx).sort_values(ascending=False).index.tolist()


def _grid(rng: np.random.Generator, rows: int, n: int) -> np.ndarray:
    grid = rng.normal(size=(rows, n))
    grid[rng.random(grid.shape) < 0.1] = np.nan
    grid[1] = np.nan  # a day with no signal at all
    grid[2, 3] = grid[2, 7]  # ties: this row must fall back to pandas' tie-breaking
    grid[3] = np.round(grid[3], 1)
    grid[4, 5] = -np.inf  # sorts with the unscored under the key: must fall back too
    return grid


def test_ranking_flags_ties_and_orders_subsets_exactly_as_pandas():
    rng = np.random.default_rng(3)
    grid = _grid(rng, 12, 40)
    ranking = ScoreRanking.of(grid)
    assert ranking.distinct.tolist() == [True, True, False, False, False] + [True] * 7
    acc = Account.empty(40, 1e6)
    for row in range(len(grid)):
        order, key = ranking.day(row)
        fast = DayContext(1, grid[row], acc, None, order, key)
        plain = DayContext(1, grid[row], acc, None)
        assert fast.has_scores() == plain.has_scores() == (row != 1)
        for _ in range(20):
            mask = rng.random(40) < 0.6
            expect = _pandas_desc(grid[row], np.flatnonzero(mask & ~np.isnan(grid[row])))
            assert fast.ranked(mask).tolist() == plain.ranked(mask).tolist() == expect
            subset = rng.permutation(40)[: rng.integers(1, 40)]  # any order, unscored names included
            assert fast.sort_desc(subset).tolist() == plain.sort_desc(subset).tolist() == _pandas_desc(
                grid[row], subset)


@pytest.fixture(scope="module")
def setup(qlib_dir, scores_of):
    root, meta = qlib_dir
    market = load_market(DataService(QlibBinProvider(root)), "all", START, END, benchmark="000300.SH")
    return market, scores_of(meta)


def _assert_same(a, b) -> None:
    for name in ("report", "positions", "trades"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)


@pytest.mark.parametrize("tied", [False, True], ids=["distinct", "tied"])
@pytest.mark.parametrize("kwargs", [{"topk": 8, "n_drop": 3}, {"topk": 5, "n_drop": 0},
                                    {"topk": 6, "n_drop": 2, "only_tradable": True, "hold_thresh": 3}])
def test_precomputed_ranking_gives_the_same_backtest_as_per_day_sorting(setup, monkeypatch, kwargs, tied):
    market, scores = setup
    if tied:
        scores = scores.round(1)  # most days hold ties: the per-day fallback runs inside the ranked engine
    strategy, cfg = TopkDropoutStrategy(**kwargs), QlibExchangeConfig(open_cost=0.0005, close_cost=0.0015)
    ranked = run_backtest(market, scores, strategy, account=5e6, exchange=cfg)
    monkeypatch.setattr(report.ScoreRanking, "day", lambda self, row: (None, None))
    plain = run_backtest(market, scores, strategy, account=5e6, exchange=cfg)
    _assert_same(ranked, plain)
    assert ranked.trade_counts()["sells"] > 30


def test_score_grid_equals_normalise_then_align(setup):
    market, scores = setup
    shuffled = scores.sample(frac=1.0, random_state=1)  # rows out of order, Qlib spelling
    expect = align_scores(normalise_scores(shuffled), market.dates, market.instruments)
    np.testing.assert_array_equal(score_grid(shuffled, market.dates, market.instruments), expect)
    assert normalise_scores(shuffled).index.is_monotonic_increasing
    dup = pd.concat([scores, scores.iloc[:3]])
    with pytest.raises(StrategyError, match="3 duplicate"):
        score_grid(dup, market.dates, market.instruments)


def test_positions_are_sorted_by_day_then_internal_code(setup):
    market, scores = setup
    res = run_backtest(market, scores, TopkDropoutStrategy(topk=8, n_drop=3), account=5e6)
    assert res.positions.index.is_monotonic_increasing and res.positions.index.is_unique
    # Columns are in Qlib order (SH before SZ), so the sort really reorders: SZ codes come first within a day.
    first_day = res.positions.xs(res.positions.index[0][0], level="datetime").index
    assert list(first_day) == sorted(first_day)
    np.testing.assert_allclose(res.positions["value"], res.positions["amount"] * res.positions["price"])


def test_buying_round_buy_output_skips_no_rounding_that_matters():
    """`buy` trusts amounts that `round_buy` handed out (re-rounding them is the identity, bit for bit)."""
    rng = np.random.default_rng(5)
    n = 300
    factor = rng.uniform(0.3, 40.0, (2, n))
    close = np.round(rng.uniform(1.0, 300.0, (2, n)), 2) * factor
    codes = pd.Index([f"{600000 + i}.SH" for i in range(n)])
    market = MarketData(
        dates=pd.DatetimeIndex(["2024-01-04", "2024-01-05"]), instruments=codes, close=close,
        factor=factor, change=np.zeros((2, n)), volume=np.full((2, n), 1e9),
        listed=np.ones((2, n), dtype=bool), bench_close=np.ones(2, dtype=np.float32),
    )
    ex = QlibExchange(market, QlibExchangeConfig(), 1, 1)
    idx = np.arange(n)
    raw = rng.uniform(0, 5e4, n) / factor[1]
    rounded = ex.round_buy(1, idx, raw)
    assert not rounded.flags.writeable
    np.testing.assert_array_equal(ex._round(1, idx, rounded), rounded)
    trusted = ex.buy(Account.empty(n, 1e12), 1, idx, rounded, np.zeros(n, dtype=np.int64))
    fresh = ex.buy(Account.empty(n, 1e12), 1, idx, rounded.copy(), np.zeros(n, dtype=np.int64))  # rounds again
    for field in ("amount", "value", "cost", "status"):
        np.testing.assert_array_equal(getattr(trusted, field), getattr(fresh, field))
