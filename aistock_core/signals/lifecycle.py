"""The signal state machine: explicit states and the only moves allowed between them.

GENERATED → VALIDATED → QUEUED → EXECUTING → EXECUTED is the happy path. A signal can be REJECTED before it
becomes an order (validation, or our pre-trade risk: the verdict is the cause), EXPIRED when its slot passes
without an order, CANCELLED once queued or executing (the order was cancelled with nothing filled), or FAILED
when the venue refused the order or it never reached the broker. The terminal states have no way out: a signal
is judged once. Like the order state machine (`aistock_core.execution.states`), an illegal move is refused
rather than silently overwriting the state (`SignalStore.advance` returns it), because it means a stale or
misread outcome.
"""

from __future__ import annotations

from enum import StrEnum


class SignalState(StrEnum):
    GENERATED = "generated"
    VALIDATED = "validated"
    QUEUED = "queued"
    EXECUTING = "executing"
    EXECUTED = "executed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    FAILED = "failed"


S = SignalState
TRANSITIONS: dict[SignalState, frozenset[SignalState]] = {
    S.GENERATED: frozenset({S.VALIDATED, S.REJECTED, S.EXPIRED, S.CANCELLED}),
    S.VALIDATED: frozenset({S.QUEUED, S.REJECTED, S.EXPIRED, S.CANCELLED}),
    S.QUEUED: frozenset({S.EXECUTING, S.REJECTED, S.EXPIRED, S.CANCELLED, S.FAILED}),
    S.EXECUTING: frozenset({S.EXECUTED, S.CANCELLED, S.EXPIRED, S.FAILED}),
    S.EXECUTED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
    S.CANCELLED: frozenset(),
    S.FAILED: frozenset(),
}


def can_transition(current: SignalState, new: SignalState) -> bool:
    """Whether ``current → new`` is one of the allowed moves (staying put is not a move)."""
    return new in TRANSITIONS[current]
