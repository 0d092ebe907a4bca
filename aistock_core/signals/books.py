"""An instance's holdings and cash before a session, read from the box that runs it.

Preview: the last settled-or-marked day's ``preview_position`` / ``preview_account`` rows before the session.
Trading instances: the last opening snapshot before the session plus that day's fills (the book that
reconciliation checks against the broker). Neither yet: the instance's capital in cash, nothing held.
"""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
from sqlalchemy import func, select

from aistock_core.db import Database
from aistock_core.db.models.execution import AccountSnapshotRow, TradeFill
from aistock_core.db.models.preview import PreviewAccount, PreviewPosition
from aistock_core.signals.instances import PREVIEW, LoopInstance


def book_before(db: Database, instance: LoopInstance, day: pd.Timestamp) -> tuple[pd.Series, float]:
    """(shares by symbol, cash) of ``instance`` at the end of its last day before ``day``."""
    d = pd.Timestamp(day).date()
    with db.session() as s:
        if instance.kind == PREVIEW:
            pid = int(instance.key)
            last = s.scalar(select(func.max(PreviewAccount.trading_day)).where(
                PreviewAccount.preview_id == pid, PreviewAccount.trading_day < d))
            if last is None:
                return pd.Series(dtype=float), instance.capital
            cash = s.scalar(select(PreviewAccount.cash).where(PreviewAccount.preview_id == pid,
                                                              PreviewAccount.trading_day == last))
            rows = s.execute(select(PreviewPosition.symbol, PreviewPosition.volume).where(
                PreviewPosition.preview_id == pid, PreviewPosition.trading_day == last)).all()
            return pd.Series(dict(rows), dtype=float), float(cash)
        snap = s.scalar(select(AccountSnapshotRow).where(
            AccountSnapshotRow.instance == instance.key, AccountSnapshotRow.kind == "open",
            AccountSnapshotRow.trading_day < d).order_by(AccountSnapshotRow.trading_day.desc()).limit(1))
        if snap is None:
            return pd.Series(dtype=float), instance.capital
        volume: dict[str, float] = defaultdict(float, {k: float(v[0]) for k, v in snap.positions.items()})
        cash = float(snap.cash)
        for side, symbol, vol, price, fee in s.execute(select(
                TradeFill.side, TradeFill.symbol, TradeFill.volume, TradeFill.price, TradeFill.fee).where(
                TradeFill.instance == instance.key, TradeFill.trading_day == snap.trading_day)).all():
            sign = 1 if side == "buy" else -1
            volume[symbol] += sign * vol
            cash -= sign * vol * price + fee
    return pd.Series(dict(volume), dtype=float), cash
