"""Marking many instances' positions at once: one statement per quote batch, then one roll-up of the accounts.

Why by symbol and not by row: 1,000 instances × 50 holdings are 50,000 position rows but only a few hundred
distinct symbols, so the price of each symbol is sent once and the database applies it to every holding of it
(PostgreSQL: one ``UPDATE … FROM (VALUES …)``; SQLite: one executemany). Only running instances are touched.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Float, String, and_, bindparam, case, column, exists, func, select, update, values
from sqlalchemy.orm import Session

from aistock_core.db.models.preview import PreviewAccount, PreviewPosition, PreviewStrategy

#: Advisory-lock key shared by refresh and settlement (PostgreSQL): one of them at a time.
MARK_LOCK = 0x50_52_45_56_49_45_57  # "PREVIEW"


def _frozen(day: pd.Timestamp):
    """Instances with an account row on ``day`` that are no longer running (stopped during the day: rare)."""
    return select(PreviewAccount.preview_id).where(
        PreviewAccount.trading_day == day.date(),
        PreviewAccount.preview_id.in_(select(PreviewStrategy.id).where(PreviewStrategy.status != "running")))


def _day_scope(session: Session, model, day: pd.Timestamp):
    """Rows of ``model`` on ``day`` that belong to running instances.

    Written as "the day, minus the few frozen instances" rather than "IN (running instances)": the latter makes
    the planner probe the positions once per instance, the former is one scan of the day's rows.
    """
    scope = model.trading_day == day.date()
    if session.scalar(_frozen(day).limit(1)) is None:
        return scope
    return and_(scope, model.preview_id.not_in(_frozen(day).scalar_subquery()))


def count_positions(session: Session, day: pd.Timestamp) -> int:
    """Holdings of running instances on ``day``."""
    return int(session.scalar(select(func.count()).select_from(PreviewPosition).where(
        _day_scope(session, PreviewPosition, day))))


def held_symbols(session: Session, day: pd.Timestamp) -> list[str]:
    """Distinct symbols held by running instances on ``day``."""
    return list(session.scalars(select(PreviewPosition.symbol).distinct().where(
        _day_scope(session, PreviewPosition, day), PreviewPosition.volume > 0).order_by(PreviewPosition.symbol)))


def mark_positions(session: Session, day: pd.Timestamp, prices: pd.Series, when: datetime) -> tuple[int, int]:
    """Set ``last_price``/``market_value`` of every running holding of ``day`` whose symbol has a finite price in
    ``prices``; holdings without one keep their last price and are flagged ``stale``. Rows whose mark did not move
    are left alone (nothing to write). Returns (rows re-marked, rows flagged stale)."""
    ok = prices[np.isfinite(prices.to_numpy(float)) & (prices.to_numpy(float) > 0)]
    missing = prices.index.difference(ok.index)
    where = _day_scope(session, PreviewPosition, day)
    marked = 0
    if len(ok):
        if session.get_bind().dialect.name == "postgresql":
            quotes = values(column("symbol", String), column("price", Float), name="q").data(
                list(zip(ok.index, ok.to_numpy(float).tolist(), strict=True)))
            result = session.execute(update(PreviewPosition).where(
                where, PreviewPosition.symbol == quotes.c.symbol,
                PreviewPosition.last_price.is_distinct_from(quotes.c.price) | PreviewPosition.stale)
                                     .values(last_price=quotes.c.price, market_value=PreviewPosition.volume
                                             * quotes.c.price, quote_time=when, stale=False))
            marked = result.rowcount
        else:
            stmt = update(PreviewPosition).where(
                where, PreviewPosition.symbol == bindparam("sym"),
                PreviewPosition.last_price.is_distinct_from(bindparam("price")) | PreviewPosition.stale).values(
                last_price=bindparam("price"), market_value=PreviewPosition.volume * bindparam("price"),
                quote_time=when, stale=False)
            result = session.connection().execute(stmt, [{"sym": s, "price": p} for s, p in
                                                         zip(ok.index, ok.to_numpy(float).tolist(), strict=True)])
            marked = result.rowcount
    stale = 0
    if len(missing):
        stale = session.execute(update(PreviewPosition).where(where, PreviewPosition.symbol.in_(list(missing)))
                                .values(stale=True)).rowcount
    return marked, stale


def roll_up_accounts(session: Session, day: pd.Timestamp, when: datetime) -> int:
    """Each running instance's ``market_value``, ``total_value`` and stale count on ``day`` from its positions:
    one aggregate pass over the day's positions joined into one update of the accounts (instances holding
    nothing get zero)."""
    scope = _day_scope(session, PreviewPosition, day)
    agg = (select(PreviewPosition.preview_id.label("pid"), func.sum(PreviewPosition.market_value).label("mv"),
                  func.sum(case((PreviewPosition.stale, 1), else_=0)).label("n"))
           .where(scope).group_by(PreviewPosition.preview_id).subquery("agg"))
    where = _day_scope(session, PreviewAccount, day)
    has_positions = exists().where(PreviewPosition.preview_id == PreviewAccount.preview_id,
                                   PreviewPosition.trading_day == PreviewAccount.trading_day)
    empty = session.execute(update(PreviewAccount).where(where, ~has_positions).values(
        market_value=0.0, total_value=PreviewAccount.cash, stale_positions=0, refreshed_at=when)).rowcount
    held = session.execute(update(PreviewAccount).where(where, PreviewAccount.preview_id == agg.c.pid).values(
        market_value=agg.c.mv, total_value=PreviewAccount.cash + agg.c.mv, stale_positions=agg.c.n,
        refreshed_at=when)).rowcount
    return empty + held
