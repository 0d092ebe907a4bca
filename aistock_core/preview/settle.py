"""End-of-day settlement at raw closing prices, and the day's performance figures.

Each running instance's holdings are marked at the day's raw close (a suspended name at its last close), then
``total_value = cash + Σ volume × close``, ``daily_pnl`` against the previous settled day (the initial capital
before the first), ``cum_pnl`` against the initial capital, ``peak`` (never below the initial capital),
``drawdown = total / peak − 1`` and ``nav = total / initial capital``. Settling a range settles its sessions in
order, which is exactly what settling day by day does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aistock_core.data.service import DataService
from aistock_core.db import Database
from aistock_core.db.models.preview import PreviewAccount, PreviewStrategy
from aistock_core.db.upsert import upsert
from aistock_core.errors import PreviewError
from aistock_core.preview.book import advisory_lock, day_of, open_day, running_ids
from aistock_core.preview.marks import MARK_LOCK, count_positions, held_symbols, mark_positions, roll_up_accounts

#: Sessions looked back for the last close of a suspended name.
CLOSE_LOOKBACK = 60


@dataclass
class SettleResult:
    day: pd.Timestamp
    instances: int
    positions: int
    stale: int
    seconds: float


def closes_on(service: DataService, symbols: list[str], day: pd.Timestamp) -> pd.Series:
    """Raw close of each symbol on ``day``, or its last close before (suspended); NaN if none in the look-back."""
    if not symbols:
        return pd.Series(dtype=float)
    panel = service.get_panel(symbols, end=day, bars=CLOSE_LOOKBACK, fields=["close"], adjust=None)
    if len(panel.dates) == 0 or panel.dates[-1] != day:
        raise PreviewError(f"no daily bars for {day:%Y-%m-%d} in {service.provider.name} yet; settle after the "
                           f"day's bars are loaded")
    close = pd.DataFrame(panel["close"], index=panel.dates, columns=panel.instruments).ffill()
    return close.iloc[-1].astype(float)


def settle(db: Database, service: DataService, day) -> SettleResult:
    """Settle every running instance on ``day`` (a session whose bars are loaded)."""
    started = time.perf_counter()
    day = day_of(day)
    if not service.calendar.is_session(day):
        raise PreviewError(f"{day:%Y-%m-%d} is not an XSHG session; settle trading days only")
    close_time = (day + pd.Timedelta(hours=15)).to_pydatetime()
    with db.session() as session:
        advisory_lock(session, MARK_LOCK)
        ids = running_ids(session)
        open_day(session, service, day, ids)
        symbols = held_symbols(session, day)
        _, stale = mark_positions(session, day, closes_on(service, symbols, day), close_time)
        roll_up_accounts(session, day, close_time)
        _performance(session, day, ids)
        positions = count_positions(session, day)
    return SettleResult(day, len(ids), positions, stale, time.perf_counter() - started)


def settle_range(db: Database, service: DataService, start, end) -> list[SettleResult]:
    """Settle every session of ``start..end`` in order (a backfill)."""
    days = service.calendar.sessions_in_range(day_of(start), day_of(end))
    if len(days) == 0:
        raise PreviewError(f"no XSHG session between {start} and {end}")
    return [settle(db, service, d) for d in days]


def _performance(session: Session, day: pd.Timestamp, ids: list[int]) -> None:
    if not ids:
        return
    cols = [PreviewAccount.preview_id, PreviewAccount.trading_day, PreviewAccount.cash, PreviewAccount.total_value,
            PreviewAccount.market_value]
    today = pd.DataFrame(session.execute(select(*cols).where(
        PreviewAccount.trading_day == day.date(), PreviewAccount.preview_id.in_(ids))).all(),
        columns=[c.key for c in cols]).set_index("preview_id")
    today[["cash", "total_value", "market_value"]] = today[["cash", "total_value", "market_value"]].astype(float)
    last = (select(PreviewAccount.preview_id, func.max(PreviewAccount.trading_day).label("d"))
            .where(PreviewAccount.trading_day < day.date(), PreviewAccount.preview_id.in_(ids))
            .group_by(PreviewAccount.preview_id).subquery())
    prev = pd.DataFrame(session.execute(
        select(PreviewAccount.preview_id, PreviewAccount.total_value, PreviewAccount.peak)
        .join(last, (last.c.preview_id == PreviewAccount.preview_id) & (last.c.d == PreviewAccount.trading_day))
    ).all(), columns=["preview_id", "total_value", "peak"]).set_index("preview_id").astype(float)
    capital = pd.Series(dict(session.execute(select(PreviewStrategy.id, PreviewStrategy.initial_capital)
                                             .where(PreviewStrategy.id.in_(ids))).all()), dtype=float)
    capital = capital.reindex(today.index)
    prev_total = prev["total_value"].reindex(today.index).fillna(capital)
    prev_peak = prev["peak"].reindex(today.index).fillna(capital)
    total = today["total_value"]
    peak = np.maximum(prev_peak, total)
    out = today.assign(daily_pnl=total - prev_total, cum_pnl=total - capital, peak=peak,
                       drawdown=total / peak - 1.0, nav=total / capital, settled=True)
    upsert(session, PreviewAccount, out.reset_index())
