"""`SignalStore`: signals and their transitions, written transactionally and repeatably.

New signals are inserted with state ``generated`` (an existing key is left alone, so generating a day twice
changes nothing); a lifecycle step is applied only along the state machine and recorded with its cause, once
per (signal, state), so re-deriving a day's outcomes re-applies nothing. A step that the machine refuses (an
outcome that contradicts what was recorded) is returned to the caller, never forced.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from aistock_core.db import Database
from aistock_core.db.models.signals import SignalTransition, TradingSignal
from aistock_core.db.upsert import upsert
from aistock_core.signals.lifecycle import SignalState, can_transition

#: Columns a generator provides for a new signal (besides the key columns and the state).
SIGNAL_FIELDS = ("signal_type", "source", "strength", "confidence", "expected_return", "risk_score",
                 "suggested_quantity", "suggested_price", "stop_loss", "take_profit")
#: Columns an outcome or an evaluation fills in later.
OUTCOME_FIELDS = ("order_id", "decision_price", "executed_quantity", "executed_price", "execution_slippage_bps",
                  "fill_seconds", "fees", "actual_return", "pnl", "evaluation_score")


def signal_key(instance: str, day, slot: str, symbol: str, direction: str) -> str:
    """``instance|YYYYMMDD|HH:MM|symbol|direction``: what a signal is for, the same on every re-run."""
    return f"{instance}|{pd.Timestamp(day):%Y%m%d}|{slot}|{symbol}|{direction}"


@dataclass(frozen=True)
class Step:
    """Move signal ``key`` to ``state`` because of ``cause`` (a verdict, an order and its state, an expiry)."""

    key: str
    state: SignalState
    cause: str
    at: datetime


def _update_by_key(session: Session, rows: Sequence[dict]) -> None:
    """One executemany ``UPDATE … WHERE signal_key = :key`` per distinct column set (not a statement per row)."""
    table = TradingSignal.__table__
    groups: dict[tuple[str, ...], list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(k for k in row if k != "signal_key")), []).append(row)
    for columns, group in groups.items():
        if not columns:
            continue
        stmt = update(table).where(table.c.signal_key == bindparam("_key")).values(
            {c: bindparam(f"_{c}") for c in columns})
        session.execute(stmt, [{"_key": r["signal_key"], **{f"_{c}": r[c] for c in columns}} for r in group])


class SignalStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, rows: Sequence[dict], at: datetime, cause: str) -> int:
        """Insert the signals not stored yet (state ``generated``, with a transition saying ``cause``).

        ``rows``: dicts with ``instance, env, trading_day, slot, symbol, direction`` and `SIGNAL_FIELDS`.
        Returns the signals newly inserted."""
        if not rows:
            return 0
        keyed = [{**r, "signal_key": signal_key(r["instance"], r["trading_day"], r["slot"], r["symbol"],
                                                 r["direction"]), "state": str(SignalState.GENERATED)} for r in rows]
        with self.db.session() as s:
            known = set(s.scalars(select(TradingSignal.signal_key).where(
                TradingSignal.signal_key.in_([r["signal_key"] for r in keyed]))))
            new = [r for r in keyed if r["signal_key"] not in known]
            upsert(s, TradingSignal, new, update=())
            upsert(s, SignalTransition, [{"signal_key": r["signal_key"], "from_state": None,
                                          "to_state": str(SignalState.GENERATED), "cause": cause, "at": at}
                                         for r in new], update=())
        return len(new)

    def advance(self, steps: Iterable[Step]) -> tuple[int, list[Step]]:
        """Apply ``steps`` in order in one transaction; returns (moves made, steps refused by the machine).

        A step to a state the signal already passed through is a repeat (nothing happens, not refused); a step
        for an unknown signal is refused."""
        steps = list(steps)
        if not steps:
            return 0, []
        keys = {st.key for st in steps}
        refused: list[Step] = []
        moved = 0
        with self.db.session() as s:
            state = dict(s.execute(select(TradingSignal.signal_key, TradingSignal.state)
                                   .where(TradingSignal.signal_key.in_(keys))).all())
            visited = set(s.execute(select(SignalTransition.signal_key, SignalTransition.to_state)
                                    .where(SignalTransition.signal_key.in_(keys))).all())
            rows = []
            for st in steps:
                if (st.key, str(st.state)) in visited:
                    continue
                current = SignalState(state[st.key]) if st.key in state else None
                if current is None or not can_transition(current, st.state):
                    refused.append(st)
                    continue
                rows.append({"signal_key": st.key, "from_state": str(current), "to_state": str(st.state),
                             "cause": st.cause, "at": st.at})
                state[st.key] = str(st.state)
                visited.add((st.key, str(st.state)))
                moved += 1
            upsert(s, SignalTransition, rows, update=())
            _update_by_key(s, [{"signal_key": k, "state": state[k]} for k in {r["signal_key"] for r in rows}])
        return moved, refused

    def set_fields(self, rows: Sequence[dict]) -> int:
        """Fill outcome / evaluation columns (`OUTCOME_FIELDS`) of existing signals, by ``signal_key``."""
        rows = [{k: v for k, v in r.items() if k in OUTCOME_FIELDS or k == "signal_key"} for r in rows]
        with self.db.session() as s:
            _update_by_key(s, rows)
        return len(rows)

    def frame(self, day=None, instance: str | None = None) -> pd.DataFrame:
        """The signals (of ``day`` / ``instance`` when given) as a frame, one row per signal, by id."""
        q = select(TradingSignal)
        if day is not None:
            q = q.where(TradingSignal.trading_day == pd.Timestamp(day).date())
        if instance is not None:
            q = q.where(TradingSignal.instance == instance)
        cols = [c.name for c in TradingSignal.__table__.columns]
        with self.db.session() as s:
            rows = s.execute(q.order_by(TradingSignal.id)).scalars().all()
            data = [{c: getattr(r, c) for c in cols} for r in rows]
        return pd.DataFrame(data, columns=cols)

    def transitions(self, keys: Sequence[str]) -> pd.DataFrame:
        cols = ["signal_key", "from_state", "to_state", "cause", "at"]
        with self.db.session() as s:
            rows = s.execute(select(*(getattr(SignalTransition, c) for c in cols))
                             .where(SignalTransition.signal_key.in_(list(keys)))
                             .order_by(SignalTransition.id)).all()
        return pd.DataFrame(rows, columns=cols)

    def state_counts(self, day) -> dict[str, dict[str, int]]:
        """instance → state → signals of ``day``."""
        with self.db.session() as s:
            rows = s.execute(select(TradingSignal.instance, TradingSignal.state, func.count())
                             .where(TradingSignal.trading_day == pd.Timestamp(day).date())
                             .group_by(TradingSignal.instance, TradingSignal.state)).all()
        out: dict[str, dict[str, int]] = {}
        for instance, state, n in rows:
            out.setdefault(instance, {})[state] = int(n)
        return out
