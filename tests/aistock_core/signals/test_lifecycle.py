"""The signal state machine, pair by pair against the design's list (written out here, not read from the code)."""

from __future__ import annotations

import itertools

import pytest

from aistock_core.errors import SignalError
from aistock_core.signals.lifecycle import TERMINAL, SignalState, can_transition, require_transition

#: The allowed moves as the issue states them: the happy path, rejection before execution, expiry of anything
#: not yet executed, cancellation of anything not yet executed, failure once an order exists.
ALLOWED = {
    ("generated", "validated"), ("validated", "queued"), ("queued", "executing"), ("executing", "executed"),
    ("generated", "rejected"), ("validated", "rejected"), ("queued", "rejected"),
    ("generated", "expired"), ("validated", "expired"), ("queued", "expired"), ("executing", "expired"),
    ("generated", "cancelled"), ("validated", "cancelled"), ("queued", "cancelled"), ("executing", "cancelled"),
    ("queued", "failed"), ("executing", "failed"),
}


@pytest.mark.parametrize(("src", "dst"), list(itertools.product([s.value for s in SignalState], repeat=2)))
def test_every_pair_is_allowed_exactly_when_the_design_says(src, dst):
    current, new = SignalState(src), SignalState(dst)
    assert can_transition(current, new) == ((src, dst) in ALLOWED)
    if (src, dst) in ALLOWED:
        assert require_transition(current, new, signal="k") is new
    else:
        with pytest.raises(SignalError, match=f"signal k: {src} → {dst} is not allowed"):
            require_transition(current, new, signal="k")


def test_terminal_states_are_the_outcomes():
    assert {s.value for s in TERMINAL} == {"executed", "rejected", "expired", "cancelled", "failed"}
