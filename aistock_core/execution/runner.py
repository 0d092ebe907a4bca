"""One order run for one slot: reconcile → plan → risk → persist → submit → reconcile.

Why it cannot double-trade: the intents of a slot are persisted (with their verdicts) in one transaction before
anything is sent, an order is marked ``submitted`` before the gateway is called, and a re-run of the slot never
plans again once intents exist — it only submits orders still ``initialized`` (which were certainly never sent).
An order left ``submitted`` by a crash or a lost acknowledgement is settled by reconciliation through its
remark, never by sending it again.

A run trades only while the instance has no unresolved reconciliation mismatch (the start's own included):
an operator's acknowledgement (`aistock_core.execution.reconcile.acknowledge`) lets the next one go. Names past
the policy's stop loss get a target of zero before planning (a forced sell, reason ``stop loss: …``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

import pandas as pd

from aistock_core.errors import GatewayError
from aistock_core.execution.domain import BrokerOrder, BrokerTrade, Skipped
from aistock_core.execution.gateway import AckLost, Gateway, GatewayHandler, OrderNotSent, OrderRequest
from aistock_core.execution.intents import normalise_slot
from aistock_core.execution.planner import Plan, PlanParams, plan_orders
from aistock_core.execution.portfolio import PortfolioParams, target_shares
from aistock_core.execution.reconcile import ReconcileResult, reconcile
from aistock_core.execution.risk import RiskContext, RiskEngine, RiskPolicy, TradingState, Verdict
from aistock_core.execution.states import OrderState, from_qmt_status
from aistock_core.execution.store import ExecutionStore, OrderView, StateUpdate

#: Crash points the fault harness can stop a run at (a process killed there).
CRASH_POINTS = ("after_persist", "after_mark", "after_submit")


class StoreHandler(GatewayHandler):
    """Gateway reports → the store, buffered and written in one transaction per `flush` (miniQMT delivers
    callbacks on its own thread; the run flushes between steps). Order states move along the allowed transitions
    only; fills are deduplicated by trade id."""

    def __init__(self, store: ExecutionStore, instance: str, account_id: str, day: pd.Timestamp) -> None:
        self.store, self.instance, self.account_id, self.day = store, instance, account_id, day
        self.states: list[StateUpdate] = []
        self.trades: list[BrokerTrade] = []
        self.refresh()

    def refresh(self) -> None:
        self.remarks = self.store.remarks(self.instance, self.day)

    def on_order(self, order: BrokerOrder) -> None:
        key = self.remarks.get(order.remark)
        if key is not None:
            self.states.append(StateUpdate(key, from_qmt_status(order.status), order.broker_order_id,
                                           order.message or None))

    def on_trade(self, trade: BrokerTrade) -> None:
        self.trades.append(trade)

    def flush(self) -> None:
        states, trades, self.states, self.trades = self.states, self.trades, [], []
        self.store.set_states(states)
        self.store.add_fills(self.instance, self.account_id, self.day, trades, self.remarks)


@dataclass
class Prepared:
    """A slot's plan with its verdicts (what `aistock trade plan` shows; nothing persisted or sent)."""

    plan: Plan
    verdicts: list[Verdict]
    state: TradingState
    equity: float


@dataclass
class SlotResult:
    instance: str
    day: pd.Timestamp
    slot: str
    mode: str
    blocked: str | None = None
    planned_now: int = 0
    submitted: int = 0
    not_sent: int = 0
    ack_lost: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    start: ReconcileResult | None = None
    end: ReconcileResult | None = None
    orders: list[OrderView] = field(default_factory=list)

    def as_dict(self) -> dict:
        states = [o.state for o in self.orders]
        return {"instance": self.instance, "day": f"{self.day:%Y-%m-%d}", "slot": self.slot, "mode": self.mode,
                "blocked": self.blocked, "planned_now": self.planned_now, "submitted": self.submitted,
                "not_sent": self.not_sent, "ack_lost": self.ack_lost,
                "denied": sum(s is OrderState.DENIED for s in states),
                "filled_volume": sum(o.filled_volume for o in self.orders),
                "skipped": [vars(s) for s in self.skipped],
                "reconcile_start": self.start.as_dict() if self.start else None,
                "reconcile_end": self.end.as_dict() if self.end else None,
                "orders": [o.as_dict() for o in self.orders]}


