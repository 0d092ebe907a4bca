"""Normalisation of RD-Agent's loosely typed values."""

from __future__ import annotations

import pytest

from aistock_core.research.normalise import (
    bare_field,
    expression_key,
    flatten_metrics,
    internal_code,
    kpis_from_metrics,
    parse_best_performance,
)


def test_best_performance_string_to_numbers():
    assert parse_best_performance("Sharpe: 1.42, Ann.Ret: 23.10%") == pytest.approx((1.42, 0.231))
    assert parse_best_performance("Sharpe: -0.5, Ann.Ret: -3%") == pytest.approx((-0.5, -0.03))
    assert parse_best_performance("无回测记录") == (None, None)
    assert parse_best_performance(None) == (None, None)
    with pytest.raises(ValueError, match="unrecognised best_performance"):
        parse_best_performance("great factor")


def test_legacy_metrics_forms_and_whitespace_keys():
    legacy = [{"Unnamed: 0": "IC", "0": 0.05}, {"Unnamed: 0": " 1day.excess_return_with_cost.annualized_return ",
                                                 "0": "0.12"}]
    assert flatten_metrics(legacy) == {"IC": 0.05, "1day.excess_return_with_cost.annualized_return": 0.12}
    assert flatten_metrics({"Unnamed: 0": "ICIR", "0": 0.3}) == {"ICIR": 0.3}
    assert flatten_metrics('{"IC": 0.1, "x": "NaN", "_raw": {"a": 1}}') == {"IC": 0.1, "x": None}


def test_kpis_keep_cost_bases_apart_and_drawdown_negative():
    flat = {
        "IC": 0.04, "1day.excess_return_without_cost.annualized_return": 0.20,
        "1day.excess_return_without_cost.max_drawdown": 0.08,
        "1day.excess_return_with_cost.annualized_return": 0.11,
        "1day.excess_return_with_cost.information_ratio": 0.0,
    }
    kpis = kpis_from_metrics(flat)
    assert kpis["without_cost"]["annualized_return"] == 0.20
    assert kpis["without_cost"]["max_drawdown"] == -0.08
    assert kpis["with_cost"]["annualized_return"] == 0.11
    assert kpis["with_cost"]["information_ratio"] == 0.0  # 0.0 is a value, not "missing"
    assert kpis["with_cost"]["ic"] == kpis["without_cost"]["ic"] == 0.04
    # bare exporter keys are without cost
    assert kpis_from_metrics({"annualized_return": 0.3, "sharpe": 1.1}) == {"without_cost": pytest.approx(
        {"annualized_return": 0.3, "information_ratio": 1.1, "max_drawdown": None, "mean_return": None,
         "std_return": None, "win_rate": None, "ic": None, "ic_ir": None, "rank_ic": None, "rank_ic_ir": None})}


def test_codes_fields_and_expression_key():
    assert internal_code("SH000300") == "000300.SH"
    assert internal_code("csi300") == "csi300"
    assert bare_field("$Close") == "close"
    assert expression_key("Mean($close, 5)", "a") == expression_key(" mean($close,5) ", "b")
    assert expression_key(None, "a") != expression_key(None, "b")
