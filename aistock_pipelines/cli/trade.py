"""``aistock trade``: trading instances from a terminal — create, approve, plan, run, status, reconcile, cancel,
halt, resume.

Everything defaults to the harmless path: ``plan`` and ``run`` without ``--submit`` plan and risk-check only
(nothing stored, nothing sent). ``run --submit`` sends through the instance's gateway after the guards of
`aistock_core.execution.instances` (a session day; for live also an authoritative day, AISTOCK_TRADING_MODE=live
and a recorded approval). Unresolved reconciliation mismatches block every run until ``reconcile --acknowledge
--by NAME --note TEXT`` records who accepted the broker's book. The paper broker's account is kept under
``AISTOCK_HOME/paper/`` between commands.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from aistock_core.calendar import exchange_today
from aistock_core.config import get_settings
from aistock_core.errors import ConfigError, GatewayError
from aistock_pipelines.cli.options import JsonOpt
from aistock_pipelines.cli.render import kv_table, make_console, print_frame

app = typer.Typer(help="Trading instances: plan, run, status, reconcile, halt, resume, approve.",
                  no_args_is_help=True)
instance_app = typer.Typer(help="Create trading instances.", no_args_is_help=True)
app.add_typer(instance_app, name="instance")

InstanceOpt = Annotated[str, typer.Option("--instance", help="Instance name.")]
DateOpt = Annotated[str | None, typer.Option("--date", help="Trading day (default: today, exchange time).")]
SlotOpt = Annotated[str, typer.Option("--slot", help="Slot time HH:MM (Asia/Shanghai).")]
OrderTypeOpt = Annotated[str, typer.Option("--order-type", help="limit | market (protected on STAR/ChiNext).")]
WeightsOpt = Annotated[Path | None, typer.Option("--weights", help="Target weights: CSV instrument,weight or JSON; "
                                                                   "default: the demo momentum targets.")]


class _Context:
    """Settings, the store, and (on demand) the data service of one command."""

    def __init__(self) -> None:
        from aistock_core.db import Database
        from aistock_core.execution.store import ExecutionStore

        self.settings = get_settings()
        self.store = ExecutionStore(Database(self.settings.sqlalchemy_url))
        self._data = None

    @property
    def data(self):
        if self._data is None:
            from aistock_core.data.factory import build_service

            self._data = build_service(self.settings)
        return self._data

    @property
    def home(self) -> Path:
        return self.settings.resolved_home

    def day(self, date: str | None) -> pd.Timestamp:
        try:
            return pd.Timestamp(date).normalize() if date else exchange_today()
        except ValueError as exc:
            raise ConfigError(f"--date {date!r} is not a date (YYYY-MM-DD)") from exc


def _emit(payload: dict[str, Any], as_json: bool, title: str, table: pd.DataFrame | None = None) -> None:
    if as_json:
        typer.echo(json.dumps(payload, default=str))
        return
    console = make_console()
    console.print(kv_table({k: v for k, v in payload.items() if not isinstance(v, list | dict)}, title=title))
    if table is not None and not table.empty:
        print_frame(table, console=console, index=False)


@instance_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Unique instance name.")],
    capital: Annotated[float, typer.Option("--capital", help="Capital allotted, yuan (> 0).")],
    mode: Annotated[str, typer.Option("--mode", help="paper | live")] = "paper",
    gateway: Annotated[str, typer.Option("--gateway", help="simulated | qmt")] = "simulated",
    account: Annotated[str | None, typer.Option("--account", help="Broker account id.")] = None,
    loop: Annotated[str | None, typer.Option("--loop", help="RD-Agent RUN/LOOP the targets come from.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Model NAME@alias.")] = None,
    frequency: Annotated[str, typer.Option("--frequency", help="daily | hourly slots.")] = "daily",
    policy: Annotated[Path | None, typer.Option("--policy", help="Risk policy YAML/JSON (default limits).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a trading instance and print its id."""
    from aistock_core.execution.instances import create_instance
    from aistock_core.execution.risk import RiskPolicy, load_policy

    ctx = _Context()
    limits = load_policy(policy) if policy else RiskPolicy()
    ident = create_instance(ctx.store, limits, name=name, capital=capital, mode=mode, gateway=gateway,
                            account_id=account, loop=loop, model=model, frequency=frequency)
    _emit({"id": ident, "name": name, "mode": mode, "gateway": gateway}, as_json, "instance created")


