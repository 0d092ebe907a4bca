"""The corporate-actions view: from a table (validated), or derived from the factor by the documented convention;
and the day's stored limits around the reference price on an ex-date."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aistock_core.data.bars import day_bars
from aistock_core.data.corporate_actions import actions_frame, read_actions_table
from aistock_core.data.service import DataService
from aistock_core.data.tabular import FrameProvider
from aistock_core.errors import DataError


def test_factor_view_reads_a_step_as_bonus_shares(frame_service, bars_frame):
    days = bars_frame.index.get_level_values("datetime").unique()
    view = frame_service.corporate_actions("all", start=days[1], end=days[-1])
    # conftest: 600000.SH steps 1 → 1.2 on day 30, 000001.SZ 1 → 1.5 on day 40 (and nothing else).
    assert view.attrs["source"] == "factor"
    assert list(view.index) == [(days[30], "600000.SH"), (days[40], "000001.SZ")]
    assert view["bonus"].tolist() == pytest.approx([0.2, 0.5]) and (view["cash"] == 0).all()
    # A window starting on the ex-date still sees the step (the session before is read too).
    assert len(frame_service.corporate_actions(["600000.SH"], start=days[30], end=days[30])) == 1


def test_table_view_and_its_validation(tmp_path, bars_frame):
    days = bars_frame.index.get_level_values("datetime").unique()
    path = tmp_path / "actions.csv"
    pd.DataFrame({"instrument": ["sh600000", "000001"], "ex_date": [days[30].date(), days[5].date()],
                  "cash": [0.15, 0.0], "bonus": [0.3, 0.0], "transfer": [0.2, 0.0]}).to_csv(path, index=False)
    table = read_actions_table(path)
    service = DataService(FrameProvider(bars_frame, name="t"), actions=table)
    view = service.corporate_actions("all", start=days[10], end=days[-1])
    assert view.attrs["source"] == "table"
    assert list(view.index) == [(days[30], "600000.SH")]  # the 000001.SZ row lies before the window
    assert view.iloc[0].tolist() == pytest.approx([0.15, 0.5])  # 10 送 3 转 2 派 1.5
    with pytest.raises(DataError, match="non-negative"):
        actions_frame(pd.DataFrame({"instrument": ["600000.SH"], "ex_date": ["2024-01-02"], "cash": [-1.0]}))
    with pytest.raises(DataError, match=r"two rows for 600000\.SH"):
        actions_frame(pd.DataFrame({"instrument": ["600000.SH"] * 2, "ex_date": ["2024-01-02"] * 2,
                                    "cash": [0.1, 0.2]}))


def test_stored_limits_on_an_ex_date_are_around_the_reference_price(bars_frame):
    frame = bars_frame.copy()
    days = frame.index.get_level_values("datetime").unique()
    for day, close in ((days[29], 20.00), (days[30], 10.10)):
        frame.loc[(day, "600000.SH"), ["open", "high", "low", "close", "vwap"]] = close
    actions = actions_frame(pd.DataFrame({"instrument": ["600000.SH"], "ex_date": [days[30]], "bonus": [1.0]}))
    service = DataService(FrameProvider(frame, name="t"), actions=actions)
    row = day_bars(service, days[30]).loc[(days[30], "600000.SH")]
    # 10-for-10 bonus: reference 10.00, band 9.00–11.00 (against the raw 20.00 it would be 18.00–22.00).
    assert (row["limit_down"], row["limit_up"]) == (9.00, 11.00)
    assert np.isclose(row["close"], 10.10)


def test_settings_table_reaches_the_service_and_a_backtest(tmp_path, aistock_home):
    from aistock_core.config import Settings
    from aistock_core.data.factory import build_service
    from aistock_core.strategy.backtest.market import load_market

    path = tmp_path / "actions.parquet"
    pd.DataFrame({"instrument": ["600001.SH"], "ex_date": [pd.Timestamp("2024-02-05")], "cash": [0.2],
                  "bonus": [0.0]}).to_parquet(path)
    settings = Settings(data_source="synthetic", synthetic_seed=11, synthetic_instruments=12,
                        synthetic_start="2024-01-02", synthetic_end="2024-03-29", corporate_actions=path)
    service = build_service(settings)
    assert service.actions is not None and service.actions["cash"].tolist() == [0.2]
    market = load_market(service, "all", "2024-01-10", "2024-03-29", benchmark=None)
    t, i = market.dates.get_loc(pd.Timestamp("2024-02-05")), market.instruments.get_loc("600001.SH")
    assert market.actions.cash[t, i] == 0.2 and market.actions.from_table
    assert market.actions.cash.sum() == pytest.approx(0.2) and not market.actions.bonus.any()
