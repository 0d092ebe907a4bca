"""`TargetEngine`: an instance's source → target weights, shared per source and session, on a small synthetic market."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from aistock_core.data.service import DataService
from aistock_core.data.store import ParquetStore
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.db import Database
from aistock_core.db.models.research import ResearchLoop, ResearchStrategy
from aistock_core.errors import StrategyError
from aistock_core.strategy.sources import TargetEngine, TargetSource, model_name

BLOCK = {"class": "TopkDropoutStrategy", "kwargs": {"topk": 6, "n_drop": 2}}
SESSION = pd.Timestamp("2024-04-09")


@pytest.fixture(scope="module")
def service() -> DataService:
    market = SyntheticMarket(seed=3, n_instruments=30, start="2024-01-02", end="2024-04-30")
    return DataService(market, quotes=market)


@pytest.fixture
def store(tmp_path) -> ParquetStore:
    return ParquetStore(tmp_path / "store")


def _write_scores(store: ParquetStore, service: DataService, days: pd.DatetimeIndex, model: str) -> list[str]:
    """Scores that rank the stocks in a fixed order every day; returns that order (best first)."""
    names = sorted(service.instruments("all"))
    order = names[::-1]
    for day in days:
        frame = pd.DataFrame({"datetime": day, "instrument": order, "score": np.linspace(1.0, 0.0, len(order)),
                              "model": model, "version": "1"})
        store.write_partition("model_scores", day, frame)
    return order


def test_stored_model_scores_drive_the_strategy_block(service, store):
    """One stored day of scores: TopkDropout from empty buys the top k names, equally weighted (checked by hand)."""
    last = service.calendar.previous(SESSION)
    order = _write_scores(store, service, pd.DatetimeIndex([last]), "lgb")
    engine = TargetEngine(service, BLOCK, store=store)
    weights = engine.weights(TargetSource(model="lgb@champion"), SESSION)
    assert list(weights.sort_index().index) == sorted(order[:6])
    assert np.allclose(weights, weights.iloc[0], rtol=1e-3) and 0.9 < weights.sum() < 0.96
    wider = engine.weights(TargetSource(model="lgb@champion", params={"topk": 10}), SESSION)
    assert set(wider.index) == set(order[:10])


def test_instances_sharing_a_source_share_one_computation(service, store):
    engine = TargetEngine(service, BLOCK, store=store)
    a = engine.weights(TargetSource(params={"signal": "-($close/Ref($close,5)-1)"}), SESSION)
    b = engine.weights(TargetSource(params={"signal": "-($close/Ref($close,5)-1)"}), SESSION)
    assert a is b
    variant = engine.weights(TargetSource(params={"signal": "-($close/Ref($close,5)-1)", "topk": 4}), SESSION)
    assert len(variant) == 4 and len(engine._scores) == 1, "a top-k variant reuses the scores"


def test_scores_of_another_model_are_not_used(service, store):
    _write_scores(store, service, pd.DatetimeIndex([service.calendar.previous(SESSION)]), "other")
    engine = TargetEngine(service, BLOCK, store=store)
    with pytest.raises(StrategyError, match="no stored model_scores of lgb@champion"):
        engine.weights(TargetSource(model="lgb@champion"), SESSION)


@pytest.mark.parametrize("indexed", [False, True])
def test_a_plain_source_takes_the_stored_target_positions(service, store, indexed):
    last = service.calendar.previous(SESSION)
    frame = pd.DataFrame({"instrument": ["600000.SH", "600001.SH", "600002.SH"], "weight": [0.5, 0.45, 0.0],
                          "next_session": SESSION})
    store.write_partition("target_positions", last, frame.set_index("instrument") if indexed else frame)
    weights = TargetEngine(service, BLOCK, store=store).weights(TargetSource(), SESSION)
    assert weights.to_dict() == {"600000.SH": 0.5, "600001.SH": 0.45}


def test_no_strategy_anywhere_is_one_clear_error(service):
    with pytest.raises(StrategyError, match="names no strategy"):
        TargetEngine(service, None).weights(TargetSource(params={"topk": 5}), SESSION)


def _synced(**values):
    now = datetime(2024, 1, 1, tzinfo=UTC)
    return {"content_hash": "x", "first_seen_at": now, "synced_at": now, **values}


def test_a_catalog_loop_gives_its_strategy_block(service, db_url):
    db = Database(db_url)
    enhanced = {"class": "EnhancedTopkDropoutStrategy", "kwargs": {"signal": "<PRED>", "topk": 5, "n_drop": 1}}
    with db.session() as s:
        s.add(ResearchStrategy(**_synced(strategy_id="s1", payload={"portfolio_config": enhanced})))
        s.add(ResearchLoop(**_synced(task_run_id="run", loop_id=3, strategy_id="s1", payload={}, in_catalog=True,
                                    factor_names=[])))
    engine = TargetEngine(service, BLOCK, db=db)
    recipe = engine.recipe(TargetSource(loop="run/3", params={"n_drop": 2}))
    assert recipe.block == {"class": "EnhancedTopkDropoutStrategy",
                            "kwargs": {"signal": "<PRED>", "topk": 5, "n_drop": 2}}
    assert len(engine.weights(TargetSource(loop="run/3"), SESSION)) <= 5
    with pytest.raises(StrategyError, match="no catalog loop 'run/4'"):
        engine.recipe(TargetSource(loop="run/4"))
    db.dispose()


def test_model_name():
    assert [model_name(r) for r in ("lgb@champion", "lgb/3", "lgb")] == ["lgb", "lgb", "lgb"]
