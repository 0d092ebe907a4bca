"""Pre-trade risk: one policy per instance (a YAML/JSON file), one verdict per order, and the trading state.

Rules (vn.py's risk manager and the issue's list): trading state (REDUCING denies orders that add exposure,
HALTED denies everything; cancels never pass through here), max daily loss (breaching it halts), stop loss,
blacklist and ST filter, lot validity (`aistock_core.trading.rules`), price band (never outside the day's exact
limit prices), max order value and volume, T+1 sellable volume, order rate (per minute), cancel rate, active-order
count, and for buys cash, max single-position ratio, minimum cash reserve and total exposure. The first failing
rule names the verdict; every verdict, allowed or denied, is returned for the store to record. A denial is ours
(``denied``), never the broker's ``rejected``.

Stop loss (``stop_loss_ratio``, off by default): a held name whose last price is more than the ratio below its
average cost is *stopped* — the order run turns its target to zero (a forced sell of what T+1 lets it sell,
reason ``stop loss``) and this engine denies every buy of it for the rest of the day; sells still pass.

Cancel rate (``max_cancel_ratio``): over the last ``cancel_window_s`` seconds, cancels requested ÷ orders sent
above the ratio (once at least ``cancel_min_orders`` orders were sent in the window) denies new orders — the
exchanges flag accounts that place and cancel too often; cancels themselves always pass, they reduce risk.
"""

from __future__ import annotations

import json
from bisect import bisect_right, insort
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aistock_core.errors import ConfigError
from aistock_core.execution.domain import AccountSnapshot, PlannedOrder
from aistock_core.trading.fees import AshareFees
from aistock_core.trading.prices import to_cents
from aistock_core.trading.rules import lot_rule, round_buy_shares, round_sell_shares


class TradingState(StrEnum):
    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


