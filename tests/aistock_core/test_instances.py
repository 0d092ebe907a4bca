"""One id space over preview and trading instances: the canonical id, the older spelling and bare names resolve to
the same instance; what cannot be resolved is an error both the signals and the feedback box catch."""

from __future__ import annotations

from datetime import datetime

import pytest

from aistock_core.db import Database
from aistock_core.errors import FeedbackError, InstanceError, SignalError
from aistock_core.execution.instances import create_instance as create_trading
from aistock_core.execution.risk import RiskPolicy
from aistock_core.execution.store import ExecutionStore
from aistock_core.instances import canonical_id, list_instances, resolve_instance
from aistock_core.preview.instances import create_instance as create_preview
from aistock_core.preview.instances import stop_instance


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def made(db):
    """A running preview ``alpha``, a stopped preview ``old``, a trading instance also named ``alpha`` and a halted
    one named ``beta``."""
    alpha = create_preview(db, "alpha", 1e6)
    old = create_preview(db, "old", 5e5)
    stop_instance(db, old.id)
    store = ExecutionStore(db)
    create_trading(store, RiskPolicy(), name="alpha", capital=2e6)
    create_trading(store, RiskPolicy(), name="beta", capital=3e6)
    store.record_halt("beta", "test", datetime(2024, 4, 2, 10, 0), "kill switch")
    return alpha.id, old.id


def test_both_spellings_and_a_unique_name_resolve_to_the_same_instance(db, made):
    alpha, _ = made
    preview = resolve_instance(db, f"preview-{alpha}")
    assert preview.id == f"preview-{alpha}" and preview.is_preview and preview.row_id == alpha
    assert resolve_instance(db, f"preview:{alpha}") == preview
    trade = resolve_instance(db, "trade-beta")
    assert (trade.id, trade.env, trade.name, trade.capital) == ("trade-beta", "paper", "beta", 3e6)
    assert resolve_instance(db, "trade:beta") == trade == resolve_instance(db, " beta ")
    assert resolve_instance(db, "trade:alpha").capital == 2e6


def test_the_canonical_spelling_has_no_colon():
    assert canonical_id("preview:3") == canonical_id("preview-3") == "preview-3"
    assert canonical_id("trade:a.b-c") == "trade-a.b-c"
    assert canonical_id("alpha") == "alpha"


@pytest.mark.parametrize(("ref", "message"), [
    ("alpha", "instance name 'alpha' is ambiguous: preview-1, trade-alpha; pass the id"),
    ("trade-gamma", "unknown instance 'trade-gamma'; known instances: preview-1, preview-2, trade-alpha, trade-beta"),
    ("preview:99", "unknown instance 'preview:99'"),
])
def test_what_cannot_be_resolved_is_one_error_both_boxes_catch(db, made, ref, message):
    for caught in (InstanceError, SignalError, FeedbackError):
        with pytest.raises(caught, match=message.replace(".", r"\.")):
            resolve_instance(db, ref)


def test_listing_all_active_and_reporting(db, made):
    alpha, old = made
    everyone = [f"preview-{alpha}", f"preview-{old}", "trade-alpha", "trade-beta"]
    assert [i.id for i in list_instances(db)] == everyone
    assert [i.id for i in list_instances(db, "active")] == [f"preview-{alpha}", "trade-alpha"]
    # a halted trading instance still reports (its feedback says why it stopped); a stopped preview does not
    assert [i.id for i in list_instances(db, "reporting")] == [f"preview-{alpha}", "trade-alpha", "trade-beta"]
