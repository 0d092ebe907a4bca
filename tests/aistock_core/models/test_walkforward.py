"""Walk-forward retraining: windows end before the retrain day minus the label horizon; no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aistock_core.data.service import DataService
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.errors import ModelError
from aistock_core.models.config import parse_workflow
from aistock_core.models.train import train
from aistock_core.models.walkforward import model_for, retrain, retrain_window, retrain_workflow
from tests.aistock_core.models.workflows import workflow

RETRAIN_DAY = pd.Timestamp("2020-11-02")


def test_window_arithmetic(market_service):
    sessions = market_service.resolve_dates()
    w = retrain_window(sessions, RETRAIN_DAY, train_sessions=100, valid_sessions=20)
    pos = sessions.get_loc(RETRAIN_DAY)
    assert w.data_end == sessions[pos - 1]
    assert w.valid[1] == sessions[pos - 3]  # its label reads closes up to data_end, no further
    assert sessions.get_loc(w.valid[1]) - sessions.get_loc(w.valid[0]) == 19
    assert sessions.get_loc(w.train[1]) == sessions.get_loc(w.valid[0]) - 1
    assert sessions.get_loc(w.train[1]) - sessions.get_loc(w.train[0]) == 99
    with pytest.raises(ModelError, match="needs 1023 sessions of history"):
        retrain_window(sessions, RETRAIN_DAY, train_sessions=1000, valid_sessions=20)


def test_no_look_ahead(market_service):
    """The same retrain on a market that ends the day before the retrain day gives the very same model.

    If training read any bar from the retrain day on, the full market's model would differ from the blind one.
    """
    window, full = retrain(market_service, workflow(), RETRAIN_DAY, train_sessions=150, valid_sessions=40)
    cut = DataService(SyntheticMarket(seed=5, n_instruments=25, start="2020-01-02", end=window.data_end))
    assert cut.resolve_dates()[-1] == window.data_end < RETRAIN_DAY
    blind = train(parse_workflow(retrain_workflow(workflow(), window)), cut)
    assert blind.data_fingerprint == full.data_fingerprint
    assert blind.model.booster.model_to_string() == full.model.booster.model_to_string()
    assert np.array_equal(blind.predictions["valid"].to_numpy(), full.predictions["valid"].to_numpy())


def test_model_for_picks_the_newest_usable(market_service):
    sessions = market_service.resolve_dates()
    windows = [retrain_window(sessions, d, train_sessions=60, valid_sessions=20)
               for d in (pd.Timestamp("2020-09-01"), pd.Timestamp("2020-10-09"), pd.Timestamp("2020-11-02"))]
    assert model_for("2020-10-30", windows).retrain_day == pd.Timestamp("2020-10-09")
    assert model_for("2020-11-02", windows).retrain_day == pd.Timestamp("2020-11-02")
    with pytest.raises(ModelError, match="no model was retrained"):
        model_for("2020-08-31", windows)
