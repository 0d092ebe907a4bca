"""An instance's holdings and cash at the end of a session, read from the box that runs it.

Preview: the last ``preview_position`` / ``preview_account`` rows up to the session. Trading instances: the
day's opening snapshot plus the day's fills (the book reconciliation checks against the broker), carried over
sessions without a run. Before any of that: the instance's capital in cash, nothing held.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import func, select

from aistock_core.calendar import TradingCalendar
from aistock_core.db import Database
from aistock_core.db.models.execution import AccountSnapshotRow, TradeFill
from aistock_core.db.models.preview import PreviewAccount, PreviewPosition
from aistock_core.instances import Instance

Book = tuple[pd.Series, float]


def trade_books(db: Database, instance: Instance, calendar: TradingCalendar, end) -> dict[pd.Timestamp, Book]:
    """End-of-day book (shares by symbol, cash) of every session from the first opening snapshot to ``end``."""
    end = pd.Timestamp(end).normalize()
    with db.session() as s:
        snaps = {pd.Timestamp(r.trading_day): (r.cash, r.positions) for r in s.scalars(select(AccountSnapshotRow).where(
            AccountSnapshotRow.instance == instance.name, AccountSnapshotRow.kind == "open",
            AccountSnapshotRow.trading_day <= end.date()))}
        fills = pd.DataFrame(s.execute(select(TradeFill.trading_day, TradeFill.symbol, TradeFill.side,
                                              TradeFill.volume, TradeFill.price, TradeFill.fee).where(
            TradeFill.instance == instance.name, TradeFill.trading_day <= end.date())).all(),
            columns=["day", "symbol", "side", "volume", "price", "fee"])
    if not snaps:
        return {}
    fills["day"] = pd.to_datetime(fills["day"])
    fills["signed"] = fills["volume"].where(fills["side"] == "buy", -fills["volume"]).astype(float)
    fills["flow"] = fills["signed"] * fills["price"] + fills["fee"]
    shares = pd.pivot_table(fills, index="day", columns="symbol", values="signed", aggfunc="sum")
    flows = fills.groupby("day")["flow"].sum()
    books: dict[pd.Timestamp, Book] = {}
    held, cash = pd.Series(dtype=float), float("nan")
    for day in calendar.sessions_in_range(min(snaps), end):
        if day in snaps:
            cash = float(snaps[day][0])
            held = pd.Series({k: float(v[0]) for k, v in snaps[day][1].items()}, dtype=float)
        if day in shares.index:
            held = held.add(shares.loc[day].dropna(), fill_value=0.0)
        cash -= float(flows.get(day, 0.0))
        books[day] = (held[held != 0], cash)
    return books


def book_before(db: Database, instance: Instance, day: pd.Timestamp, calendar: TradingCalendar) -> Book:
    """(shares by symbol, cash) of ``instance`` at the end of the session before ``day``."""
    last = calendar.previous(day)
    if not instance.is_preview:
        return trade_books(db, instance, calendar, last).get(last, (pd.Series(dtype=float), instance.capital))
    pid = instance.row_id
    with db.session() as s:
        settled = s.scalar(select(func.max(PreviewAccount.trading_day)).where(
            PreviewAccount.preview_id == pid, PreviewAccount.trading_day <= last.date()))
        if settled is None:
            return pd.Series(dtype=float), instance.capital
        cash = s.scalar(select(PreviewAccount.cash).where(PreviewAccount.preview_id == pid,
                                                          PreviewAccount.trading_day == settled))
        rows = s.execute(select(PreviewPosition.symbol, PreviewPosition.volume).where(
            PreviewPosition.preview_id == pid, PreviewPosition.trading_day == settled)).all()
    return pd.Series(dict(rows), dtype=float), float(cash)