@app.command()
def approve(
    instance: InstanceOpt,
    by: Annotated[str, typer.Option("--by", help="Who approves live trading.")],
    note: Annotated[str | None, typer.Option("--note")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record an approval for live trading (who, when, under the instance's current limits)."""
    ctx = _Context()
    inst = ctx.store.instance(instance)
    at = datetime.now(UTC)
    ctx.store.record_approval(instance, by, at, inst.policy, note)
    _emit({"instance": instance, "approved_by": by, "approved_at": at.isoformat()}, as_json, "approval recorded")


def _targets(ctx: _Context, instance: str, day: pd.Timestamp, weights: Path | None) -> pd.Series:
    """``--weights`` if given, else the instance's own source (catalog loop/strategy, model), as the order jobs do."""
    from aistock_core.execution.targets import load_weights
    from aistock_core.strategy.sources import TargetSource, target_engine

    if weights is not None:
        return load_weights(weights)
    engine = target_engine(ctx.settings, ctx.data, ctx.store.db)
    return engine.weights(TargetSource.of(ctx.store.instance(instance)), day)


def _plan_params(order_type: str):
    from aistock_core.execution.planner import PlanParams

    return PlanParams(order_type=order_type)


def _prepare(ctx: _Context, instance: str, day: pd.Timestamp, slot: str, weights: Path | None, order_type: str):
    from aistock_core.execution.instances import instance_policy, open_gateway
    from aistock_core.execution.quotes import market_quotes
    from aistock_core.execution.risk import TradingState
    from aistock_core.execution.runner import OrderRunner
    from aistock_core.execution.session import slot_time

    inst = ctx.store.instance(instance)
    ctx.data.calendar.require_session(day)  # a plan for a closed day is no plan (`run --submit` refuses it too)
    targets = _targets(ctx, instance, day, weights)
    now = slot_time(day, slot)
    gateway = open_gateway(ctx.store, instance, ctx.data, ctx.home, day)
    universe = sorted(set(targets.index) | set(gateway.snapshot().positions))
    quotes = market_quotes(ctx.data, universe, now)
    runner = OrderRunner(ctx.store, gateway, instance, instance_policy(ctx.store, instance),
                         plan=_plan_params(order_type))
    return inst, targets, quotes, now, gateway, runner, TradingState(inst.trading_state)


@app.command()
def plan(instance: InstanceOpt, date: DateOpt = None, slot: SlotOpt = "09:35", weights: WeightsOpt = None,
         order_type: OrderTypeOpt = "limit", as_json: JsonOpt = False) -> None:
    """Orders the slot would send, each with its risk verdict; nothing is stored or sent."""
    ctx = _Context()
    day = ctx.day(date)
    params = _plan_params(order_type)  # a bad --order-type fails before the market is read
    _, targets, quotes, now, _, runner, state = _prepare(ctx, instance, day, slot, weights, params.order_type)
    prepared = runner.prepare(day, slot, targets, quotes, now, state, runner.opening_equity(day, quotes))
    verdicts = {v.intent_key: v for v in prepared.verdicts}
    rows = [{"intent_key": o.intent_key, "symbol": o.symbol, "side": o.side, "volume": o.volume, "price": o.price,
             "price_type": o.price_type, "allowed": verdicts[o.intent_key].allowed, "rule": verdicts[o.intent_key].rule,
             "reason": o.reason} for o in prepared.plan.orders]
    payload = {"instance": instance, "day": f"{day:%Y-%m-%d}", "slot": slot, "trading_state": str(prepared.state),
               "equity": round(prepared.equity, 2), "orders": rows,
               "skipped": [vars(s) for s in prepared.plan.skipped]}
    _emit(payload, as_json, "plan (nothing sent)", pd.DataFrame(rows))


@app.command()
def run(
    instance: InstanceOpt,
    date: DateOpt = None,
    slot: SlotOpt = "09:35",
    weights: WeightsOpt = None,
    submit: Annotated[bool, typer.Option("--submit", help="Send the orders (default: dry run).")] = False,
    wait: Annotated[int, typer.Option("--wait", help="Minutes of fills to wait for (paper broker).")] = 30,
    order_type: OrderTypeOpt = "limit",
    as_json: JsonOpt = False,
) -> None:
    """Run one slot: reconcile, plan, risk, persist, submit, wait for fills (bounded), reconcile."""
    if not submit:
        plan(instance, date, slot, weights, order_type, as_json)
        return
    from aistock_core.execution.instances import require_can_submit
    from aistock_core.execution.session import run_slot

    ctx = _Context()
    day = ctx.day(date)
    # every submission guard before the targets are computed (a closed or provisional day has none to compute)
    require_can_submit(ctx.store, instance, day, ctx.data.calendar, ctx.settings.trading_mode)
    params = _plan_params(order_type)
    result = run_slot(ctx.store, ctx.data, ctx.home, instance, day, slot, _targets(ctx, instance, day, weights),
                      trading_mode=ctx.settings.trading_mode, wait_minutes=wait, plan=params)
    if result.blocked:
        raise GatewayError(f"instance {instance!r} {day:%Y-%m-%d} {slot}: not trading, {result.blocked}")
    payload = result.as_dict()
    _emit(payload, as_json, f"run {instance} {day:%Y-%m-%d} {slot}", pd.DataFrame(payload["orders"]))


@app.command()
def status(instance: InstanceOpt, date: DateOpt = None, as_json: JsonOpt = False) -> None:
    """Every order of the day with its intent key, state, broker id and filled volume."""
    ctx = _Context()
    day = ctx.day(date)
    inst = ctx.store.instance(instance)
    orders = [o.as_dict() for o in ctx.store.orders(instance, day)]
    payload = {"instance": instance, "day": f"{day:%Y-%m-%d}", "mode": inst.mode,
               "trading_state": inst.trading_state, "orders": orders}
    _emit(payload, as_json, f"status {instance}", pd.DataFrame(orders))


@app.command("reconcile")
def reconcile_(
    instance: InstanceOpt,
    date: DateOpt = None,
    acknowledge: Annotated[bool, typer.Option(
        "--acknowledge", help="Accept the unresolved mismatches (the broker's book wins) so runs may go on.")] = False,
    by: Annotated[str | None, typer.Option("--by", help="Who acknowledges (recorded).")] = None,
    note: Annotated[str | None, typer.Option("--note", help="Why (recorded).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Local orders, fills and book vs the broker's (the broker wins); prints the mismatches. With
    ``--acknowledge --by NAME --note TEXT`` it also records that the unresolved ones are accepted."""
    from aistock_core.calendar import exchange_now
    from aistock_core.execution.instances import close_gateway, open_gateway
    from aistock_core.execution.reconcile import acknowledge as acknowledge_mismatches
    from aistock_core.execution.reconcile import reconcile

    if acknowledge and not (by and by.strip() and note and note.strip()):
        raise ConfigError("--acknowledge needs --by NAME and --note TEXT (who accepts the broker's book, and why)")
    ctx = _Context()
    day = ctx.day(date)
    ctx.store.instance(instance)
    gateway = open_gateway(ctx.store, instance, ctx.data, ctx.home, day)
    try:
        now = exchange_now()
        payload = reconcile(ctx.store, gateway, instance, day, now).as_dict()
        if acknowledge:
            ack = acknowledge_mismatches(ctx.store, gateway, instance, day, by=by, at=now.to_pydatetime(), note=note)
            payload["acknowledged"] = {"by": ack.acknowledged_by, "at": now.isoformat(), "note": ack.note,
                                       "mismatches": ack.mismatches}
    finally:
        close_gateway(gateway, ctx.home)
    payload["unresolved"] = len(ctx.store.unresolved_mismatches(instance))
    _emit(payload, as_json, f"reconcile {instance}", pd.DataFrame(payload["mismatches"]))


def _cancel_open(ctx: _Context, instance: str, day: pd.Timestamp) -> int:
    from aistock_core.calendar import exchange_now
    from aistock_core.execution.instances import close_gateway, instance_policy, open_gateway
    from aistock_core.execution.runner import OrderRunner

    gateway = open_gateway(ctx.store, instance, ctx.data, ctx.home, day)
    try:
        runner = OrderRunner(ctx.store, gateway, instance, instance_policy(ctx.store, instance))
        return runner.cancel_open(day, exchange_now().to_pydatetime())
    finally:
        close_gateway(gateway, ctx.home)


@app.command()
def cancel(instance: InstanceOpt, date: DateOpt = None, as_json: JsonOpt = False) -> None:
    """Cancel every open order of the day."""
    ctx = _Context()
    day = ctx.day(date)
    _emit({"instance": instance, "cancel_requests": _cancel_open(ctx, instance, day)}, as_json, "cancel")


@app.command()
def halt(
    instance: InstanceOpt,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")],
    by: Annotated[str, typer.Option("--by", help="Who halts (recorded).")] = "operator",
    date: DateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Kill switch: record the halt, block new orders, cancel the open ones."""
    ctx = _Context()
    ctx.store.instance(instance)
    ctx.store.record_halt(instance, by, datetime.now(UTC), reason)
    asked = _cancel_open(ctx, instance, ctx.day(date))
    _emit({"instance": instance, "trading_state": "halted", "reason": reason, "cancel_requests": asked}, as_json,
          "halted")


@app.command()
def resume(instance: InstanceOpt, by: Annotated[str, typer.Option("--by")] = "operator",
           as_json: JsonOpt = False) -> None:
    """Lift the kill switch (recorded)."""
    ctx = _Context()
    ctx.store.instance(instance)
    closed = ctx.store.record_resume(instance, by, datetime.now(UTC))
    _emit({"instance": instance, "trading_state": "active", "halts_closed": closed}, as_json, "resumed")
