"""Order planner: current holdings vs target shares → limit (or protected market) orders for one slot, sells
first, then buys.

* Prices: the latest price moved by ``price_offset_bps`` towards the other side (buys pay up, sells give way),
  on the tick, and clamped into the day's exact limit band (`aistock_core.execution.quotes`).
* Sells are planned first, limited to the T+1 sellable volume; the cash they free (after fees) funds the buys.
* Buys are sized by the cash available (after the reserve), fees included (`AshareFees.order_cost`: the 5-yuan
  minimum commission and the transfer fee), and rounded to the board's lots.
* A participation cap bounds each order to a share of the name's recent volume: a larger order is split into
  child orders of that size (each with its own intent key, the child index appended), up to ``max_children``.
* ``order_type="market"``: market orders; on boards that require it (STAR, ChiNext) each carries a protection
  price ``protection_bps`` beyond the last price (within the band), elsewhere it is priced at the band's edge
  (which is also what the buy's cash is reserved at).
* Suspended names, names sealed at the limit (no buy at the up limit, no sell at the down limit), names
  without a quote and orders that round to nothing are skipped with a reason instead of being sent to fail.
Every order carries its deterministic intent key (`aistock_core.execution.intents`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from aistock_core.codes import Board, board_of
from aistock_core.errors import ConfigError
from aistock_core.execution.domain import AccountSnapshot, PlannedOrder, Skipped
from aistock_core.execution.intents import intent_key, remark_of
from aistock_core.trading.fees import AshareFees
from aistock_core.trading.prices import at_or_beyond, to_cents
from aistock_core.trading.rules import lot_rule, round_buy_shares, round_sell_shares

#: Boards whose market orders must carry a protection price (STAR since 2019, ChiNext since 2020): the order
#: fills only at or inside it. Main-board market orders carry none; we send them priced at the band's edge.
PROTECTED_BOARDS = frozenset({Board.STAR, Board.CHINEXT})
ORDER_TYPES = ("limit", "market")


@dataclass(frozen=True)
class PlanParams:
    """``participation``: max share of ``recent_volume`` per order (None: no cap); a larger order is split into
    child orders of that size, at most ``max_children`` of them (the rest waits for a later slot);
    ``reserve_cash`` in yuan; ``order_type`` ``limit`` or ``market`` (protected by ``protection_bps`` from the
    last price where the board requires it)."""

    price_offset_bps: float = 20.0
    participation: float | None = 0.1
    reserve_cash: float = 0.0
    fees: AshareFees = field(default_factory=AshareFees)
    order_type: str = "limit"
    protection_bps: float = 100.0
    max_children: int = 5

    def __post_init__(self) -> None:
        if self.order_type not in ORDER_TYPES:
            raise ConfigError(f"order type {self.order_type!r} must be one of {ORDER_TYPES}")
        if self.max_children < 1:
            raise ConfigError(f"max_children must be at least 1, got {self.max_children}")


@dataclass
class Plan:
    orders: list[PlannedOrder]
    skipped: list[Skipped]

    @property
    def sells(self) -> list[PlannedOrder]:
        return [o for o in self.orders if o.side == "sell"]

    @property
    def buys(self) -> list[PlannedOrder]:
        return [o for o in self.orders if o.side == "buy"]


def limit_order_price(last: float, side: str, bps: float, up: float, down: float) -> float:
    """The order price: ``last`` moved ``bps`` towards the other side, rounded away from it to the tick, inside
    [down, up]."""
    cents = float(to_cents(last))
    moved = cents * (1 + bps / 1e4) if side == "buy" else cents * (1 - bps / 1e4)
    tick = np.ceil(moved - 1e-6) if side == "buy" else np.floor(moved + 1e-6)
    return float(min(max(tick / 100.0, down), up))


class _Planner:
    def __init__(self, instance: str, day: pd.Timestamp, slot: str, quotes: pd.DataFrame, params: PlanParams):
        self.instance, self.day, self.slot, self.params = instance, day, slot, params
        self.quotes: dict[str, dict] = quotes.to_dict("index")  # row lookups on a dict: 100x faster than .loc
        self.orders: list[PlannedOrder] = []
        self.skipped: list[Skipped] = []

    def skip(self, symbol: str, side: str, reason: str) -> None:
        self.skipped.append(Skipped(symbol, side, reason))

    def tradable(self, symbol: str, side: str) -> dict | None:
        """The name's quote row when it can trade on ``side`` now, else None (the skip is recorded)."""
        q = self.quotes.get(symbol)
        if q is None:
            self.skip(symbol, side, "no quote")
            return None
        if bool(q["suspended"]) or not np.isfinite(q["last"]):
            self.skip(symbol, side, "suspended")
            return None
        if side == "buy" and at_or_beyond(q["last"], q["limit_up"], upper=True):
            self.skip(symbol, side, "at limit up")
            return None
        if side == "sell" and at_or_beyond(q["last"], q["limit_down"], upper=False):
            self.skip(symbol, side, "at limit down")
            return None
        return q

    def child_size(self, symbol: str, volume: float, q: dict) -> tuple[int | None, str]:
        """(child size or None when the order needs no split, reason): past the participation cap the order is
        split into children of ``cap × recent volume`` shares (down to the step), at most ``max_children``."""
        cap, base = self.params.participation, q["recent_volume"]
        if cap is None or not np.isfinite(base) or volume <= cap * base:
            return None, "rebalance"
        step, most = lot_rule(symbol)[1], self.params.max_children
        size = int(np.floor(cap * base / step + 1e-9) * step)
        if volume >= size * most + step:
            return size, f"rebalance (split by participation cap, clipped at {most} children)"
        return size, "rebalance (split by participation cap)"

    def price(self, symbol: str, side: str, q: dict) -> float:
        """The limit price, or a market order's protection price (the band's edge where the board has none)."""
        up, down = float(q["limit_up"]), float(q["limit_down"])
        if self.params.order_type == "market" and board_of(symbol) not in PROTECTED_BOARDS:
            return up if side == "buy" else down
        bps = self.params.protection_bps if self.params.order_type == "market" else self.params.price_offset_bps
        return limit_order_price(q["last"], side, bps, up, down)

    def add(self, symbol: str, side: str, volumes: list[int], q: dict, reason: str) -> list[PlannedOrder]:
        """One order, or one child order per volume (each its own intent key) when ``volumes`` has several."""
        price = self.price(symbol, side, q)
        split = len(volumes) > 1
        out = []
        for i, volume in enumerate(volumes, start=1):
            key = intent_key(self.instance, self.day, self.slot, symbol, side, child=i if split else None)
            out.append(PlannedOrder(key, remark_of(key), symbol, side, int(volume), price, float(q["limit_up"]),
                                    float(q["limit_down"]), reason, self.params.order_type))
        self.orders.extend(out)
        return out


