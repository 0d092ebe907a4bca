"""`fills.rebalance`: A-share rules on hand-made quotes, fees checked against the broker's schedule by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aistock_core.preview.fills import Book, rebalance
from aistock_core.trading.fees import AshareFees

DAY = pd.Timestamp("2024-04-01")


def _quote(rows: dict[str, tuple[float, float, bool]]) -> pd.DataFrame:
    """symbol → (last, prev_close, suspended); limits from the board's rate (no limit columns)."""
    frame = pd.DataFrame(rows, index=["close", "prev_close", "suspended"]).T
    frame["close"] = frame["close"].astype(float)
    frame["prev_close"] = frame["prev_close"].astype(float)
    frame["suspended"] = frame["suspended"].astype(bool)
    return frame


def _book(cash: float, held: dict[str, tuple[float, float]] | None = None) -> Book:
    """held: symbol → (volume, sellable)."""
    held = held or {}
    symbols = pd.Index(sorted(held), dtype=object)
    vol = np.array([held[s][0] for s in symbols], dtype=float)
    sell = np.array([held[s][1] for s in symbols], dtype=float)
    return Book(symbols, vol, sell, np.full(len(vol), 10.0), np.full(len(vol), 10.0), cash)


def _row(result, symbol, side):
    rows = result.trades[(result.trades["symbol"] == symbol) & (result.trades["side"] == side)]
    assert len(rows) == 1, result.trades
    return rows.iloc[0]


def test_buys_round_to_lots_and_star_minimum_and_fees_follow_the_schedule():
    quote = _quote({"600000.SH": (10.0, 10.0, False), "688001.SH": (10.0, 10.0, False)})
    # 600000: 0.5 × 100,000 / 10 = 5,000 shares → 4,900 after nothing? exactly 5000 (lot 100). 688001: 0.0151 ×
    # 100,000 / 10 = 151 shares: below the STAR minimum of 200 → no intent at all.
    result = rebalance(_book(100_000.0), pd.Series({"600000.SH": 0.4567, "688001.SH": 0.0151}), quote, DAY,
                       AshareFees())
    buy = _row(result, "600000.SH", "buy")
    assert buy["volume"] == 4500  # 4,567 shares rounded down to the 100-share lot
    value = 4500 * 10.0
    assert buy["fee"] == pytest.approx(max(value * 0.00025, 5.0) + value * 0.00001)
    assert "688001.SH" not in set(result.trades["symbol"])
    assert result.book.cash == pytest.approx(100_000.0 - value - buy["fee"])
    star = rebalance(_book(100_000.0), pd.Series({"688001.SH": 0.0253}), quote, DAY, AshareFees())
    assert _row(star, "688001.SH", "buy")["volume"] == 253  # STAR: 200 minimum, then steps of one share


def test_sell_pays_stamp_duty_and_t_plus_1_keeps_todays_shares():
    quote = _quote({"600000.SH": (10.0, 10.0, False), "000001.SZ": (20.0, 20.0, False)})
    book = _book(0.0, {"600000.SH": (1000, 1000), "000001.SZ": (500, 0)})  # 000001 bought today: not sellable
    result = rebalance(book, pd.Series(dtype=float), quote, DAY, AshareFees())
    sell = _row(result, "600000.SH", "sell")
    assert sell["volume"] == 1000 and sell["status"] == "filled"
    assert sell["fee"] == pytest.approx(max(10_000 * 0.00025, 5.0) + 10_000 * 0.00001 + 10_000 * 0.0005)
    blocked = _row(result, "000001.SZ", "sell")
    assert blocked["volume"] == 0 and blocked["status"] == "unfilled" and "T+1" in blocked["reason"]
    assert result.book.volume[list(result.book.symbols).index("000001.SZ")] == 500


def test_no_buy_at_limit_up_no_sell_at_limit_down_suspended_untouched():
    quote = _quote({
        "600000.SH": (11.0, 10.0, False),  # +10%: at the main-board up limit
        "600004.SH": (9.0, 10.0, False),  # -10%: at the down limit
        "600006.SH": (np.nan, 10.0, True),  # suspended
        "300001.SZ": (11.0, 10.0, False),  # ChiNext +10%: still 10% below its 20% limit → tradable
    })
    book = _book(1_000_000.0, {"600004.SH": (1000, 1000), "600006.SH": (1000, 1000)})
    weights = pd.Series({"600000.SH": 0.2, "600006.SH": 0.2, "300001.SZ": 0.2})
    result = rebalance(book, weights, quote, DAY, AshareFees.zero())
    assert _row(result, "600000.SH", "buy")["reason"] == "refused: limit up"
    assert _row(result, "600004.SH", "sell")["reason"] == "refused: limit down"
    assert _row(result, "300001.SZ", "buy")["status"] == "filled"
    assert not ((result.trades["symbol"] == "600006.SH") & (result.trades["volume"] > 0)).any()
    held = dict(zip(result.book.symbols, result.book.volume, strict=True))
    assert held["600006.SH"] == 1000 and held["600004.SH"] == 1000


def test_buys_are_cut_to_the_cash_and_the_rest_recorded():
    quote = _quote({"600000.SH": (10.0, 10.0, False), "600004.SH": (10.0, 10.0, False)})
    # Weights above 100%: 1,800 + 1,200 shares wanted, scaled by 20,000 / (30,000 × 1.00026) = 0.6665 → 1,199.7
    # and 799.8 shares, down to the lot: 1,100 and 700.
    result = rebalance(_book(20_000.0), pd.Series({"600000.SH": 0.9, "600004.SH": 0.6}), quote, DAY, AshareFees())
    assert _row(result, "600000.SH", "buy")["volume"] == 1100
    assert _row(result, "600004.SH", "buy")["volume"] == 700
    assert result.book.cash == pytest.approx(20_000.0 - 18_000.0 - (5.0 + 0.11) - (5.0 + 0.07))
    # 100 shares cost 1,000 + the 5-yuan minimum commission + 0.01 transfer fee: 1,003 yuan cannot pay it.
    poor = rebalance(_book(1_003.0), pd.Series({"600000.SH": 1.0}), quote, DAY, AshareFees())
    refused = _row(poor, "600000.SH", "buy")
    assert (refused["volume"], refused["reason"], poor.book.cash) == (0, "refused: not enough cash", 1_003.0)