class OrderRunner:
    """Runs slots of one instance against one gateway; ``crash`` (tests only) is called at each `CRASH_POINTS`."""

    def __init__(self, store: ExecutionStore, gateway: Gateway, instance: str, policy: RiskPolicy, *,
                 portfolio: PortfolioParams | None = None, plan: PlanParams | None = None,
                 crash: Callable[[str], None] | None = None) -> None:
        self.store, self.gateway, self.instance = store, gateway, instance
        self.risk = RiskEngine(policy)
        self.portfolio = portfolio or PortfolioParams(max_weight=policy.max_position_ratio)
        self.plan_params = plan or PlanParams()
        self.crash = crash or (lambda point: None)

    def prepare(self, day: pd.Timestamp, slot: str, weights: pd.Series, quotes: pd.DataFrame, now: pd.Timestamp,
                state: TradingState, day_open_equity: float | None = None) -> Prepared:
        """Plan the slot and run every order through risk (pure: nothing stored, nothing sent)."""
        account = self.gateway.snapshot()
        prices = quotes["last"].dropna().to_dict()
        equity = account.equity(prices)
        targets = target_shares(weights, account, quotes["last"], self.portfolio)
        stopped = self.risk.stopped_out(account, prices)
        targets.loc[list(stopped)] = 0  # the stop loss forces these out, whatever the strategy wants
        params = replace(self.plan_params, reserve_cash=self.portfolio.cash_reserve * equity)
        plan = plan_orders(self.instance, day, slot, account, targets, quotes, params)
        plan.orders = [replace(o, reason=stopped[o.symbol]) if o.symbol in stopped and o.side == "sell" else o
                       for o in plan.orders]
        sent_at, canceled_at = self.store.order_times(self.instance, day)
        ctx = RiskContext(state, account, prices, day_open_equity or equity, pd.Timestamp(day),
                          active_orders=self.store.active_order_count(self.instance, day),
                          st=frozenset(quotes.index[quotes["st"]]), sent_at=sent_at, canceled_at=canceled_at,
                          fees=self.plan_params.fees)
        verdicts = self.risk.check_batch(plan.orders, ctx, now)
        return Prepared(plan, verdicts, ctx.state, equity)

    def opening_equity(self, day: pd.Timestamp, quotes: pd.DataFrame) -> float | None:
        """The daily-loss base: the day's opening book at the reference closes (the day's P&L starts there);
        None before the day's first reconciliation."""
        opening = self.store.opening(self.instance, day)
        return opening.equity(quotes["prev_close"].dropna().to_dict()) if opening is not None else None

    def run(self, day: pd.Timestamp, slot: str, weights: pd.Series, quotes: pd.DataFrame, now: pd.Timestamp,
            *, mode: str) -> SlotResult:
        """Run the slot for real (``mode`` paper or live; the caller has checked approvals and the calendar)."""
        day, slot = pd.Timestamp(day).normalize(), normalise_slot(slot)
        result = SlotResult(self.instance, day, slot, mode)
        if isinstance(self.gateway.handler, StoreHandler):
            self.gateway.handler.flush()  # reports that arrived since the last run
        handler = StoreHandler(self.store, self.instance, self.gateway.account_id, day)
        self.gateway.set_handler(handler)
        if not self.gateway.connected:
            self.gateway.connect()
        result.start = reconcile(self.store, self.gateway, self.instance, day, now)
        unresolved = self.store.unresolved_mismatches(self.instance)
        if unresolved:
            result.blocked = (f"{len(unresolved)} unresolved reconciliation mismatch(es) "
                              f"({', '.join(sorted({e.rule for e in unresolved}))}); acknowledge with `aistock trade "
                              f"reconcile --instance {self.instance} --acknowledge --by NAME --note TEXT`")
            result.orders = self.store.orders(self.instance, day, slot)
            return result
        if not self.store.orders(self.instance, day, slot):
            inst = self.store.instance(self.instance)
            prepared = self.prepare(day, slot, weights, quotes, now, TradingState(inst.trading_state),
                                    self.opening_equity(day, quotes))
            if prepared.state is TradingState.HALTED and inst.trading_state != "halted":
                self.store.record_halt(self.instance, "risk engine", now.to_pydatetime(),
                                       f"daily loss above {self.risk.policy.max_daily_loss_ratio:.0%} of opening "
                                       f"equity")
            result.planned_now = self.store.persist_plan(self.instance, day, slot, prepared.plan.orders,
                                                         prepared.verdicts)
            result.skipped = prepared.plan.skipped
            handler.refresh()
            self.crash("after_persist")
        self._submit_initialized(day, slot, result, handler)
        handler.flush()
        result.end = reconcile(self.store, self.gateway, self.instance, day, now)
        result.orders = self.store.orders(self.instance, day, slot)
        return result

    def _submit_initialized(self, day: pd.Timestamp, slot: str, result: SlotResult, handler: StoreHandler) -> None:
        """Send the slot's ``initialized`` orders: all marked ``submitted`` first (one commit), then sent; what the
        sends returned is written in one more commit with the reports that arrived meanwhile."""
        pending = [o for o in self.store.orders(self.instance, day, slot) if o.state is OrderState.INITIALIZED]
        self.store.set_states([StateUpdate(o.intent_key, OrderState.SUBMITTED) for o in pending])
        self.crash("after_mark")
        outcome: list[StateUpdate] = []
        for order in pending:
            try:
                broker_id = self.gateway.submit(OrderRequest(order.symbol, order.side, order.volume, order.price,
                                                             order.remark, order.price_type))
            except OrderNotSent as exc:
                outcome.append(StateUpdate(order.intent_key, OrderState.REJECTED, message=f"not sent: {exc}"))
                result.not_sent += 1
                if not self.gateway.connected:
                    self._reconnect()
                continue
            except AckLost:
                result.ack_lost += 1
                continue
            self.crash("after_submit")
            outcome.append(StateUpdate(order.intent_key, OrderState.SUBMITTED, broker_order_id=broker_id))
            result.submitted += 1
        self.store.set_states(outcome)
        handler.flush()

    def _reconnect(self) -> None:
        try:
            self.gateway.connect()
        except GatewayError:
            return

    def cancel_open(self, day: pd.Timestamp, at: datetime) -> int:
        """Ask the broker to cancel every open order of ``day`` (the kill switch, `aistock trade cancel`); the
        accepted requests are recorded with their time ``at``. Returns how many."""
        asked = []
        for order in self.store.orders(self.instance, day):
            cancellable = order.state in (OrderState.SUBMITTED, OrderState.ACCEPTED, OrderState.PARTIALLY_FILLED)
            if cancellable and order.broker_order_id and self.gateway.cancel(order.broker_order_id) == 0:
                asked.append(order.intent_key)
        self.store.mark_cancel_requested(asked, at)
        return len(asked)