def plan_orders(
    instance: str,
    day: pd.Timestamp,
    slot: str,
    account: AccountSnapshot,
    targets: pd.Series,
    quotes: pd.DataFrame,
    params: PlanParams | None = None,
) -> Plan:
    """Orders that move ``account`` towards ``targets`` (shares per symbol; held names absent from it go to 0)."""
    params = params or PlanParams()
    day = pd.Timestamp(day).normalize()
    p = _Planner(instance, day, slot, quotes, params)
    symbols = sorted(set(targets.index) | set(account.positions))
    target = {s: int(v) for s, v in targets.reindex(symbols).fillna(0).items()}
    cash = account.cash - params.reserve_cash

    for symbol in symbols:  # sells first: they free the cash the buys use
        held, sellable = account.volume(symbol), account.sellable(symbol)
        want = held - target[symbol]
        if want <= 0:
            continue
        if sellable <= 0:
            p.skip(symbol, "sell", "T+1: nothing sellable today")
            continue
        q = p.tradable(symbol, "sell")
        if q is None:
            continue
        child, reason = p.child_size(symbol, min(want, sellable), q)
        step = float(lot_rule(symbol)[1])
        volume = float(round_sell_shares(np.array([min(want, sellable)]), np.array([float(held)]),
                                         np.array([step]))[0])
        volumes = [int(volume)] if child is None else _children(volume, child, step, step, params.max_children)
        if sum(volumes) <= 0:
            p.skip(symbol, "sell", "rounds to zero")
            continue
        for order in p.add(symbol, "sell", volumes, q, reason):
            cash += order.value - params.fees.order_cost(order.value, day, sell=True)

    buys = [(target[s] - account.volume(s), s) for s in symbols if target[s] > account.volume(s)]
    for _, symbol in sorted(buys, key=lambda b: (-b[0] * _last(p.quotes, b[1]), b[1])):
        want = target[symbol] - account.volume(symbol)
        q = p.tradable(symbol, "buy")
        if q is None:
            continue
        child, reason = p.child_size(symbol, want, q)
        price = p.price(symbol, "buy", q)
        min_lot, step = (float(x) for x in lot_rule(symbol))
        volumes = []
        for part in [want] if child is None else _children(want, child, min_lot, step, params.max_children):
            part = _affordable(symbol, part, price, cash, params.fees, day)
            if part <= 0:
                break
            volumes.append(part)
            cash -= part * price + params.fees.order_cost(part * price, day, sell=False)
        if not volumes:
            p.skip(symbol, "buy", "rounds to zero (lot, cash or participation cap)")
            continue
        p.add(symbol, "buy", volumes, q, reason)
    return Plan(p.orders, p.skipped)


def _children(volume: float, size: int, min_lot: float, step: float, most: int) -> list[int]:
    """``volume`` in children of ``size`` shares and a last one with the rest, at most ``most`` of them; a rest
    below the minimum lot, and an odd lot (it may only leave with the whole holding, later), stay unplaced."""
    if size < min_lot:
        return []
    full, rest = divmod(int(np.floor(volume / step + 1e-9) * step), size)
    if full >= most:
        return [size] * most
    return [size] * full + ([rest] if rest >= min_lot else [])


def _last(quotes: dict[str, dict], symbol: str) -> float:
    value = quotes.get(symbol, {}).get("last", np.nan)
    return float(value) if np.isfinite(value) else 0.0


def _affordable(symbol: str, volume: float, price: float, cash: float, fees: AshareFees, day: pd.Timestamp) -> int:
    """The largest buyable volume ≤ ``volume`` whose value plus fees fits in ``cash``."""
    min_lot, step = (float(x) for x in lot_rule(symbol))
    by_cash = max(cash, 0.0) / (price * (1 + fees.buy_rate()))
    shares = float(round_buy_shares(np.array([min(volume, by_cash)]), np.array([min_lot]), np.array([step]))[0])
    while shares > 0:
        value = shares * price
        if value + fees.order_cost(value, day, sell=False) <= cash + 1e-9:
            return int(shares)
        shares = float(round_buy_shares(np.array([shares - step]), np.array([min_lot]), np.array([step]))[0])
    return 0
