"""What happened to each signal, read back from the tables of the box that ran the instance.

Signals are not pushed by the preview engine or the order runner (both stay unaware of them); their outcome is
derived after the fact from what those boxes already persist, which is the record of truth either way:

- preview: each ``preview_trade`` row is an order of the slot — ``filled`` (queued, executing, executed at the
  decision-time quote: no slippage, no wait) or ``unfilled`` with the trading rule that refused it (rejected).
- paper / live: each intent with its order, risk verdict and fills — denied (rejected, the verdict is the
  cause), rejected by the venue or never sent (failed), cancelled with nothing filled, filled or partly filled
  (executed), still open or never sent after the close (expired, on the final pass).

An order with no matching signal (the run's targets differed from the generator's) gets a signal of its own
(source ``<box> order``), so every order of the day is a signal and preview and paper/live share one record.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import select

from aistock_core.data.service import DataService
from aistock_core.db import Database
from aistock_core.db.models.preview import PreviewTrade
from aistock_core.execution.states import OrderState
from aistock_core.execution.store import ExecutionStore
from aistock_core.instances import Instance
from aistock_core.signals.lifecycle import SignalState

S, OS = SignalState, OrderState


@dataclass
class Outcome:
    """One order of a slot as its signal sees it. ``state``: how far it got (``queued`` / ``executing`` while
    still open); ``at_venue``: it reached the market (or the virtual fill), so it passed ``executing``."""

    slot: str
    symbol: str
    direction: str
    order_id: str
    state: SignalState
    cause: str
    at_venue: bool
    quantity: float
    price: float
    executed_quantity: float = 0.0
    executed_price: float | None = None
    decision_price: float | None = None
    fees: float = 0.0
    fill_seconds: float | None = None


def slot_moment(day: pd.Timestamp, slot: str) -> pd.Timestamp:
    """Naive Shanghai time of ``slot`` (``HH:MM``) on ``day``."""
    return pd.Timestamp(day).normalize() + pd.Timedelta(hours=int(slot[:2]), minutes=int(slot[3:5]))


def preview_outcomes(db: Database, instance: Instance, day: pd.Timestamp) -> list[Outcome]:
    cols = [PreviewTrade.slot, PreviewTrade.symbol, PreviewTrade.side, PreviewTrade.status, PreviewTrade.reason,
            PreviewTrade.price, PreviewTrade.volume, PreviewTrade.fee, PreviewTrade.target_volume]
    with db.session() as s:
        rows = s.execute(select(*cols).where(PreviewTrade.preview_id == instance.row_id,
                                             PreviewTrade.trading_day == pd.Timestamp(day).date(),
                                             PreviewTrade.side.in_(("buy", "sell")))).all()
    out = []
    for slot, symbol, side, status, reason, price, volume, fee, target in rows:
        filled = status == "filled" and volume > 0
        order_id = f"{instance.id}|{pd.Timestamp(day):%Y%m%d}|{slot}|{symbol}|{side}"
        out.append(Outcome(slot, symbol, side, order_id, S.EXECUTED if filled else S.REJECTED,
                           f"virtual fill {volume:g} @ {price:.2f}" if filled else f"preview rules: {reason}",
                           filled, float(target if target is not None else volume), float(price),
                           float(volume) if filled else 0.0, float(price) if filled else None, float(price),
                           float(fee), 0.0 if filled else None))
    return out


def _order_state(state: OrderState, filled: int, final: bool) -> tuple[SignalState, bool]:
    """(signal state, reached the venue) of an order; ``final``: the session is over (open orders expired)."""
    if state is OS.DENIED:
        return S.REJECTED, False
    if state is OS.REJECTED:
        return S.FAILED, False
    if state is OS.INITIALIZED:
        return (S.EXPIRED if final else S.QUEUED), False
    if filled > 0 and (final or state in (OS.FILLED, OS.CANCELED, OS.EXPIRED)):
        return S.EXECUTED, True
    if state in (OS.CANCELED, OS.EXPIRED):
        return (S.CANCELLED if state is OS.CANCELED else S.EXPIRED), True
    return (S.EXPIRED if final else S.EXECUTING), True


def trade_outcomes(db: Database, service: DataService, instance: Instance, day: pd.Timestamp,
                   final: bool) -> list[Outcome]:
    store = ExecutionStore(db)
    orders = store.orders(instance.name, day)
    if not orders:
        return []
    verdicts = {e.intent_key: f"risk verdict {e.rule}: {e.message}" for e in store.events(instance.name, "verdict")}
    fills = pd.DataFrame([(f.intent_key, f.volume, f.price, f.fee, f.traded_at)
                          for f in store.fills(instance.name, day)],
                         columns=["intent_key", "volume", "price", "fee", "traded_at"])
    fills["value"] = fills["volume"] * fills["price"]
    fills["traded_at"] = pd.to_datetime(fills["traded_at"], format="ISO8601")
    if fills["traded_at"].dt.tz is not None:
        fills["traded_at"] = fills["traded_at"].dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
    per = fills.groupby("intent_key").agg(volume=("volume", "sum"), value=("value", "sum"), fee=("fee", "sum"),
                                          last=("traded_at", "max"))
    decision = _decision_prices(service, day, orders)
    out = []
    for o in orders:
        slot = f"{o.slot[:2]}:{o.slot[2:]}"
        state, at_venue = _order_state(o.state, o.filled_volume, final)
        got = per.loc[o.intent_key] if o.intent_key in per.index else None
        cause = {S.REJECTED: verdicts.get(o.intent_key, f"denied: {o.message}"),
                 S.FAILED: f"order {o.intent_key} failed: {o.message or 'rejected by the venue'}",
                 S.EXPIRED: f"order {o.intent_key} still {o.state} after the close"}.get(
            state, f"order {o.broker_order_id or o.intent_key} {o.state}, filled {o.filled_volume}/{o.volume}")
        executed = got is not None and got["volume"] > 0
        out.append(Outcome(
            slot, o.symbol, o.side, o.broker_order_id or o.intent_key, state, cause, at_venue, float(o.volume),
            float(o.price), float(got["volume"]) if executed else 0.0,
            float(got["value"] / got["volume"]) if executed else None, decision.get((o.slot, o.symbol)),
            float(got["fee"]) if executed else 0.0,
            float((got["last"] - slot_moment(day, slot)).total_seconds()) if executed else None))
    return out


def _decision_prices(service: DataService, day: pd.Timestamp, orders) -> dict[tuple[str, str], float]:
    """The last price of each order's symbol at its slot's time (what the planner decided on)."""
    out: dict[tuple[str, str], float] = {}
    for slot in sorted({o.slot for o in orders}):
        symbols = sorted({o.symbol for o in orders if o.slot == slot})
        snap = service.get_realtime_snapshot(symbols, at=slot_moment(day, f"{slot[:2]}:{slot[2:]}"))
        for symbol, price in snap["close"].items():
            if np.isfinite(price):
                out[(slot, symbol)] = float(price)
    return out


def outcomes(db: Database, service: DataService, instance: Instance, day: pd.Timestamp,
             final: bool) -> list[Outcome]:
    """The day's orders of ``instance`` with their outcome (``final``: after the close)."""
    if instance.is_preview:
        return preview_outcomes(db, instance, day)
    return trade_outcomes(db, service, instance, day, final)
