"""A day of signals: generate them before the open (08:00), follow them through the day's orders, and close
their lifecycle after the session (18:00).

`generate_day` turns the day's target weights into signals for every active instance (their own holdings
decide the diff) and runs the pre-trade checks (validated or rejected). `sync_day` reads back what the preview
engine and the order runner did (`outcomes`) and moves each signal along the state machine with the order as
cause; with ``final`` it also expires what never became an order. Both are idempotent: signals are keyed by
what they are for and each state is recorded once per signal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import select

from aistock_core.calendar import exchange_now
from aistock_core.data.service import DataService
from aistock_core.db import Database
from aistock_core.db.models.research import ResearchLoopKpi
from aistock_core.instances import Instance, list_instances
from aistock_core.signals.books import book_before
from aistock_core.signals.generate import DEFAULT_IC, MarketView, generate, validation
from aistock_core.signals.lifecycle import SignalState
from aistock_core.signals.outcomes import Outcome, outcomes
from aistock_core.signals.store import SignalStore, Step, signal_key

S = SignalState
#: The slot the generator plans for: the preview engine's default decision time and the daily order slot.
DEFAULT_SLOT = "09:35"


@dataclass
class DaySummary:
    """What a generate or sync pass did: signals added, moves made, moves refused (with why)."""

    day: pd.Timestamp
    added: int = 0
    moved: int = 0
    refused: list[str] = field(default_factory=list)
    instances: int = 0

    def merge(self, added: int, moved: int, refused: list[Step]) -> None:
        self.added += added
        self.moved += moved
        self.refused += [f"{st.key} → {st.state}: {st.cause}" for st in refused]


def _now() -> pd.Timestamp:
    return exchange_now().tz_localize(None)


def loop_ic(db: Database, loop: str | None) -> float | None:
    """The information coefficient research measured for ``loop`` (``task_run_id/loop_id``), if synced."""
    if not loop or "/" not in loop:
        return None
    run_id, _, loop_id = loop.rpartition("/")
    if not loop_id.isdigit():
        return None
    with db.session() as s:
        values = s.scalars(select(ResearchLoopKpi.ic).where(
            ResearchLoopKpi.scope == "task_run", ResearchLoopKpi.run_id == run_id,
            ResearchLoopKpi.loop_id == int(loop_id), ResearchLoopKpi.ic.is_not(None))).all()
    return float(values[0]) if values else None


def generate_day(db: Database, service: DataService, day, targets: pd.Series, scores: pd.Series, *,
                 slot: str = DEFAULT_SLOT, source: str = "target_positions",
                 instances: list[Instance] | None = None) -> DaySummary:
    """Signals of every active instance for ``slot`` of ``day`` from ``targets`` (weight by symbol); each
    instance's expected returns use its research loop's IC (`loop_ic`), else `DEFAULT_IC`."""
    day = pd.Timestamp(day).normalize()
    store, at = SignalStore(db), _now().to_pydatetime()
    instances = list_instances(db, "active") if instances is None else instances
    summary = DaySummary(day, instances=len(instances))
    books = {i.id: book_before(db, i, day, service.calendar) for i in instances}
    # The whole scored cross-section: risk percentiles and return dispersion are cross-sectional figures.
    symbols = sorted(set(targets.index).union(scores.index, *(set(b[0].index) for b in books.values())))
    market = MarketView.load(service, symbols, service.calendar.previous(day))
    for inst in instances:
        held, cash = books[inst.id]
        ic = loop_ic(db, inst.loop) or DEFAULT_IC
        frame = generate(inst.id, inst.env, day, slot, targets, held, cash, scores, market, ic=ic, source=source)
        if frame.empty:
            continue
        added = store.add(frame.replace({np.nan: None}).to_dict("records"), at,
                          f"{source}: weight change for {day:%Y-%m-%d} against the holdings of the previous session")
        reasons = validation(frame, inst.active)
        steps = [Step(signal_key(inst.id, day, slot, r.symbol, r.direction),
                      S.REJECTED if why else S.VALIDATED,
                      f"pre-trade check: {why}" if why else
                      f"pre-trade checks passed: {r.suggested_quantity:g} shares @ {r.suggested_price:.2f}", at)
                 for r, why in zip(frame.itertuples(), reasons, strict=True)]
        summary.merge(added, *store.advance(steps))
    return summary


def _box(instance: Instance) -> str:
    return "preview engine" if instance.is_preview else f"{instance.env} order runner"


def _steps(key: str, o: Outcome, box: str, at) -> list[Step]:
    steps = [Step(key, S.VALIDATED, f"order formed by the {box} at {o.slot}", at),
             Step(key, S.QUEUED, f"order {o.order_id}: {o.quantity:g} @ {o.price:.2f}", at)]
    if o.at_venue:
        steps.append(Step(key, S.EXECUTING, f"order {o.order_id} at the venue", at))
    if o.state not in (S.QUEUED, S.EXECUTING):
        steps.append(Step(key, o.state, o.cause, at))
    return steps


def _fields(key: str, o: Outcome) -> dict:
    slippage = None
    if o.executed_price is not None and o.decision_price:
        sign = 1.0 if o.direction == "buy" else -1.0
        slippage = sign * (o.executed_price - o.decision_price) / o.decision_price * 1e4
    return {"signal_key": key, "order_id": o.order_id, "decision_price": o.decision_price,
            "executed_quantity": o.executed_quantity, "executed_price": o.executed_price,
            "execution_slippage_bps": slippage, "fill_seconds": o.fill_seconds, "fees": o.fees}


def sync_day(db: Database, service: DataService, day, *, final: bool) -> DaySummary:
    """Move the day's signals along with the day's orders; ``final`` (after the close) also expires signals
    that never became an order and orders left open."""
    day = pd.Timestamp(day).normalize()
    store, at = SignalStore(db), _now().to_pydatetime()
    instances = list_instances(db)
    summary = DaySummary(day, instances=len(instances))
    known = store.frame(day)
    for inst in instances:
        found = outcomes(db, service, inst, day, final)
        keys = [signal_key(inst.id, day, o.slot, o.symbol, o.direction) for o in found]
        mine = known[known["instance"] == inst.id] if not known.empty else known
        missing = [o for o, k in zip(found, keys, strict=True) if k not in set(mine.get("signal_key", []))]
        added = store.add([{"instance": inst.id, "env": inst.env, "trading_day": day.date(), "slot": o.slot,
                            "symbol": o.symbol, "direction": o.direction, "signal_type": "order",
                            "source": f"{_box(inst)} order", "suggested_quantity": o.quantity,
                            "suggested_price": o.price} for o in missing], at, f"order seen in the {_box(inst)}")
        steps = [st for o, k in zip(found, keys, strict=True) for st in _steps(k, o, _box(inst), at)]
        if final and not mine.empty:
            waiting = mine[mine["state"].isin([str(S.GENERATED), str(S.VALIDATED)])
                           & ~mine["signal_key"].isin(keys)]
            steps += [Step(k, S.EXPIRED, f"no order for slot {slot} by the close", at)
                      for k, slot in zip(waiting["signal_key"], waiting["slot"], strict=True)]
        summary.merge(added, *store.advance(steps))
        store.set_fields([_fields(k, o) for o, k in zip(found, keys, strict=True)])
    return summary
