"""A day's books in the database: opening a trading day for instances, loading and saving their holdings.

A day is *opened* for an instance the first time anything touches it (a trade, a refresh, the settlement): the
cash and holdings of the instance's last earlier day are carried over, every carried share becomes sellable
(T+1), and the corporate actions between the two days are credited through `trading.Account.credit_actions`
(bonus shares, cash dividends), each recorded as a ``preview_trade`` row (side ``bonus`` / ``dividend``) so the
value can always be recomputed from ``preview_trade`` and closes alone. An instance's first day starts from its
initial capital.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from aistock_core.data.service import DataService
from aistock_core.db.models.preview import PreviewAccount, PreviewPosition, PreviewStrategy, PreviewTrade
from aistock_core.db.upsert import upsert
from aistock_core.errors import PreviewError
from aistock_core.preview.fills import Book
from aistock_core.trading.account import Account

#: Slot of the rows written when a day is opened (corporate-action credits), before any decision slot.
OPEN_SLOT = "open"
_POSITION_COLUMNS = ["preview_id", "symbol", "volume", "avg_cost", "last_price", "market_value", "sellable", "opened",
                     "dividend"]


def day_of(value) -> pd.Timestamp:
    """The trade date of ``value`` (a date, a Timestamp, or a date as the user typed it); text that is not a
    date is one `PreviewError` naming it rather than a parser's traceback."""
    try:
        day = pd.Timestamp(value)
    except (ValueError, TypeError):
        day = pd.NaT
    if day is pd.NaT:
        raise PreviewError(f"{value!r} is not a date; write it as YYYY-MM-DD")
    return day.normalize()


def running_ids(session: Session) -> list[int]:
    return list(session.scalars(select(PreviewStrategy.id).where(PreviewStrategy.status == "running")
                                .order_by(PreviewStrategy.id)))


def lock_instances(session: Session, ids: Sequence[int]) -> None:
    """Row locks on the instances (PostgreSQL); SQLite serialises writers on its own database lock."""
    if ids and session.get_bind().dialect.name == "postgresql":
        session.execute(select(PreviewStrategy.id).where(PreviewStrategy.id.in_(list(ids)))
                        .order_by(PreviewStrategy.id).with_for_update())


def try_advisory_lock(session: Session, key: int) -> bool:
    """A transaction-scoped advisory lock on PostgreSQL (False: someone else holds it); always True on SQLite,
    where the write transaction itself serialises."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}))


def advisory_lock(session: Session, key: int) -> None:
    """Wait for a transaction-scoped advisory lock (PostgreSQL only)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def open_day(session: Session, service: DataService, day: pd.Timestamp, ids: Sequence[int]) -> int:
    """Open ``day`` for those of ``ids`` that have no account row on it yet; returns how many were opened."""
    day = day_of(day)
    have = set(session.scalars(select(PreviewAccount.preview_id).where(
        PreviewAccount.trading_day == day.date(), PreviewAccount.preview_id.in_(list(ids)))))
    todo = [i for i in ids if i not in have]
    if not todo:
        return 0
    last = (select(PreviewAccount.preview_id, func.max(PreviewAccount.trading_day).label("prev_day"))
            .where(PreviewAccount.trading_day < day.date(), PreviewAccount.preview_id.in_(todo))
            .group_by(PreviewAccount.preview_id).subquery())
    prev = pd.DataFrame(session.execute(
        select(PreviewAccount.preview_id, PreviewAccount.trading_day, PreviewAccount.cash)
        .join(last, (last.c.preview_id == PreviewAccount.preview_id) & (last.c.prev_day == PreviewAccount.trading_day))
    ).all(), columns=["preview_id", "prev_day", "cash"])
    capital = dict(session.execute(select(PreviewStrategy.id, PreviewStrategy.initial_capital)
                                   .where(PreviewStrategy.id.in_(todo))).all())
    pos = pd.DataFrame(session.execute(
        select(*(getattr(PreviewPosition, c) for c in _POSITION_COLUMNS), PreviewPosition.trading_day)
        .join(last, (last.c.preview_id == PreviewPosition.preview_id)
              & (last.c.prev_day == PreviewPosition.trading_day))
    ).all(), columns=[*_POSITION_COLUMNS, "prev_day"])
    cash = pd.Series({i: float(capital[i]) for i in todo}, dtype=float)
    cash.update(prev.set_index("preview_id")["cash"])
    pos["sellable"] = pos["volume"]
    pos, credits = _credit_actions(service, pos, day)
    if len(credits):
        cash = cash.add(credits[credits["side"] == "dividend"].groupby("preview_id")["amount"].sum(), fill_value=0)
        upsert(session, PreviewTrade, credits, update=())
    pos["market_value"] = pos["volume"] * pos["last_price"]
    if len(pos):
        upsert(session, PreviewPosition, pos[_POSITION_COLUMNS].assign(trading_day=day.date()), update=())
    mv = pos.groupby("preview_id")["market_value"].sum().reindex(cash.index, fill_value=0.0)
    upsert(session, PreviewAccount, [
        {"preview_id": int(i), "trading_day": day.date(), "cash": float(cash[i]), "market_value": float(mv[i]),
         "total_value": float(cash[i] + mv[i])} for i in cash.index], update=())
    return len(todo)


