"""An instance's account over a period, from the tables: closing values, trades, orders, fills.

Preview: the settled ``preview_account.total_value`` of each session; trades are the filled ``preview_trade``
buys and sells. Paper/live: the close value of a session is rebuilt from the broker's opening snapshot of that
session plus the session's fills, marked at the raw close (the books the reconciliation already checks); orders
and fills come from the execution tables. ``base_value`` is the value at the close before the period (the
initial capital when the instance has no earlier day), so the first session has a return too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from aistock_core.data.service import DataService
from aistock_core.db import Database
from aistock_core.db.models.execution import AccountSnapshotRow, TradeFill, TradeIntent, TradeOrder
from aistock_core.db.models.preview import PreviewAccount, PreviewTrade
from aistock_core.errors import InstanceError
from aistock_core.feedback.periods import Period
from aistock_core.instances import Instance

TRADE_COLUMNS = ["day", "symbol", "side", "volume", "price", "amount", "fee"]
ORDER_COLUMNS = ["intent_key", "day", "slot", "symbol", "side", "volume", "price", "state", "filled_volume"]
FILL_COLUMNS = ["intent_key", "day", "slot", "symbol", "side", "volume", "price", "fee", "traded_at", "decision"]


@dataclass(frozen=True)
class AccountHistory:
    """What the period figures (`figures.performance`, `figures.execution`) and the optimizer read of an account:
    one loader for the daily evaluation, LiveFeedback and proposals, so they never disagree on a value."""

    value: pd.Series  # close value by session of the period (sessions with an account row only)
    base_value: float
    trades: pd.DataFrame  # TRADE_COLUMNS, filled buys and sells of the period
    orders: pd.DataFrame  # ORDER_COLUMNS (empty for previews)
    fills: pd.DataFrame  # FILL_COLUMNS (empty for previews)


def _frame(rows, columns) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=columns)
    if "day" in frame:
        frame["day"] = pd.to_datetime(frame["day"])
    return frame


def load_history(db: Database, service: DataService, instance: Instance, period: Period) -> AccountHistory:
    """The account of ``instance`` over ``period``; a period without any settled day is an `InstanceError` (a
    `SignalError` for the daily evaluation, a `FeedbackError` for LiveFeedback: both skip such an instance)."""
    history = _preview(db, instance, period) if instance.is_preview else _trading(db, service, instance, period)
    if history.value.empty:
        raise InstanceError(f"instance {instance.id} has no settled account day in {period.start:%Y-%m-%d}.."
                            f"{period.end:%Y-%m-%d}; settle or trade those sessions first")
    return history


def preview_values(db: Database, ids: list[int], first, last) -> tuple[pd.DataFrame, pd.Series]:
    """Settled close values of preview instances ``ids``: (sessions ``first..last`` × id, the last value before
    ``first`` by id), in two queries whatever the number of instances."""
    with db.session() as s:
        rows = s.execute(select(PreviewAccount.trading_day, PreviewAccount.preview_id, PreviewAccount.total_value)
                         .where(PreviewAccount.preview_id.in_(ids), PreviewAccount.settled,
                                PreviewAccount.trading_day >= first, PreviewAccount.trading_day <= last)).all()
        latest = select(PreviewAccount.preview_id, func.max(PreviewAccount.trading_day).label("day")).where(
            PreviewAccount.preview_id.in_(ids), PreviewAccount.settled, PreviewAccount.trading_day < first) \
            .group_by(PreviewAccount.preview_id).subquery()
        before = s.execute(select(PreviewAccount.preview_id, PreviewAccount.total_value).join(
            latest, (PreviewAccount.preview_id == latest.c.preview_id) & (PreviewAccount.trading_day == latest.c.day))
        ).all()
    frame = pd.DataFrame(rows, columns=["day", "id", "value"])
    wide = frame.assign(day=pd.to_datetime(frame["day"])).pivot(index="day", columns="id", values="value") \
        .reindex(columns=ids).sort_index().astype(float)
    return wide, pd.Series(dict(before), dtype=float).reindex(ids)


def _preview(db: Database, instance: Instance, period: Period) -> AccountHistory:
    pid, first, last = instance.row_id, period.start.date(), period.end.date()
    wide, before = preview_values(db, [pid], first, last)
    with db.session() as s:
        trades = s.execute(select(PreviewTrade.trading_day, PreviewTrade.symbol, PreviewTrade.side,
                                  PreviewTrade.volume, PreviewTrade.price, PreviewTrade.amount, PreviewTrade.fee)
                           .where(PreviewTrade.preview_id == pid, PreviewTrade.status == "filled",
                                  PreviewTrade.side.in_(["buy", "sell"]), PreviewTrade.trading_day >= first,
                                  PreviewTrade.trading_day <= last)).all()
    base = before.iloc[0]
    return AccountHistory(wide[pid].dropna().rename(None), instance.capital if pd.isna(base) else float(base),
                          _frame(trades, TRADE_COLUMNS), _frame([], ORDER_COLUMNS), _frame([], FILL_COLUMNS))


def _trading(db: Database, service: DataService, instance: Instance, period: Period) -> AccountHistory:
    name, last = instance.name, period.end.date()
    with db.session() as s:
        snaps = s.execute(select(AccountSnapshotRow.trading_day, AccountSnapshotRow.cash,
                                 AccountSnapshotRow.positions).where(
            AccountSnapshotRow.instance == name, AccountSnapshotRow.kind == "open",
            AccountSnapshotRow.trading_day <= last).order_by(AccountSnapshotRow.trading_day)).all()
        fills = s.execute(select(TradeFill.intent_key, TradeFill.trading_day, TradeIntent.slot, TradeFill.symbol,
                                 TradeFill.side, TradeFill.volume, TradeFill.price, TradeFill.fee,
                                 TradeFill.traded_at, TradeIntent.price)
                          .join(TradeIntent, TradeIntent.intent_key == TradeFill.intent_key, isouter=True)
                          .where(TradeFill.instance == name, TradeFill.trading_day <= last)).all()
        orders = s.execute(select(TradeIntent.intent_key, TradeIntent.trading_day, TradeIntent.slot,
                                  TradeIntent.symbol, TradeIntent.side, TradeIntent.volume, TradeIntent.price,
                                  TradeOrder.state, TradeOrder.filled_volume)
                           .join(TradeOrder, TradeOrder.intent_key == TradeIntent.intent_key)
                           .where(TradeIntent.instance == name, TradeIntent.trading_day >= period.start.date(),
                                  TradeIntent.trading_day <= last)).all()
    fills = _frame(fills, FILL_COLUMNS)
    closes = _close_values(service, snaps, fills)
    in_period = closes[(closes.index >= period.start) & (closes.index <= period.end)]
    earlier = closes[closes.index < period.start]
    fills = fills[fills["day"] >= period.start].reset_index(drop=True)
    trades = fills.assign(amount=fills["volume"] * fills["price"])[TRADE_COLUMNS]
    return AccountHistory(in_period, float(earlier.iloc[-1]) if len(earlier) else instance.capital, trades,
                          _frame(orders, ORDER_COLUMNS), fills)


def _close_values(service: DataService, snaps, fills: pd.DataFrame) -> pd.Series:
    """Close value of each session with an opening snapshot: snapshot cash and holdings, plus the session's fills,
    holdings marked at the session's raw close (last known close for a suspended name)."""
    if not snaps:
        return pd.Series(dtype=float)
    days = pd.DatetimeIndex([pd.Timestamp(d) for d, _, _ in snaps])
    symbols = sorted({s for _, _, pos in snaps for s in pos} | set(fills["symbol"]))
    close = pd.DataFrame(index=days, columns=symbols, dtype=float)
    if symbols:
        panel = service.get_panel(symbols, start=days[0] - pd.Timedelta(days=30), end=days[-1], fields=["close"],
                                  adjust=None)
        close = pd.DataFrame(panel["close"], index=panel.dates, columns=panel.instruments).ffill() \
            .reindex(days).reindex(columns=symbols)
    sign = np.where(fills["side"] == "buy", 1.0, -1.0)
    flows = fills.assign(cash=-sign * fills["volume"] * fills["price"] - fills["fee"], shares=sign * fills["volume"])
    cash_flow = flows.groupby("day")["cash"].sum()
    share_flow = flows.pivot_table(index="day", columns="symbol", values="shares", aggfunc="sum")
    values = {}
    for (_, cash, positions), stamp in zip(snaps, days, strict=True):
        held = pd.Series({s: float(v[0]) for s, v in positions.items()}, dtype=float).reindex(symbols, fill_value=0)
        if stamp in share_flow.index:
            held = held.add(share_flow.loc[stamp].reindex(symbols).fillna(0.0))
        marks = close.loc[stamp].fillna(pd.Series({s: float(v[2]) for s, v in positions.items()}, dtype=float))
        values[stamp] = float(cash) + float(cash_flow.get(stamp, 0.0)) + float((held * marks.fillna(0.0)).sum())
    return pd.Series(values, dtype=float)
