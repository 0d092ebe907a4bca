"""NAV curves of preview instances against an index, and their KPIs.

NAV = settled ``total_value`` / initial capital per instance; the index (the SSE Composite ``000001.SH`` by
default) is its raw close normalised to 1.0 on the first day of the range. Series are aligned on the trading
calendar's sessions of the range (an instance that starts later is blank before its first settled day).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sqlalchemy import select

from aistock_core.data.service import DataService
from aistock_core.db import Database
from aistock_core.db.models.preview import PreviewAccount, PreviewStrategy
from aistock_core.errors import PreviewError
from aistock_core.preview.book import day_of

DEFAULT_BENCHMARK = "000001.SH"
#: Trading days per year for annualising (Qlib's N, DESIGN §8, so preview and backtest KPIs compare).
PERIODS_PER_YEAR = 238
KPI_COLUMNS = ("total_return", "annual_return", "volatility", "sharpe", "max_drawdown", "excess_return",
               "win_days", "days")


def nav_frame(db: Database, service: DataService, ids: Sequence[int], benchmark: str = DEFAULT_BENCHMARK,
              start=None, end=None) -> pd.DataFrame:
    """Sessions × (one column per instance, labelled ``id:name``, then the benchmark code)."""
    ids = [int(i) for i in ids]
    start, end = (None if d is None else day_of(d) for d in (start, end))
    if not ids:
        raise PreviewError("no preview ids given; pass --ids A,B,...")
    with db.session() as session:
        names = dict(session.execute(select(PreviewStrategy.id, PreviewStrategy.name)
                                     .where(PreviewStrategy.id.in_(ids))).all())
        unknown = [i for i in ids if i not in names]
        if unknown:
            raise PreviewError(f"no preview instance with id {', '.join(map(str, unknown))}; "
                               f"see `aistock preview list`")
        query = select(PreviewAccount.preview_id, PreviewAccount.trading_day, PreviewAccount.nav).where(
            PreviewAccount.preview_id.in_(ids), PreviewAccount.settled)
        if start is not None:
            query = query.where(PreviewAccount.trading_day >= pd.Timestamp(start).date())
        if end is not None:
            query = query.where(PreviewAccount.trading_day <= pd.Timestamp(end).date())
        rows = pd.DataFrame(session.execute(query).all(), columns=["preview_id", "trading_day", "nav"])
    if rows.empty:
        raise PreviewError(f"preview(s) {', '.join(map(str, ids))} have no settled day in the range; run "
                           f"`aistock preview settle --date D` first")
    rows["trading_day"] = pd.to_datetime(rows["trading_day"])
    wide = rows.pivot(index="trading_day", columns="preview_id", values="nav").astype(float)
    days = service.calendar.sessions_in_range(start or wide.index[0], end or wide.index[-1])
    wide = wide.reindex(index=days, columns=ids)
    wide.columns = [f"{i}:{names[i]}" for i in ids]
    index = service.get_panel([benchmark], start=days[0], end=days[-1], fields=["close"], adjust=None)
    close = pd.Series(index["close"][:, 0], index=index.dates).reindex(days).ffill()
    wide[benchmark] = close / close.dropna().iloc[0]
    wide.index.name = "trading_day"
    return wide


def kpis(nav: pd.DataFrame, benchmark: str = DEFAULT_BENCHMARK) -> pd.DataFrame:
    """One row per column of ``nav``: returns, volatility, Sharpe (risk-free 0), max drawdown, excess return over
    the benchmark's return on the same days, share of winning days."""
    out = {}
    for name in nav.columns:
        series = nav[name].dropna()
        if series.empty:
            continue
        base = 1.0 if name != benchmark else series.iloc[0]
        returns = series / series.shift(1, fill_value=base) - 1.0
        n = len(series)
        total = series.iloc[-1] / base - 1.0
        std = returns.std(ddof=1) if n > 1 else np.nan
        bench = nav[benchmark].reindex(series.index).dropna()
        bench_total = bench.iloc[-1] / bench.iloc[0] - 1.0 if len(bench) else np.nan
        out[name] = {
            "total_return": total,
            "annual_return": (1.0 + total) ** (PERIODS_PER_YEAR / n) - 1.0,
            "volatility": std * np.sqrt(PERIODS_PER_YEAR),
            "sharpe": returns.mean() / std * np.sqrt(PERIODS_PER_YEAR) if std and std > 0 else np.nan,
            "max_drawdown": float((series / np.maximum(series.cummax(), base) - 1.0).min()),
            "excess_return": total - bench_total,
            "win_days": float((returns > 0).mean()),
            "days": n,
        }
    return pd.DataFrame.from_dict(out, orient="index", columns=list(KPI_COLUMNS))
