"""An instance's performance over a period, from its account tables — the figures LiveFeedback carries.

Definitions (contracts/livefeedback.md; every figure that leaves the project is computed here):

- NAV: end-of-day total value / the instance's capital, on each session of the period. Preview: the settled
  ``preview_account.total_value``. Trading instances: the end-of-day book (the day's opening snapshot plus its
  fills; carried over days without a run) marked at the day's raw closes.
- ``base``: the NAV at the end of the session before the period (1.0 when the instance had no day yet), so a
  week in the middle of an instance's life starts from where the previous week ended.
- daily return ``r_t = nav_t / nav_{t−1} − 1`` (``nav_{−1}`` = base); ``total_return = nav_end / base − 1``;
  ``annual_return = (1 + total)^(238 / sessions) − 1``; ``volatility = std(r, ddof=1) × √238``;
  ``sharpe = mean(r) / std(r) × √238`` (risk-free 0); ``max_drawdown = min(nav / running peak − 1)`` with the
  peak starting at base (≤ 0); ``win_rate`` = share of sessions with ``r > 0``.
- ``turnover`` (one-way): Σ traded value of the period / (2 × mean end-of-day total value).
- benchmark (``000001.SH`` by default): its raw close, based on the session before the period;
  ``excess_return = total_return − benchmark_return``.

Undefined figures (one session: no volatility; zero volatility: no Sharpe) are None, never NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from aistock_core.data.service import DataService
from aistock_core.db import Database
from aistock_core.db.models.execution import TradeFill
from aistock_core.db.models.preview import PreviewAccount, PreviewTrade
from aistock_core.errors import SignalError
from aistock_core.feedback.figures import number
from aistock_core.preview.nav import DEFAULT_BENCHMARK, PERIODS_PER_YEAR
from aistock_core.signals.books import trade_books
from aistock_core.signals.instances import PREVIEW, LoopInstance

PERFORMANCE_KEYS = ("sessions", "total_return", "annual_return", "volatility", "sharpe", "max_drawdown", "win_rate",
                    "turnover", "benchmark", "benchmark_return", "excess_return")


@dataclass(frozen=True)
class AccountHistory:
    """An instance's sessions of a period: ``value`` (end-of-day total value), ``traded`` (gross traded value),
    indexed by session; ``base_value`` the total value before the first session; ``capital`` the NAV unit."""

    value: pd.Series
    traded: pd.Series
    base_value: float
    capital: float


def period_performance(history: AccountHistory, bench_close: pd.Series, bench_base: float,
                       benchmark: str = DEFAULT_BENCHMARK) -> dict[str, Any]:
    """The figures of the module docstring, plus ``nav``: ``[{date, nav, benchmark_nav}]`` (pure)."""
    n = len(history.value)
    if n == 0:
        raise SignalError("the period has no session with an account row; nothing to measure")
    nav = history.value.astype(float) / history.capital
    base = history.base_value / history.capital
    returns = nav / nav.shift(1, fill_value=base) - 1.0
    total = nav.iloc[-1] / base - 1.0
    std = float(returns.std(ddof=1)) if n > 1 else math.nan
    peak = np.maximum.accumulate(np.maximum(nav.to_numpy(), base))
    bench = bench_close.reindex(nav.index).astype(float)
    bench_total = bench.iloc[-1] / bench_base - 1.0 if bench_base else math.nan
    mean_value = float(history.value.mean())
    return {
        "sessions": n,
        "total_return": number(total),
        "annual_return": number((1.0 + total) ** (PERIODS_PER_YEAR / n) - 1.0),
        "volatility": number(std * math.sqrt(PERIODS_PER_YEAR)),
        "sharpe": number(returns.mean() / std * math.sqrt(PERIODS_PER_YEAR)) if std > 0 else None,
        "max_drawdown": number(float((nav.to_numpy() / peak - 1.0).min())),
        "win_rate": number(float((returns > 0).mean())),
        "turnover": number(float(history.traded.sum()) / (2.0 * mean_value)) if mean_value > 0 else None,
        "benchmark": benchmark,
        "benchmark_return": number(bench_total),
        "excess_return": number(total - bench_total),
        "nav": [{"date": f"{d:%Y-%m-%d}", "nav": number(v), "benchmark_nav": number(b / bench_base if bench_base else
                                                                                  math.nan)}
                for d, v, b in zip(nav.index, nav.to_numpy(), bench.to_numpy(), strict=True)],
    }


def _closes(service: DataService, symbols: list[str], start, end) -> pd.DataFrame:
    """Raw closes of ``symbols`` on the sessions start..end, carried over suspensions."""
    panel = service.get_panel(symbols, start=start, end=end, fields=["close"], adjust=None)
    return pd.DataFrame(panel["close"], index=panel.dates, columns=panel.instruments).astype(float).ffill()


def _preview_history(db: Database, instance: LoopInstance, days: pd.DatetimeIndex, before: pd.Timestamp
                     ) -> tuple[pd.Series, pd.Series, float | None]:
    pid = int(instance.key)
    with db.session() as s:
        values = pd.Series(dict(s.execute(select(PreviewAccount.trading_day, PreviewAccount.total_value).where(
            PreviewAccount.preview_id == pid, PreviewAccount.settled,
            PreviewAccount.trading_day >= before.date(), PreviewAccount.trading_day <= days[-1].date())).all()),
            dtype=float)
        traded = pd.DataFrame(s.execute(select(PreviewTrade.trading_day, PreviewTrade.amount).where(
            PreviewTrade.preview_id == pid, PreviewTrade.status == "filled", PreviewTrade.side.in_(("buy", "sell")),
            PreviewTrade.trading_day >= days[0].date(), PreviewTrade.trading_day <= days[-1].date())).all(),
            columns=["day", "amount"])
    values.index = pd.to_datetime(values.index)
    base = values.get(before)
    traded_by_day = (traded.groupby(pd.to_datetime(traded["day"]))["amount"].sum() if len(traded)
                     else pd.Series(dtype=float))
    return values.reindex(days), traded_by_day.reindex(days).fillna(0.0), base


def _trade_history(db: Database, service: DataService, instance: LoopInstance, days: pd.DatetimeIndex,
                   before: pd.Timestamp) -> tuple[pd.Series, pd.Series, float]:
    books = trade_books(db, instance, service.calendar, days[-1])
    sessions = days.insert(0, before)
    symbols = sorted({s for held, _ in books.values() for s in held.index})
    closes = _closes(service, symbols, before, days[-1]).reindex(sessions) if symbols else pd.DataFrame(index=sessions)
    value = pd.Series({d: cash + float((held * closes.loc[d].reindex(held.index)).sum())
                       for d, (held, cash) in books.items() if d >= before}, dtype=float)
    value = value.reindex(sessions).fillna(instance.capital)
    with db.session() as s:
        traded = pd.DataFrame(s.execute(select(TradeFill.trading_day, TradeFill.volume * TradeFill.price).where(
            TradeFill.instance == instance.key, TradeFill.trading_day >= days[0].date(),
            TradeFill.trading_day <= days[-1].date())).all(), columns=["day", "value"])
    by_day = traded.groupby(pd.to_datetime(traded["day"]))["value"].sum() if len(traded) else pd.Series(dtype=float)
    return value.loc[days], by_day.reindex(days).fillna(0.0), float(value.loc[before])


def account_history(db: Database, service: DataService, instance: LoopInstance, start, end) -> AccountHistory:
    """The instance's `AccountHistory` over the sessions ``start..end`` (see the module docstring)."""
    days = service.calendar.sessions_in_range(start, end)
    if len(days) == 0:
        raise SignalError(f"no XSHG session between {pd.Timestamp(start):%Y-%m-%d} and {pd.Timestamp(end):%Y-%m-%d}")
    before = service.calendar.previous(days[0])
    if instance.kind == PREVIEW:
        value, traded, base = _preview_history(db, instance, days, before)
        value = value.dropna()
        if value.empty:
            raise SignalError(f"instance {instance.id} has no settled day between {days[0]:%Y-%m-%d} and "
                              f"{days[-1]:%Y-%m-%d}; settle the days first (`aistock preview settle`)")
        return AccountHistory(value, traded.reindex(value.index).fillna(0.0),
                              base if base is not None else instance.capital, instance.capital)
    value, traded, base = _trade_history(db, service, instance, days, before)
    return AccountHistory(value, traded, base, instance.capital)


def instance_performance(db: Database, service: DataService, instance: LoopInstance, start, end,
                         benchmark: str = DEFAULT_BENCHMARK) -> dict[str, Any]:
    """`period_performance` of the instance over ``start..end`` against ``benchmark``."""
    history = account_history(db, service, instance, start, end)
    before = service.calendar.previous(history.value.index[0])
    close = _closes(service, [benchmark], before, history.value.index[-1])[benchmark]
    return period_performance(history, close, float(close.get(before, math.nan)), benchmark)
