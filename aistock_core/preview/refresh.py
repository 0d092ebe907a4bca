"""One refresh of every running instance: one batched quote request, bulk marks, the day's total values.

Concurrency: on PostgreSQL the refresh takes a transaction-scoped advisory lock and *skips* when another refresh
(or a settlement) holds it, so an overrunning refresh makes the next slot skip instead of piling up; on SQLite
the whole refresh is one write transaction, which the database serialises. Marks are absolute prices, so even a
repeated refresh of the same slot cannot apply anything twice.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import pandas as pd

from aistock_core.data.service import DataService
from aistock_core.db import Database
from aistock_core.errors import PreviewError
from aistock_core.preview.book import day_of, open_day, running_ids, try_advisory_lock
from aistock_core.preview.marks import MARK_LOCK, count_positions, held_symbols, mark_positions, roll_up_accounts


@dataclass
class RefreshResult:
    """``instances`` refreshed, ``positions`` marked, ``quotes`` received, ``stale`` positions without a quote,
    ``seconds`` taken; ``skipped`` when another refresh held the lock."""

    instances: int
    positions: int
    quotes: int
    stale: int
    seconds: float
    skipped: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def shanghai_naive(at) -> pd.Timestamp:
    stamp = pd.Timestamp(at)
    return stamp.tz_convert("Asia/Shanghai").tz_localize(None) if stamp.tzinfo is not None else stamp


def refresh(db: Database, service: DataService, at) -> RefreshResult:
    """Mark every running instance at the live prices of ``at`` (naive = Shanghai time)."""
    started = time.perf_counter()
    at = shanghai_naive(at)
    day = day_of(at)
    if not service.calendar.is_session(day):
        raise PreviewError(f"{day:%Y-%m-%d} is not an XSHG session; there is nothing to refresh")
    with db.session() as session:
        if not try_advisory_lock(session, MARK_LOCK):
            return RefreshResult(0, 0, 0, 0, time.perf_counter() - started, skipped=True)
        ids = running_ids(session)
        open_day(session, service, day, ids)
        symbols = held_symbols(session, day)
        quotes = service.get_realtime_snapshot(symbols, at=at)["close"] if symbols else pd.Series(dtype=float)
        prices = quotes.reindex(symbols).astype(float)
        _, stale = mark_positions(session, day, prices, at.to_pydatetime())
        roll_up_accounts(session, day, at.to_pydatetime())
        positions = count_positions(session, day)
    return RefreshResult(len(ids), positions, int(prices.notna().sum()), stale, time.perf_counter() - started)
