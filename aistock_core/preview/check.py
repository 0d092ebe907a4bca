"""The reconciliation behind the settlement's blocking check: each instance's value recomputed from its
``preview_trade`` rows and the day's closes alone, compared with the settled ``preview_account`` to the cent.

The replay ignores positions and account rows entirely: shares are Σ buys − Σ sells + bonus shares per symbol,
cash is the initial capital − Σ (buy amount + fee) + Σ (sell amount − fee) + dividends − dividend tax.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import select

from aistock_core.data.service import DataService
from aistock_core.db import Database
from aistock_core.db.models.preview import PreviewAccount, PreviewStrategy, PreviewTrade
from aistock_core.preview.book import day_of
from aistock_core.preview.settle import closes_on

#: Agreement required between the settled and the recomputed value, in yuan.
CENT = 0.005
_SHARES = {"buy": 1.0, "sell": -1.0, "bonus": 1.0, "dividend": 0.0, "tax": 0.0}
_CASH = {"buy": -1.0, "sell": 1.0, "bonus": 0.0, "dividend": 1.0, "tax": -1.0}


def reconcile_values(db: Database, service: DataService, day, ids: list[int] | None = None) -> pd.DataFrame:
    """Per instance settled on ``day``: ``recorded`` and ``recomputed`` total value, ``diff`` and ``ok``."""
    day = day_of(day)
    with db.session() as session:
        query = select(PreviewAccount.preview_id, PreviewAccount.total_value, PreviewStrategy.initial_capital).join(
            PreviewStrategy, PreviewStrategy.id == PreviewAccount.preview_id).where(
            PreviewAccount.trading_day == day.date(), PreviewAccount.settled)
        if ids is not None:
            query = query.where(PreviewAccount.preview_id.in_(ids))
        accounts = pd.DataFrame(session.execute(query).all(), columns=["preview_id", "recorded", "capital"])
        trades = pd.DataFrame(session.execute(
            select(PreviewTrade.preview_id, PreviewTrade.symbol, PreviewTrade.side, PreviewTrade.volume,
                   PreviewTrade.amount, PreviewTrade.fee)
            .where(PreviewTrade.trading_day <= day.date(), PreviewTrade.status == "filled",
                   PreviewTrade.preview_id.in_(accounts["preview_id"].tolist()))).all(),
            columns=["preview_id", "symbol", "side", "volume", "amount", "fee"])
    accounts = accounts.set_index("preview_id")
    sign_shares = trades["side"].map(_SHARES).to_numpy(float)
    sign_cash = trades["side"].map(_CASH).to_numpy(float)
    trades = trades.assign(shares=trades["volume"] * sign_shares,
                           cash=trades["amount"] * sign_cash - np.where(trades["side"].isin(["buy", "sell"]),
                                                                        trades["fee"], 0.0))
    shares = trades.groupby(["preview_id", "symbol"])["shares"].sum()
    shares = shares[shares.abs() > 1e-9]
    closes = closes_on(service, sorted(shares.index.get_level_values("symbol").unique()), day)
    value = (shares * closes.reindex(shares.index.get_level_values("symbol")).to_numpy()).groupby(level=0).sum()
    cash = accounts["capital"] + trades.groupby("preview_id")["cash"].sum().reindex(accounts.index, fill_value=0)
    out = accounts[["recorded"]].assign(recomputed=cash + value.reindex(accounts.index, fill_value=0.0))
    out["diff"] = out["recorded"] - out["recomputed"]
    out["ok"] = out["diff"].abs() < CENT
    return out
