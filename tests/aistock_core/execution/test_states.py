"""The order state machine: allowed paths, forbidden ones, and miniQMT's status codes."""

from __future__ import annotations

import pytest

from aistock_core.errors import GatewayError
from aistock_core.execution.states import (
    TERMINAL_STATES,
    TRANSITIONS,
    IllegalTransition,
    OrderState,
    can_transition,
    from_qmt_status,
    transition,
)

S = OrderState

#: NautilusTrader's model written out edge by edge (the independent reference for the table).
EXPECTED_EDGES = {
    ("initialized", "denied"), ("initialized", "submitted"),
    ("submitted", "accepted"), ("submitted", "rejected"), ("submitted", "canceled"),
    ("submitted", "partially_filled"), ("submitted", "filled"), ("submitted", "pending_cancel"),
    ("accepted", "partially_filled"), ("accepted", "filled"), ("accepted", "pending_cancel"),
    ("accepted", "canceled"), ("accepted", "expired"), ("accepted", "rejected"),
    ("pending_cancel", "canceled"), ("pending_cancel", "accepted"), ("pending_cancel", "partially_filled"),
    ("pending_cancel", "filled"),
    ("partially_filled", "partially_filled"), ("partially_filled", "filled"),
    ("partially_filled", "pending_cancel"), ("partially_filled", "canceled"), ("partially_filled", "expired"),
    ("canceled", "partially_filled"), ("canceled", "filled"),
}


def test_transition_table_is_exactly_the_model():
    edges = {(str(a), str(b)) for a, targets in TRANSITIONS.items() for b in targets}
    assert edges == EXPECTED_EDGES


@pytest.mark.parametrize("current", list(S))
@pytest.mark.parametrize("new", list(S))
def test_every_pair_is_allowed_or_raises(current, new):
    allowed = (str(current), str(new)) in EXPECTED_EDGES or current == new
    assert can_transition(current, new) is allowed
    if allowed:
        assert transition(current, new) is new
    else:
        with pytest.raises(IllegalTransition, match=f"{current} → {new}"):
            transition(current, new, order="k")


def test_denied_is_not_rejected_and_is_terminal():
    assert S.DENIED != S.REJECTED
    assert not can_transition(S.INITIALIZED, S.REJECTED)  # only the venue rejects, after submission
    assert not can_transition(S.DENIED, S.SUBMITTED)  # a denied order is never sent later
    assert S.DENIED in TERMINAL_STATES


def test_canceled_order_accepts_a_late_fill_but_filled_is_final():
    assert can_transition(S.CANCELED, S.FILLED)
    assert not can_transition(S.FILLED, S.CANCELED)
    assert not can_transition(S.FILLED, S.ACCEPTED)


@pytest.mark.parametrize("code, state", [
    (48, S.SUBMITTED), (49, S.SUBMITTED), (50, S.ACCEPTED), (51, S.PENDING_CANCEL), (52, S.PENDING_CANCEL),
    (53, S.CANCELED), (54, S.CANCELED), (55, S.PARTIALLY_FILLED), (56, S.FILLED), (57, S.REJECTED),
    (255, S.SUBMITTED),
])
def test_qmt_status_codes(code, state):
    assert from_qmt_status(code) is state


def test_unknown_qmt_status_is_an_error():
    with pytest.raises(GatewayError, match="unknown miniQMT order_status 58"):
        from_qmt_status(58)
