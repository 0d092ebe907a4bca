"""Order jobs: ``paper_orders`` and ``live_orders`` run one slot of one instance (`run_slot`).

The op is a few lines over `aistock_core.execution.session`: staleness guard, targets (the instance's source
through `aistock_core.strategy.sources`, unless a weights file is given), run, metadata; a slot re-run after
the account has traded later days returns "already traded" (a paper account cannot go back, nothing is sent); a blocked
run (reconciliation mismatches) or a mismatch left at the end fails the run so the next slot's alert shows it.
``live_orders`` carries the ``aistock/live-orders`` tag (limit 1 in dagster.yaml) and its op the
``live_orders`` pool: never two live order runs at once, whoever launched them.
"""

from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
from sqlalchemy import func, select

from aistock_core.calendar import SESSION_TZ
from aistock_core.config import get_settings
from aistock_pipelines.defs.execution.resources import BrokerResource
from aistock_pipelines.resources import DatabaseResource, DataServiceResource, StoreResource

LIVE_TAG = "aistock/live-orders"
#: The daily decision slot (five minutes after the open, as preview's).
DAILY_SLOT = "09:35"


class SlotConfig(dg.Config):
    """One slot of one instance. ``now`` pins the clock (tests, drills); empty = the real time."""

    instance: str
    day: str
    slot: str
    weights_path: str | None = None
    wait_minutes: int = 30
    max_lag_minutes: int = 15
    now: str | None = None


def slot_run_config(op: str, instance: str, day: str, slot: str, now: str | None = None) -> dict:
    """Run config of one slot of one instance for the order op ``op`` (``now``: pin the clock, a replay)."""
    config = {"instance": instance, "day": day, "slot": slot, **({"now": now} if now else {})}
    return {"ops": {op: {"config": config}}}


def _last_traded_day(db, instance: str) -> date | None:
    from aistock_core.db.models.execution import TradeIntent

    with db.session() as s:
        return s.scalar(select(func.max(TradeIntent.trading_day)).where(TradeIntent.instance == instance))


def _order_slot(context: dg.OpExecutionContext, config: SlotConfig, data: DataServiceResource,
                database: DatabaseResource, store: StoreResource, broker: BrokerResource, mode: str) -> dict:
    from aistock_core.execution.intents import normalise_slot
    from aistock_core.execution.session import require_fresh, run_slot
    from aistock_core.execution.store import ExecutionStore
    from aistock_core.execution.targets import load_weights
    from aistock_core.strategy.sources import TargetSource, target_engine

    db = database.get_db()
    execution = ExecutionStore(db)
    inst = execution.instance(config.instance)
    if inst.mode != mode or inst.gateway != broker.kind:
        raise dg.Failure(f"instance {config.instance!r} is {inst.mode}/{inst.gateway}; this job runs "
                         f"{mode} orders on the {broker.kind} gateway")
    day = pd.Timestamp(config.day)
    now = pd.Timestamp(config.now, tz=SESSION_TZ) if config.now else pd.Timestamp.now(tz=SESSION_TZ)
    require_fresh(day, config.slot, now, config.max_lag_minutes)
    done = execution.orders(config.instance, day, normalise_slot(config.slot))
    if done and _last_traded_day(db, config.instance) > day.date():
        # The account has traded later days since: this slot is history, replaying it would send nothing new.
        context.log.info(f"{config.instance} {config.day} {config.slot}: already traded ({len(done)} orders)")
        context.add_output_metadata({"submitted": 0, "orders": len(done), "already_traded": True})
        return {"submitted": 0, "denied": 0, "filled_volume": 0.0, "already_traded": len(done)}
    service = data.get_service()
    weights = load_weights(Path(config.weights_path)) if config.weights_path else \
        target_engine(get_settings(), service, db, store.get_store()).weights(TargetSource.of(inst), day)
    result = run_slot(execution, service, broker.home_path(), config.instance, day, config.slot, weights,
                      trading_mode=broker.trading_mode(), wait_minutes=config.wait_minutes)
    summary = {k: v for k, v in result.as_dict().items() if k not in ("orders", "skipped")}
    context.add_output_metadata({"submitted": result.submitted, "orders": len(result.orders),
                                 "denied": summary["denied"], "filled_volume": summary["filled_volume"],
                                 "reconcile_end": dg.MetadataValue.json(summary["reconcile_end"] or {})})
    blocking = result.blocked or (result.end is not None and result.end.blocking)
    if blocking:
        raise dg.Failure(f"instance {config.instance!r} {config.day} {config.slot}: reconciliation mismatch; "
                         f"resolve it, or acknowledge it with `aistock trade reconcile --instance {config.instance} "
                         f"--acknowledge --by NAME --note TEXT`, before the next slot",
                         metadata={"result": dg.MetadataValue.json(summary)})
    return summary


@dg.op(name="paper_order_slot")
def paper_order_slot(context: dg.OpExecutionContext, config: SlotConfig, data: DataServiceResource,
                     database: DatabaseResource, store: StoreResource, broker: BrokerResource) -> dict:
    return _order_slot(context, config, data, database, store, broker, "paper")


@dg.op(name="live_order_slot", pool="live_orders")
def live_order_slot(context: dg.OpExecutionContext, config: SlotConfig, data: DataServiceResource,
                    database: DatabaseResource, broker: BrokerResource) -> dict:
    return _order_slot(context, config, data, database, broker, "live")


@dg.job(name="paper_orders", tags={"aistock/orders": "paper"},
        description="One slot of a paper instance: plan, risk, submit, bounded wait for fills, reconcile.")
def paper_orders() -> None:
    paper_order_slot()


@dg.job(name="live_orders", tags={"aistock/orders": "live", LIVE_TAG: "true"},
        description="One slot of a live instance (approval and AISTOCK_TRADING_MODE=live required); one at a time.")
def live_orders() -> None:
    live_order_slot()
