"""Qlib mode's exchange defaults pinned against Qlib 0.9.7's own source (region cn and ``Exchange.__init__``)."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from aistock_core.trading.qlib_rules import QlibExchangeConfig


def test_defaults_are_qlibs_region_cn_exchange_defaults():
    pytest.importorskip("qlib")
    from qlib.backtest.exchange import Exchange
    from qlib.config import _default_region_config
    from qlib.constant import REG_CN

    ours = {f.name: f.default for f in dataclasses.fields(QlibExchangeConfig)}
    theirs = {k: v.default for k, v in inspect.signature(Exchange.__init__).parameters.items()}
    for name in ("open_cost", "close_cost", "min_cost", "impact_cost"):
        assert ours[name] == theirs[name], name
    region = _default_region_config[REG_CN]
    assert ours["trade_unit"] == region["trade_unit"]
    assert ours["limit_threshold"] == region["limit_threshold"]
    assert ours["deal_price"] == region["deal_price"]


def test_rdagent_template_costs():
    # RD-Agent's Qlib templates (conf_baseline.yaml, backtest block): exchange_kwargs {limit_threshold: 0.095,
    # deal_price: close, open_cost: 0.0005, close_cost: 0.0015, min_cost: 5}.
    from aistock_core.trading.qlib_rules import RDAGENT_EXCHANGE

    assert (RDAGENT_EXCHANGE.open_cost, RDAGENT_EXCHANGE.close_cost, RDAGENT_EXCHANGE.min_cost) == (0.0005, 0.0015, 5)
    assert (RDAGENT_EXCHANGE.limit_threshold, RDAGENT_EXCHANGE.deal_price) == (0.095, "close")
