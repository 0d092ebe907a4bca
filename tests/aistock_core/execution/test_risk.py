"""Each pre-trade rule denies what it should and nothing else; policy files; trading states."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from aistock_core.errors import ConfigError
from aistock_core.execution.domain import AccountSnapshot, PlannedOrder, Position
from aistock_core.execution.intents import intent_key, remark_of
from aistock_core.execution.risk import RiskContext, RiskEngine, RiskPolicy, TradingState, load_policy

DAY = pd.Timestamp("2024-07-01")
NOW = pd.Timestamp("2024-07-01 09:35", tz="Asia/Shanghai")


def order(symbol="600000.SH", side="buy", volume=1000, price=10.0, up=11.0, down=9.0) -> PlannedOrder:
    key = intent_key("i", DAY, "0935", symbol, side)
    return PlannedOrder(key, remark_of(key), symbol, side, volume, price, up, down)


def ctx(cash=1_000_000.0, positions=None, state=TradingState.ACTIVE, open_equity=None, **kw) -> RiskContext:
    account = AccountSnapshot(cash, positions or {})
    prices = {s: 10.0 for s in (positions or {})}
    equity = account.equity(prices)
    return RiskContext(state, account, prices, open_equity or equity, DAY, **kw)


def verdict(o, c, **policy):
    return RiskEngine(RiskPolicy(**policy)).check(o, c, NOW)


def test_defaults_are_the_house_limits():
    p = RiskPolicy()
    assert p.max_position_ratio == 0.3 and p.max_daily_loss_ratio == 0.05


def test_a_plain_order_passes_and_updates_the_context():
    c = ctx()
    v = verdict(order(), c)
    assert v.allowed and v.rule == "passed"
    assert c.volume["600000.SH"] == 1000 and c.active_orders == 1
    assert c.cash == pytest.approx(1_000_000 - 10_000 - 5.0 - 0.1)


HELD = {"600000.SH": Position("600000.SH", 1000, 600, 10.0)}


@pytest.mark.parametrize("rule, make_order, context, policy", [
    ("trading_state", order(), dict(state=TradingState.HALTED), {}),
    ("trading_state", order(), dict(state=TradingState.REDUCING), {}),
    ("blacklist", order(), {}, dict(blacklist=("600000.SH",))),
    ("st_filter", order(), dict(st=frozenset({"600000.SH"})), {}),
    ("lot", order(volume=150), {}, {}),
    ("lot", order(symbol="688001.SH", volume=199, price=10.0), {}, {}),
    ("price_band", order(price=11.01), {}, {}),
    ("price_band", order(price=8.99), {}, {}),
    ("max_order_value", order(volume=10_000), {}, dict(max_order_value=99_999.0)),
    ("max_order_volume", order(volume=10_000), {}, dict(max_order_volume=9_900)),
    ("sellable", order(side="sell", volume=700), dict(positions=HELD), {}),
    ("order_rate", order(), dict(sent_at=[NOW - pd.Timedelta(seconds=10)] * 3), dict(max_orders_per_minute=3)),
    ("cancel_rate", order(), dict(sent_at=[NOW - pd.Timedelta(seconds=100)] * 10,
                                  canceled_at=[NOW - pd.Timedelta(seconds=50)] * 6), {}),
    ("stop_loss", order(), dict(positions=HELD, stopped=frozenset({"600000.SH"})), {}),
    ("active_orders", order(), dict(active_orders=5), dict(max_active_orders=5)),
    ("cash", order(volume=10_000), dict(cash=100_000.0), {}),
    ("max_position_ratio", order(volume=31_000), {}, {}),
    ("cash_reserve", order(volume=20_000), {}, dict(min_cash_reserve_ratio=0.81)),
    ("total_exposure", order(volume=20_000), {}, dict(max_total_exposure=0.15)),
])
def test_each_rule_denies(rule, make_order, context, policy):
    c = ctx(**context)
    v = verdict(make_order, c, **policy)
    assert (v.allowed, v.rule) == (False, rule), v.message
    assert c.active_orders == context.get("active_orders", 0)  # a denied order changes nothing


def test_reducing_still_lets_sells_through_and_blacklist_does_not_trap_a_holding():
    c = ctx(positions=HELD, state=TradingState.REDUCING)
    assert verdict(order(side="sell", volume=600), c, blacklist=("600000.SH",)).allowed


def test_order_rate_window_slides():
    old = [NOW - pd.Timedelta(seconds=61)] * 3
    assert verdict(order(), ctx(sent_at=old), max_orders_per_minute=3).allowed


def test_position_ratio_boundary():
    # equity 1,000,000: 30,000 shares × 10 = exactly 30% passes, 30,100 does not
    assert verdict(order(volume=30_000, up=11.0), ctx()).allowed
    assert not verdict(order(volume=30_100), ctx()).allowed


def test_daily_loss_halts_the_batch():
    engine = RiskEngine(RiskPolicy())
    c = ctx(cash=940_000.0, open_equity=1_000_000.0)  # -6% since the open
    verdicts = engine.check_batch([order(), order(side="sell", symbol="600004.SH")], c, NOW)
    assert c.state is TradingState.HALTED
    assert [v.rule for v in verdicts] == ["trading_state", "trading_state"]
    c = ctx(cash=960_000.0, open_equity=1_000_000.0)  # -4%: still active
    assert engine.check_batch([order()], c, NOW)[0].allowed and c.state is TradingState.ACTIVE


def test_policy_files(tmp_path):
    (tmp_path / "p.yaml").write_text("max_position_ratio: 0.2\nblacklist: [600000.SH]\n")
    assert load_policy(tmp_path / "p.yaml").max_position_ratio == 0.2
    (tmp_path / "p.json").write_text(json.dumps({"max_daily_loss_ratio": 0.03}))
    assert load_policy(tmp_path / "p.json").max_daily_loss_ratio == 0.03
    (tmp_path / "typo.yaml").write_text("max_postion_ratio: 0.2\n")
    with pytest.raises(ConfigError, match=r"malformed risk policy .*typo\.yaml: max_postion_ratio"):
        load_policy(tmp_path / "typo.yaml")
    (tmp_path / "neg.yaml").write_text("max_order_value: -1\n")
    with pytest.raises(ConfigError, match="max_order_value"):
        load_policy(tmp_path / "neg.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_policy(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")


def minutes_ago(*minutes: float) -> list[pd.Timestamp]:
    return sorted(NOW - pd.Timedelta(minutes=m) for m in minutes)


def test_cancel_rate_needs_enough_orders_and_its_window_slides():
    ten_sent = minutes_ago(*[4] * 10)
    assert verdict(order(), ctx(sent_at=ten_sent, canceled_at=minutes_ago(*[3] * 5))).allowed  # 50%: at the limit
    assert not verdict(order(), ctx(sent_at=ten_sent, canceled_at=minutes_ago(*[3] * 6))).allowed  # 60%
    assert verdict(order(), ctx(sent_at=minutes_ago(*[4] * 9), canceled_at=minutes_ago(*[3] * 9))).allowed  # < 10
    # the same 10 orders and 6 cancels six minutes ago are outside the 300 s window
    assert verdict(order(), ctx(sent_at=minutes_ago(*[6] * 10), canceled_at=minutes_ago(*[6] * 6))).allowed
    tight = dict(max_cancel_ratio=0.2, cancel_min_orders=5, cancel_window_s=600)
    v = verdict(order(), ctx(sent_at=minutes_ago(*[6] * 5), canceled_at=minutes_ago(*[6] * 2)), **tight)
    assert (v.rule, v.message) == ("cancel_rate", "2 cancels / 5 orders in the last 600 s above 20%")


def test_stop_loss_names_the_positions_past_it_and_only_sells_of_them_pass():
    engine = RiskEngine(RiskPolicy(stop_loss_ratio=0.1))
    positions = {"600000.SH": Position("600000.SH", 1000, 1000, 10.0),  # 8.99 < 10 × 0.9: stopped
                 "600004.SH": Position("600004.SH", 1000, 1000, 10.0),  # 9.00 is exactly −10%: not beyond
                 "600006.SH": Position("600006.SH", 1000, 1000, 10.0)}  # no price: nothing known
    account = AccountSnapshot(100_000.0, positions)
    prices = {"600000.SH": 8.99, "600004.SH": 9.0}
    stopped = engine.stopped_out(account, prices)
    assert list(stopped) == ["600000.SH"] and "below the average cost 10.00" in stopped["600000.SH"]
    assert RiskEngine(RiskPolicy()).stopped_out(account, prices) == {}  # off by default
    c = RiskContext(TradingState.ACTIVE, account, prices, account.equity(prices), DAY)
    buy, sell = order(price=9.0, down=8.1, up=9.9), order(side="sell", price=9.0, down=8.1, up=9.9)
    verdicts = engine.check_batch([buy, sell, order(symbol="600004.SH", price=9.0, down=8.1, up=9.9)], c, NOW)
    assert [(v.allowed, v.rule) for v in verdicts] == [(False, "stop_loss"), (True, "passed"), (True, "passed")]


def test_the_documented_example_policy_loads_and_names_every_limit():
    path = Path(__file__).parents[3] / "docs" / "risk_policy.example.yaml"
    policy = load_policy(path)
    assert set(yaml.safe_load(path.read_text())) == set(RiskPolicy.model_fields)
    assert policy.stop_loss_ratio == 0.1
    assert policy.model_dump(exclude={"stop_loss_ratio"}) == RiskPolicy().model_dump(exclude={"stop_loss_ratio"})
