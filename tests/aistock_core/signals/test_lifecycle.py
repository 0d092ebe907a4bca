"""The signal state machine, pair by pair against the design's list (written out here, not read from the code),
and the store that applies it: illegal moves refused and not recorded, repeats ignored."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest

from aistock_core.signals.lifecycle import TRANSITIONS, SignalState, can_transition
from aistock_core.signals.store import SignalStore, Step, signal_key

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
    assert can_transition(SignalState(src), SignalState(dst)) == ((src, dst) in ALLOWED)


def test_the_outcomes_are_terminal():
    assert {s.value for s, out in TRANSITIONS.items() if not out} == {"executed", "rejected", "expired",
                                                                        "cancelled", "failed"}


def test_the_store_refuses_illegal_moves_and_ignores_repeats(db):
    store = SignalStore(db)
    at = datetime(2024, 4, 2, 8, 0)
    row = {"instance": "preview-1", "env": "preview", "trading_day": at.date(), "slot": "09:35", "symbol": "600000.SH",
           "direction": "buy", "signal_type": "entry", "source": "test"}
    assert store.add([row], at, "made by hand") == 1 and store.add([row], at, "again") == 0
    key = signal_key("preview-1", at, "09:35", "600000.SH", "buy")
    S = SignalState
    moved, refused = store.advance([Step(key, S.VALIDATED, "checks", at), Step(key, S.EXECUTED, "skips two", at),
                                    Step(key, S.QUEUED, "order 1", at), Step(key, S.VALIDATED, "repeat", at),
                                    Step("no|such|key", S.VALIDATED, "x", at)])
    assert moved == 2 and [(r.state, r.cause) for r in refused] == [(S.EXECUTED, "skips two"), (S.VALIDATED, "x")]
    moves = store.transitions([key])
    assert list(zip(moves["from_state"], moves["to_state"], moves["cause"], strict=True)) == [
        (None, "generated", "made by hand"), ("generated", "validated", "checks"), ("validated", "queued", "order 1")]
    assert store.frame()["state"].tolist() == ["queued"]

