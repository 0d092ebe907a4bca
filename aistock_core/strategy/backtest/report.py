"""`BacktestResult` and the day loop both modes share.

The loop is inherent (each day's orders depend on the previous day's fills); inside a day everything is numpy
over instruments. The report has Qlib's columns and arithmetic (``Account.update_portfolio_metrics``):
``return = (value change + cost) / previous value`` (before cost), ``cost`` and ``turnover`` are the day's
differences of the running totals divided by the previous value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from aistock_core.strategy.backtest.market import MarketData, bench_returns
from aistock_core.strategy.backtest.risk import analyse_report
from aistock_core.strategy.base import DayContext, Exchange, ScoreRanking, Strategy
from aistock_core.trading.account import Account, AccountEvents
from aistock_core.trading.orders import REASONS, STATUSES, Fills

REPORT_COLUMNS = ("account", "return", "total_turnover", "turnover", "total_cost", "cost", "value", "cash", "bench")


class ModeExchange(Exchange, Protocol):
    def start_day(self, acc: Account, t: int) -> Fills: ...

    def bar_end(self, acc: Account, t: int) -> None: ...


@dataclass
class BacktestResult:
    """Daily report (Qlib's columns), end-of-day positions, every order with its fate, and risk figures."""

    mode: str
    report: pd.DataFrame
    positions: pd.DataFrame
    trades: pd.DataFrame
    risk: dict[str, float] = field(default_factory=dict)
    #: Account events that are not trades (corporate-action credits, dividend tax), one row per instrument.
    events: pd.DataFrame = field(default_factory=lambda: _events_frame(pd.Index([]), []))
    #: How corporate actions were credited (A-share mode: their source and convention; None in Qlib mode).
    corporate_actions: str | None = None

    def trade_counts(self) -> dict[str, int]:
        filled = self.trades[self.trades["status"] == "filled"]
        return {
            "orders": len(self.trades),
            "buys": int((filled["side"] == "buy").sum()),
            "sells": int((filled["side"] == "sell").sum()),
            "refused": int((self.trades["status"] != "filled").sum()),
        }


def run_days(
    market: MarketData,
    scores: np.ndarray,
    strategy: Strategy,
    exchange: ModeExchange,
    *,
    mode: str,
    t0: int,
    t1: int,
    init_cash: float,
) -> BacktestResult:
    """Run trade days ``t0..t1`` (market rows): decide on row t-1's scores, fill, mark to close, report."""
    n = len(market.instruments)
    acc = Account.empty(n, init_cash)
    bench = bench_returns(market.bench_close).tolist()  # Python floats of the float32 values, read per day
    nan_row = np.full(n, np.nan)
    # Rank the score rows the loop reads (t0-1..t1-1) in one vectorised sort, not one sort per day.
    first_row = max(t0 - 1, 0)
    ranking = ScoreRanking.of(scores[first_row:t1])
    rows: list[tuple[float, ...]] = []
    pos_i: list[np.ndarray] = []
    pos_amount: list[np.ndarray] = []
    pos_price: list[np.ndarray] = []
    trade_parts: list[tuple[int, str, Fills]] = []
    last_value, last_cost, last_turnover = float(init_cash), 0.0, 0.0
    held_counts: list[int] = []
    for t in range(t0, t1 + 1):
        pre = exchange.start_day(acc, t)
        if len(pre.idx):
            trade_parts.append((t, "sell", pre))
        if t > 0:
            order, key = ranking.day(t - 1 - first_row)
            ctx = DayContext(t, scores[t - 1], acc, exchange, order, key)
        else:
            ctx = DayContext(t, nan_row, acc, exchange)
        orders = strategy.decide(ctx)
        if len(orders.sell_idx):
            trade_parts.append((t, "sell", exchange.sell(acc, t, orders.sell_idx, orders.sell_amount,
                                                         orders.sell_reason)))
        if len(orders.buy_idx):
            trade_parts.append((t, "buy", exchange.buy(acc, t, orders.buy_idx, orders.buy_amount,
                                                       orders.buy_reason)))
        exchange.bar_end(acc, t)
        held = acc.held.nonzero()[0]
        amount, price = acc.amount[held], acc.price[held]  # fancy indexing copies: kept for the positions
        stock_value = float((amount * price).sum())
        value = stock_value + acc.cash
        now_cost = acc.total_cost - last_cost
        now_turnover = acc.total_turnover - last_turnover
        rows.append((
            value, (value - last_value + now_cost) / last_value, acc.total_turnover, now_turnover / last_value,
            acc.total_cost, now_cost / last_value, stock_value, acc.cash, bench[t],
        ))
        last_value, last_cost, last_turnover = value, acc.total_cost, acc.total_turnover
        held_counts.append(len(held))
        pos_i.append(held)
        pos_amount.append(amount)
        pos_price.append(price)
    dates = market.dates[t0 : t1 + 1]
    report = pd.DataFrame(rows, index=pd.DatetimeIndex(dates, name="datetime"), columns=list(REPORT_COLUMNS))
    report["bench"] = report["bench"].astype(np.float32)
    pos_t = [np.repeat(np.arange(t0, t1 + 1), held_counts)]
    positions = _positions_frame(market, report, pos_t, pos_i, pos_amount, pos_price)
    trades = _trades_frame(market, trade_parts)
    result = BacktestResult(mode=mode, report=report, positions=positions, trades=trades,
                            events=_events_frame(market.instruments, acc.events))
    if len(report) > 1:
        result.risk = analyse_report(report, init_cash)
    return result


def _positions_frame(
    market: MarketData,
    report: pd.DataFrame,
    pos_t: list[np.ndarray],
    pos_i: list[np.ndarray],
    amount: list[np.ndarray],
    price: list[np.ndarray],
) -> pd.DataFrame:
    """End-of-day holdings indexed (datetime, instrument), sorted.

    Rows arrive day by day in column (Qlib) order; they are sorted by (row, rank of the code) with one integer
    argsort and indexed by a MultiIndex built from those integer codes, not by pandas' sort + set_index (which
    factorise ~10^5 timestamps and strings again).
    """
    t = np.concatenate(pos_t) if pos_t else np.zeros(0, dtype=np.int64)
    i = np.concatenate(pos_i) if pos_i else np.zeros(0, dtype=np.int64)
    a = np.concatenate(amount) if amount else np.zeros(0)
    p = np.concatenate(price) if price else np.zeros(0)
    account = report["account"].reindex(market.dates).to_numpy()
    by_code = np.argsort(market.instruments.to_numpy(), kind="stable")
    code_rank = np.empty(len(by_code), dtype=np.int64)
    code_rank[by_code] = np.arange(len(by_code))
    order = np.argsort(t * len(by_code) + code_rank[i], kind="stable")
    t, i, a, p = t[order], i[order], a[order], p[order]
    index = pd.MultiIndex(
        levels=[pd.DatetimeIndex(market.dates), market.instruments[by_code]],
        codes=[t, code_rank[i]], names=["datetime", "instrument"], verify_integrity=False,
    ).remove_unused_levels()
    value = a * p
    return pd.DataFrame(
        {"amount": a, "price": p, "value": value, "weight": value / account[t] if len(t) else np.zeros(0)},
        index=index,
    )


def _trades_frame(market: MarketData, parts: list[tuple[int, str, Fills]]) -> pd.DataFrame:
    columns = ["datetime", "instrument", "side", "amount", "price", "value", "cost", "reason", "status"]
    if not parts:
        return pd.DataFrame({c: [] for c in columns})
    lengths = [len(f.idx) for _, _, f in parts]
    t = np.repeat(np.array([day for day, _, _ in parts]), lengths)
    idx = np.concatenate([f.idx for _, _, f in parts])
    reasons = np.asarray(REASONS, dtype=object)
    return pd.DataFrame({
        "datetime": market.dates[t],
        "instrument": market.instruments[idx],
        "side": np.repeat(np.array([side for _, side, _ in parts], dtype=object), lengths),
        "amount": np.concatenate([f.amount for _, _, f in parts]),
        "price": np.concatenate([f.price for _, _, f in parts]),
        "value": np.concatenate([f.value for _, _, f in parts]),
        "cost": np.concatenate([f.cost for _, _, f in parts]),
        "reason": reasons[np.concatenate([f.reason for _, _, f in parts]).astype(int)],
        "status": np.asarray(STATUSES, dtype=object)[np.concatenate([f.status for _, _, f in parts]).astype(int)],
    })


def _events_frame(instruments: pd.Index, events: list[AccountEvents]) -> pd.DataFrame:
    """``datetime, instrument, kind, shares, cash`` per event and instrument."""
    lengths = [len(e.idx) for e in events]
    return pd.DataFrame({
        "datetime": pd.DatetimeIndex(np.repeat([e.day for e in events], lengths) if events else []),
        "instrument": instruments[np.concatenate([e.idx for e in events])] if events else [],
        "kind": np.repeat([e.kind for e in events], lengths).astype(object),
        "shares": np.concatenate([e.shares for e in events]) if events else np.zeros(0),
        "cash": np.concatenate([e.cash for e in events]) if events else np.zeros(0),
    })