class RiskPolicy(BaseModel):
    """Limits of one instance; every field has the house default, unknown keys are an error (typos)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_position_ratio: float = Field(0.3, gt=0, le=1, description="Max value of one name / equity after a buy.")
    max_daily_loss_ratio: float = Field(0.05, gt=0, le=1, description="Loss vs the day's opening equity that halts.")
    min_cash_reserve_ratio: float = Field(0.0, ge=0, lt=1, description="Cash / equity that a buy must leave.")
    max_total_exposure: float = Field(1.0, gt=0, le=1, description="Max positions value / equity after a buy.")
    max_order_value: float = Field(2_000_000.0, gt=0, description="Yuan per order.")
    max_order_volume: int = Field(1_000_000, gt=0, description="Shares per order.")
    max_orders_per_minute: int = Field(1_000, gt=0, description="Order rate over any 60 s.")
    max_active_orders: int = Field(500, gt=0, description="Orders open at the broker at once.")
    max_cancel_ratio: float = Field(0.5, gt=0, le=1, description="Cancels / orders sent in the window.")
    cancel_window_s: int = Field(300, gt=0, description="Window of the cancel rate, seconds.")
    cancel_min_orders: int = Field(10, ge=1, description="Orders in the window before the cancel rate applies.")
    stop_loss_ratio: float | None = Field(None, gt=0, lt=1, description="Loss vs average cost that forces a sell.")
    blacklist: tuple[str, ...] = Field((), description="Codes never traded (sells of a held name still pass).")
    deny_st_buys: bool = Field(True, description="Refuse buys of ST / *ST names.")


def load_policy(path: Path | str) -> RiskPolicy:
    """A policy from a ``.yaml``/``.yml``/``.json`` file; a malformed one is a `ConfigError` naming the file."""
    path = Path(path)
    try:
        text = path.read_text()
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read risk policy {path}: {exc}; give a YAML or JSON mapping of limits") from exc
    return policy_from_mapping(raw or {}, where=str(path))


def policy_from_mapping(raw: object, *, where: str = "policy") -> RiskPolicy:
    if not isinstance(raw, dict):
        raise ConfigError(f"risk policy {where} must be a mapping of limits, got {type(raw).__name__}")
    try:
        return RiskPolicy.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"malformed risk policy {where}: {problems}; fix the file") from None


@dataclass(frozen=True)
class Verdict:
    intent_key: str
    symbol: str
    side: str
    allowed: bool
    rule: str
    message: str


@dataclass
class RiskContext:
    """What the rules need to know, updated as orders in a batch are allowed.

    ``day_open_equity``: equity at the day's first reconciliation (the daily-loss base); ``prices`` marks
    positions; ``st``: symbols flagged ST today; ``sent_at``/``canceled_at``: sorted times of the orders sent and
    the cancels asked for earlier today (the rate limits' windows); ``stopped``: names past the stop loss.
    """

    state: TradingState
    account: AccountSnapshot
    prices: dict[str, float]
    day_open_equity: float
    day: pd.Timestamp
    active_orders: int = 0
    st: frozenset[str] = frozenset()
    sent_at: list[pd.Timestamp] = field(default_factory=list)  # tz-aware, any order
    canceled_at: list[pd.Timestamp] = field(default_factory=list)
    stopped: frozenset[str] = frozenset()
    fees: AshareFees = field(default_factory=AshareFees)

    def __post_init__(self) -> None:
        self.cash = self.account.cash
        self.volume = {s: p.volume for s, p in self.account.positions.items()}
        self.sellable = {s: p.sellable for s, p in self.account.positions.items()}
        #: Equity at the batch's marks: the base of every ratio in the batch (orders do not change it but by fees).
        self.equity = self.account.equity(self.prices)
        #: Positions value at the marks, updated as orders are allowed (at their limit prices).
        self.exposure = self.equity - self.account.cash
        #: The rate windows' times as sorted integer nanoseconds (allowed orders are added as they pass).
        self.sent_ns = sorted(pd.Timestamp(t).value for t in self.sent_at)
        self.canceled_ns = sorted(pd.Timestamp(t).value for t in self.canceled_at)


class RiskEngine:
    """Checks orders against one `RiskPolicy`; ``state`` moves to HALTED when the daily loss is breached."""

    def __init__(self, policy: RiskPolicy) -> None:
        self.policy = policy

    def daily_loss_breached(self, ctx: RiskContext) -> bool:
        base = ctx.day_open_equity
        return base > 0 and (ctx.equity - base) / base <= -self.policy.max_daily_loss_ratio

    def stopped_out(self, account: AccountSnapshot, prices: dict[str, float]) -> dict[str, str]:
        """Held names past the stop loss → why (empty when the policy has none)."""
        ratio = self.policy.stop_loss_ratio
        if ratio is None:
            return {}
        return {s: f"stop loss: last {prices[s]:.2f} is more than {ratio:.0%} below the average cost {p.avg_price:.2f}"
                for s, p in account.positions.items()
                if p.volume > 0 and p.avg_price > 0 and s in prices and prices[s] < p.avg_price * (1 - ratio)}

    def check_batch(self, orders: list[PlannedOrder], ctx: RiskContext, now: pd.Timestamp) -> list[Verdict]:
        """One verdict per order, in order; allowed orders update ``ctx`` (cash, positions, counts, rate)."""
        if ctx.state is not TradingState.HALTED and self.daily_loss_breached(ctx):
            ctx.state = TradingState.HALTED
        ctx.stopped = ctx.stopped | frozenset(self.stopped_out(ctx.account, ctx.prices))
        return [self.check(order, ctx, now) for order in orders]

    def check(self, order: PlannedOrder, ctx: RiskContext, now: pd.Timestamp) -> Verdict:
        failure = self._first_failure(order, ctx, now)
        if failure is not None:
            return Verdict(order.intent_key, order.symbol, order.side, False, *failure)
        self._apply(order, ctx, now)
        return Verdict(order.intent_key, order.symbol, order.side, True, "passed", "all rules passed")

    def _first_failure(self, o: PlannedOrder, ctx: RiskContext, now: pd.Timestamp) -> tuple[str, str] | None:
        pol, buy = self.policy, o.side == "buy"
        if ctx.state is TradingState.HALTED:
            return "trading_state", "trading is HALTED: only cancels pass until resume"
        if ctx.state is TradingState.REDUCING and buy:
            return "trading_state", "trading is REDUCING: orders that add exposure are denied"
        if buy and o.symbol in ctx.stopped:
            return "stop_loss", f"{o.symbol} is past its stop loss today: only sells of it pass"
        if buy and o.symbol in pol.blacklist:
            return "blacklist", f"{o.symbol} is blacklisted"
        if buy and pol.deny_st_buys and o.symbol in ctx.st:
            return "st_filter", f"{o.symbol} is ST; buys of ST names are denied"
        if o.volume <= 0 or not self._lot_ok(o, ctx):
            return "lot", f"{o.volume} shares is not a valid {o.side} lot for {o.symbol}"
        if not (to_cents(o.limit_down) <= to_cents(o.price) <= to_cents(o.limit_up)):
            return "price_band", f"price {o.price:.2f} outside today's band [{o.limit_down:.2f}, {o.limit_up:.2f}]"
        if o.value > pol.max_order_value:
            return "max_order_value", f"order value {o.value:,.0f} > {pol.max_order_value:,.0f}"
        if o.volume > pol.max_order_volume:
            return "max_order_volume", f"order volume {o.volume} > {pol.max_order_volume}"
        if not buy and o.volume > ctx.sellable.get(o.symbol, 0):
            return "sellable", f"sell {o.volume} > sellable {ctx.sellable.get(o.symbol, 0)} (T+1)"
        ns = now.value  # integer nanoseconds: the window arithmetic runs once per order
        recent = _since(ctx.sent_ns, ns - 60 * _NS)
        if recent >= pol.max_orders_per_minute:
            return "order_rate", f"{recent} orders in the last minute (limit {pol.max_orders_per_minute})"
        start = ns - pol.cancel_window_s * _NS
        sent, canceled = _since(ctx.sent_ns, start), _since(ctx.canceled_ns, start)
        if sent >= pol.cancel_min_orders and canceled / sent > pol.max_cancel_ratio:
            return "cancel_rate", (f"{canceled} cancels / {sent} orders in the last {pol.cancel_window_s} s above "
                                   f"{pol.max_cancel_ratio:.0%}")
        if ctx.active_orders >= pol.max_active_orders:
            return "active_orders", f"{ctx.active_orders} orders active (limit {pol.max_active_orders})"
        if buy:
            return self._buy_failure(o, ctx)
        return None

    def _buy_failure(self, o: PlannedOrder, ctx: RiskContext) -> tuple[str, str] | None:
        pol = self.policy
        equity = ctx.equity
        cost = o.value + ctx.fees.order_cost(o.value, ctx.day, sell=False)
        if cost > ctx.cash + 1e-6:
            return "cash", f"order costs {cost:,.2f} > cash {ctx.cash:,.2f}"
        position = (ctx.volume.get(o.symbol, 0) + o.volume) * o.price
        if equity <= 0 or position / equity > pol.max_position_ratio + 1e-12:
            return "max_position_ratio", (f"{o.symbol} would be {position / max(equity, 1e-9):.1%} of equity "
                                          f"(limit {pol.max_position_ratio:.0%})")
        if (ctx.cash - cost) / equity < pol.min_cash_reserve_ratio - 1e-12:
            return "cash_reserve", f"cash after the buy below {pol.min_cash_reserve_ratio:.1%} of equity"
        if (ctx.exposure + o.value) / equity > pol.max_total_exposure + 1e-12:
            return "total_exposure", f"exposure after the buy above {pol.max_total_exposure:.0%} of equity"
        return None

    @staticmethod
    def _lot_ok(o: PlannedOrder, ctx: RiskContext) -> bool:
        min_lot, step = (np.array([float(x)]) for x in lot_rule(o.symbol))
        vol = np.array([float(o.volume)])
        if o.side == "buy":
            return float(round_buy_shares(vol, min_lot, step)[0]) == o.volume
        held = np.array([float(ctx.volume.get(o.symbol, 0))])
        return float(round_sell_shares(vol, held, step)[0]) == o.volume

    @staticmethod
    def _apply(o: PlannedOrder, ctx: RiskContext, now: pd.Timestamp) -> None:
        sell = o.side == "sell"
        fee = ctx.fees.order_cost(o.value, ctx.day, sell=sell)
        ctx.cash += o.value - fee if sell else -(o.value + fee)
        ctx.volume[o.symbol] = ctx.volume.get(o.symbol, 0) + (-o.volume if sell else o.volume)
        ctx.exposure += -o.value if sell else o.value
        if sell:
            ctx.sellable[o.symbol] = ctx.sellable.get(o.symbol, 0) - o.volume
        ctx.active_orders += 1
        insort(ctx.sent_ns, now.value)


_NS = 1_000_000_000


def _since(times: list[int], start: int) -> int:
    """How many of the sorted ``times`` lie after ``start``."""
    return len(times) - bisect_right(times, start)
