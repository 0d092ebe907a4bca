"""The order state machine: explicit states, the allowed transitions, and the broker's status codes mapped onto it.

Why an explicit table (NautilusTrader's model, DESIGN §11): an order's state decides whether a re-run may send
it, whether a fill can still arrive and whether it counts as active for risk; a state reached by an illegal path
(a fill on an order we never submitted, a filled order "accepted" again by a late report) is a bug or a stale
report, and must be visible instead of silently overwriting the book. ``DENIED`` (our pre-trade risk said no,
nothing was sent) is a different state from ``REJECTED`` (the venue said no).
"""

from __future__ import annotations

from enum import StrEnum

from aistock_core.errors import GatewayError


class OrderState(StrEnum):
    INITIALIZED = "initialized"
    DENIED = "denied"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"


S = OrderState
#: Allowed transitions (NautilusTrader's order model). A canceled order can still receive a late fill, and a
#: partially filled order stays partially filled while more fills arrive.
TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    S.INITIALIZED: frozenset({S.DENIED, S.SUBMITTED}),
    S.SUBMITTED: frozenset({S.ACCEPTED, S.REJECTED, S.CANCELED, S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL}),
    S.ACCEPTED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELED, S.EXPIRED, S.REJECTED}),
    S.PENDING_CANCEL: frozenset({S.CANCELED, S.ACCEPTED, S.PARTIALLY_FILLED, S.FILLED}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELED, S.EXPIRED}),
    S.CANCELED: frozenset({S.PARTIALLY_FILLED, S.FILLED}),
    S.DENIED: frozenset(),
    S.FILLED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}
#: States in which the venue may still fill the order (counted by the active-order risk limit).
OPEN_STATES = frozenset({S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED, S.PENDING_CANCEL})
#: States after which nothing but a late fill of a canceled order can happen.
TERMINAL_STATES = frozenset({S.DENIED, S.FILLED, S.REJECTED, S.EXPIRED, S.CANCELED})

#: miniQMT ``XtOrder.order_status`` codes (xtconstant ORDER_*) → our state. 48 "unreported" and 49 "waiting to
#: report" are still on our side of the venue: the order was sent to the broker but not yet accepted.
QMT_STATUS: dict[int, OrderState] = {
    48: S.SUBMITTED,  # ORDER_UNREPORTED
    49: S.SUBMITTED,  # ORDER_WAIT_REPORTING
    50: S.ACCEPTED,  # ORDER_REPORTED
    51: S.PENDING_CANCEL,  # ORDER_REPORTED_CANCEL (reported, cancel pending)
    52: S.PENDING_CANCEL,  # ORDER_PARTSUCC_CANCEL (part filled, cancel pending)
    53: S.CANCELED,  # ORDER_PART_CANCEL (part filled, rest canceled)
    54: S.CANCELED,  # ORDER_CANCELED
    55: S.PARTIALLY_FILLED,  # ORDER_PART_SUCC
    56: S.FILLED,  # ORDER_SUCCEEDED
    57: S.REJECTED,  # ORDER_JUNK
    255: S.SUBMITTED,  # ORDER_UNKNOWN: nothing learned; keep what "sent" means
}


class IllegalTransition(GatewayError):
    """An order was asked to move along a path the state machine does not allow."""


def can_transition(current: OrderState, new: OrderState) -> bool:
    """Whether ``current → new`` is allowed (staying in the same state counts as allowed, a no-op)."""
    return new == current or new in TRANSITIONS[current]


def transition(current: OrderState, new: OrderState, *, order: str = "?") -> OrderState:
    """``new`` if the move is allowed, else `IllegalTransition` naming the order and both states."""
    if not can_transition(current, new):
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (terminal)"
        raise IllegalTransition(f"order {order}: {current} → {new} is not allowed (from {current}: {allowed})")
    return new


def from_qmt_status(code: int) -> OrderState:
    """Our state for a miniQMT status code; an unknown code is a `GatewayError` (the broker changed its API)."""
    try:
        return QMT_STATUS[int(code)]
    except KeyError:
        raise GatewayError(f"unknown miniQMT order_status {code}; expected one of {sorted(QMT_STATUS)}") from None