def _credit_actions(service: DataService, pos: pd.DataFrame, day: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Credit the corporate actions of (previous day, ``day``] to carried positions; returns the positions and
    the ``preview_trade`` rows recording each credit."""
    if pos.empty:
        return pos, pd.DataFrame()
    prev_days = pd.to_datetime(pos["prev_day"])
    start = service.calendar.next(prev_days.min())
    if start > day:
        return pos, pd.DataFrame()
    actions = service.corporate_actions(sorted(pos["symbol"].unique()), start=start, end=day)
    rows = []
    for when, acts in actions.groupby(level="datetime"):
        acts = acts.droplevel("datetime")
        hit = (prev_days < when).to_numpy() & pos["symbol"].isin(acts.index).to_numpy() & (pos["volume"] > 0).to_numpy()
        if not hit.any():
            continue
        account = Account.empty(len(pos), 0.0)
        account.amount[:] = pos["volume"].to_numpy(float)
        account.held[:] = True
        account.price[:] = pos["last_price"].to_numpy(float)
        account.dividend[:] = pos["dividend"].to_numpy(float)
        per = acts.reindex(pos["symbol"]).fillna(0.0)
        cash_ps = np.where(hit, per["cash"].to_numpy(float), 0.0)
        bonus_ps = np.where(hit, per["bonus"].to_numpy(float), 0.0)
        old = account.amount.copy()
        extra = account.credit_actions(when, cash_ps, bonus_ps, whole_shares=True)
        pos = pos.assign(volume=account.amount, sellable=pos["sellable"] + extra, last_price=account.price,
                         dividend=account.dividend,
                         avg_cost=np.where(account.amount > 0, pos["avg_cost"] * old / np.maximum(account.amount, 1e-9),
                                           0.0))
        stamp = datetime.combine(pd.Timestamp(when).date(), datetime.min.time()).replace(hour=9, minute=15)
        for event in account.events:
            side = "bonus" if event.kind == "bonus_shares" else "dividend"
            rows.append(pd.DataFrame({
                "preview_id": pos["preview_id"].to_numpy()[event.idx], "trading_day": day.date(), "datetime": stamp,
                "symbol": pos["symbol"].to_numpy()[event.idx], "side": side, "price": 0.0,
                "volume": event.shares, "amount": event.cash, "reason": "corporate_action", "slot": OPEN_SLOT,
                "fee": 0.0, "status": "filled"}))
    return pos, (pd.concat(rows, ignore_index=True) if rows else pd.DataFrame())


def load_books(session: Session, day: pd.Timestamp, ids: Sequence[int]) -> dict[int, Book]:
    """The opened ``day``'s book of each instance in ``ids``."""
    day = day_of(day)
    cash = dict(session.execute(select(PreviewAccount.preview_id, PreviewAccount.cash).where(
        PreviewAccount.trading_day == day.date(), PreviewAccount.preview_id.in_(list(ids)))).all())
    pos = pd.DataFrame(session.execute(
        select(PreviewPosition.preview_id, PreviewPosition.symbol, PreviewPosition.volume, PreviewPosition.sellable,
               PreviewPosition.avg_cost, PreviewPosition.last_price, PreviewPosition.opened, PreviewPosition.dividend)
        .where(PreviewPosition.trading_day == day.date(), PreviewPosition.preview_id.in_(list(ids))))
        .all(), columns=["preview_id", "symbol", "volume", "sellable", "avg_cost", "last_price", "opened", "dividend"])
    books = {}
    for i in ids:
        rows = pos[pos["preview_id"] == i].sort_values("symbol")
        books[i] = Book(pd.Index(rows["symbol"], name="symbol"), rows["volume"].to_numpy(float),
                        rows["sellable"].to_numpy(float), rows["avg_cost"].to_numpy(float),
                        rows["last_price"].to_numpy(float), float(cash[i]),
                        pd.to_datetime(rows["opened"]).to_numpy("datetime64[D]"), rows["dividend"].to_numpy(float))
    return books


def save_book(session: Session, preview_id: int, day: pd.Timestamp, book: Book, fees: float,
              quote_time: datetime | None) -> None:
    """Replace the day's positions of one instance with ``book`` (names sold out disappear) and its cash,
    market value and total value (fees accumulate over the day's slots)."""
    day = day_of(day)
    session.execute(delete(PreviewPosition).where(PreviewPosition.preview_id == preview_id,
                                                  PreviewPosition.trading_day == day.date()))
    held = book.volume > 0
    value = book.volume * book.last_price
    if held.any():
        upsert(session, PreviewPosition, pd.DataFrame({
            "preview_id": preview_id, "trading_day": day.date(), "symbol": book.symbols[held],
            "volume": book.volume[held], "avg_cost": book.avg_cost[held], "last_price": book.last_price[held],
            "market_value": value[held], "sellable": book.sellable[held], "quote_time": quote_time,
            "opened": pd.to_datetime(book.opened[held]).date, "dividend": book.dividend[held],
        }))
    market_value = float(np.nansum(value[held]))
    account = session.scalars(select(PreviewAccount).where(PreviewAccount.preview_id == preview_id,
                                                           PreviewAccount.trading_day == day.date())).one()
    account.cash = book.cash
    account.market_value = market_value
    account.total_value = book.cash + market_value
    account.fees = account.fees + fees
