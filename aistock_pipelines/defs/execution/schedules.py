"""Order schedules: the daily slot 09:35 and the hourly slots 10:35, 11:35, 14:05, 15:05 (Asia/Shanghai).

One schedule per (slot, mode); each requests one run per instance of that mode whose frequency trades at the
slot (daily instances at 09:35 only, hourly ones at every slot), with a run key per instance, day and slot so a
re-evaluated tick never launches a slot twice. Non-trading days are skipped with a reason (DESIGN §5).
"""

import dagster as dg
import pandas as pd
from sqlalchemy import select

from aistock_core.calendar import SESSION_TZ
from aistock_core.db.models.execution import TradeInstance
from aistock_pipelines.defs.execution.jobs import DAILY_SLOT, live_orders, paper_orders, slot_run_config
from aistock_pipelines.partitions import KEY_FORMAT, partition_calendar

#: Slot → the instance frequencies that trade at it.
SLOTS = {DAILY_SLOT: ("daily", "hourly"), "10:35": ("hourly",), "11:35": ("hourly",), "14:05": ("hourly",),
         "15:05": ("hourly",)}


def _slot_schedule(slot: str, mode: str, job: dg.JobDefinition) -> dg.ScheduleDefinition:
    hour, minute = slot.split(":")

    @dg.schedule(name=f"{mode}_orders_{hour}{minute}", job=job, cron_schedule=f"{int(minute)} {int(hour)} * * 1-5",
                 execution_timezone=SESSION_TZ, required_resource_keys={"database"},
                 default_status=dg.DefaultScheduleStatus.STOPPED,
                 description=f"{slot} Shanghai on XSHG sessions: one {mode} order run per {mode} instance trading "
                             f"at this slot. Off by default: it sends orders.")
    def _schedule(context: dg.ScheduleEvaluationContext):
        when = context.scheduled_execution_time
        stamp = pd.Timestamp(when) if when is not None else pd.Timestamp.now(tz=SESSION_TZ)
        stamp = stamp.tz_convert(SESSION_TZ) if stamp.tzinfo is not None else stamp.tz_localize(SESSION_TZ)
        day = stamp.tz_localize(None).normalize()
        calendar = partition_calendar()
        if not calendar.is_session(day):
            return dg.SkipReason(f"{day:%Y-%m-%d} ({day:%A}) is not a trading day on {calendar.name}")
        with context.resources.database.get_db().session() as s:
            names = list(s.scalars(select(TradeInstance.name).where(
                TradeInstance.mode == mode, TradeInstance.frequency.in_(SLOTS[slot])).order_by(TradeInstance.name)))
        if not names:
            return dg.SkipReason(f"no {mode} instance trades at {slot}")
        key = day.strftime(KEY_FORMAT)
        op = f"{mode}_order_slot"
        return [dg.RunRequest(run_key=f"{name}:{key}:{slot}", tags={"aistock/instance": name,
                                                                      "aistock/trade_date": key},
                              run_config=slot_run_config(op, name, key, slot))
                for name in names]

    return _schedule


order_schedules = [_slot_schedule(slot, mode, job) for slot in SLOTS
                   for mode, job in (("paper", paper_orders), ("live", live_orders))]
