"""Directed evolution: the constraints a LiveFeedback breaches, and the ExperimentRequest that addresses them.

Breaches (limits from the instance's ``params["limits"]``, defaults in `instances.DEFAULT_LIMITS`):

- ``max_drawdown``: the period's max drawdown is beyond −limit;
- ``sharpe``: the realised Sharpe is more than ``sharpe_shortfall`` below the loop's expected Sharpe;
- ``slippage``: the average slippage is above the research cost assumption (``slippage_bps``).

The request (contract §2, RD-Agent's ``tools/run_experiment_from_request.py``) is assembled from the loop's own
catalog entries (strategy, factors, model_config, dataset_config) and always carries what that tool needs to keep
a block: ``strategy.strategy_type``, a string ``name`` per factor and a full ``model.model_class``. Its objective
is the first breach's (drawdown before Sharpe before slippage); the others become constraints. The tool merges
``model.extra`` and ``dataset.extra`` into the Qlib configs it writes, so they hold only Qlib keys (the dataset's
``module_path``); the handler class is spelled with its module, since Qlib resolves it without a default module.
"""

from __future__ import annotations

from typing import Any

from aistock_core.codes import to_qlib
from aistock_core.db import Database
from aistock_core.errors import FeedbackError
from aistock_core.feedback.loopconfig import LoopConfigs, loop_configs
from aistock_core.instances import Instance
from aistock_core.research.reference import QLIB_BENCHMARK_BACKTEST, RDAGENT_LGB_CONFIG

#: Metrics an objective may name, with the direction that is better (max drawdown is ≤ 0: closer to 0 wins).
DIRECTIONS = {"sharpe": "maximize", "annual_return": "maximize", "excess_return": "maximize", "ic": "maximize",
              "information_ratio": "maximize", "max_drawdown": "maximize", "win_rate": "maximize",
              "volatility": "minimize", "turnover": "minimize", "tracking_error": "minimize"}
#: Qlib model classes RD-Agent's tool maps from a short ``model_type`` (anything else needs ``model_class``).
SHORT_MODEL_TYPES = ("LGBModel", "XGBModel")
#: Fraction of today's turnover a request asks for when slippage, not the signal, is the problem.
TURNOVER_CUT = 0.5


def breaches(doc: dict, limits: dict[str, float]) -> list[dict]:
    """The constraints ``doc`` breaches, each ``{"constraint", "value", "limit", "why"}``, most severe first."""
    perf, execution, expected = doc["performance"], doc["execution"], doc["expectation"]
    out = []
    dd = perf["max_drawdown"]
    if dd is not None and dd < -limits["max_drawdown"]:
        out.append({"constraint": "max_drawdown", "value": dd, "limit": -limits["max_drawdown"],
                    "why": f"max drawdown {dd:.2%} is beyond the instance's limit -{limits['max_drawdown']:.2%}"})
    sharpe, want = perf["sharpe"], expected["expected_sharpe"]
    if sharpe is not None and want is not None and sharpe < want - limits["sharpe_shortfall"]:
        out.append({"constraint": "sharpe", "value": sharpe, "limit": want - limits["sharpe_shortfall"],
                    "why": f"Sharpe {sharpe:.2f} is far below the {want:.2f} research expected"})
    slip = execution["avg_slippage_bps"]
    if slip is not None and slip > limits["slippage_bps"]:
        out.append({"constraint": "slippage", "value": slip, "limit": limits["slippage_bps"],
                    "why": f"slippage {slip:.1f} bps is above the {limits['slippage_bps']:.1f} bps cost assumption"})
    return out


def objective(doc: dict, found: list[dict], limits: dict[str, float], metric: str | None = None) -> dict:
    """The objective that addresses ``found`` (or ``metric`` when given), with constraints for the rest."""
    if metric is not None and metric not in DIRECTIONS:
        raise FeedbackError(f"unknown objective metric {metric!r}; use one of {', '.join(sorted(DIRECTIONS))}")
    constraints: dict[str, Any] = {"max_drawdown": -limits["max_drawdown"]}
    kinds = [b["constraint"] for b in found]
    if "sharpe" in kinds:
        constraints["sharpe"] = next(b["limit"] for b in found if b["constraint"] == "sharpe")
    if "slippage" in kinds:
        turnover = doc["performance"]["turnover"]
        constraints["cost_bps"] = doc["execution"]["avg_slippage_bps"]
        if turnover:
            constraints["turnover"] = turnover * TURNOVER_CUT
    primary = metric or {"max_drawdown": "max_drawdown", "sharpe": "sharpe", "slippage": "sharpe"}.get(
        kinds[0] if kinds else "", "sharpe")
    why = "; ".join(b["why"] for b in found) or "no constraint breached: routine re-validation on live data"
    return {"primary_metric": primary, "direction": DIRECTIONS[primary], "constraints": constraints, "why": why}


def _strategy(block: dict, backtest: dict, limits: dict[str, float]) -> dict:
    cls = str(block.get("class") or "TopkDropoutStrategy")
    kwargs = dict(block.get("kwargs") or {})
    benchmark = backtest.get("benchmark") or QLIB_BENCHMARK_BACKTEST["benchmark"]
    return {"strategy_type": "topk" if "topk" in cls.lower() else cls.lower(), "name": cls,
            "description": f"{cls} as run live ({block.get('module_path', 'qlib.contrib.strategy')})",
            "risk_model": {"max_drawdown": -limits["max_drawdown"],
                           **({"risk_degree": kwargs["risk_degree"]} if "risk_degree" in kwargs else {})},
            "trading_rule": kwargs, "benchmark": to_qlib(benchmark) if "." in benchmark else benchmark,
            "extra": {"class": cls, "module_path": block.get("module_path"),
                      "exchange_kwargs": backtest.get("exchange_kwargs") or QLIB_BENCHMARK_BACKTEST["exchange_kwargs"]}}


def _model(configs: LoopConfigs) -> dict:
    conf = configs.model.get("model_config") or configs.strategy.get("model_config") or RDAGENT_LGB_CONFIG
    cls = str(conf.get("class") or "LGBModel")
    full = cls if "." in cls else f"{conf.get('module_path') or 'qlib.contrib.model.gbdt'}.{cls}"
    short = full.rsplit(".", 1)[-1]
    return {"model_type": short if short in SHORT_MODEL_TYPES else configs.model.get("model_type") or short,
            "model_class": full, "kwargs": dict(conf.get("kwargs") or {}), "extra": {}}


def _dataset(configs: LoopConfigs, end_date: str) -> tuple[dict, dict]:
    conf = configs.model.get("dataset_config") or configs.strategy.get("dataset_config") or {}
    kwargs = dict(conf.get("kwargs") or {})
    handler = dict(kwargs.get("handler") or {})
    segments = {k: list(v) for k, v in (kwargs.get("segments") or {}).items()}
    train, valid, test = (segments.get(k) or [None, None] for k in ("train", "valid", "test"))
    train_test = {"train_start": train[0], "train_end": train[1], "valid_start": valid[0], "valid_end": valid[1],
                  "test_start": test[0], "test_end": max(filter(None, [test[1], end_date])),
                  "dataset_extra": {"market": configs.strategy.get("market") or "all", "live_end": end_date}}
    handler_class = handler.get("class") or "Alpha158"
    if handler.get("module_path") and "." not in handler_class:
        handler_class = f"{handler['module_path']}.{handler_class}"
    dataset = {"class_name": conf.get("class") or "DatasetH", "handler_class": handler_class,
               "handler_kwargs": dict(handler.get("kwargs") or {}), "segments": segments,
               "extra": {"module_path": conf.get("module_path") or "qlib.data.dataset"}}
    return train_test, dataset


def build_request(db: Database, doc: dict, instance: Instance, *, metric: str | None = None,
                  feedback_ref: str | None = None) -> dict:
    """The ExperimentRequest for LiveFeedback ``doc`` (with or without a breach)."""
    limits = instance.limits()
    found = breaches(doc, limits)
    configs = loop_configs(db, instance.loop)
    period = doc["period"]
    train_test, dataset = _dataset(configs, period["end_date"])
    factors = [{"name": n, "source": "rdagent_generated", "version": configs.experiment_id} for n in
               configs.factor_names]
    tags = ["livefeedback", doc["env"], *(b["constraint"] for b in found)]
    return {
        "kind": "research",
        "name": f"livefeedback-{doc['strategy_instance_id']}-{period['start_date']}_{period['end_date']}",
        "description": objective(doc, found, limits, metric)["why"],
        "user_tags": tags,
        "strategy": _strategy(doc["config"]["strategy"], configs.strategy.get("backtest_config") or {}, limits),
        "factor_set": {"factors": factors, "tags": ["alpha158", *(["rdagent_generated"] if factors else [])],
                       "extra": {"factor_set_hash": doc["config"]["factor_set_hash"]}},
        "train_test": train_test,
        "objective": {k: v for k, v in objective(doc, found, limits, metric).items() if k != "why"},
        "model": _model(configs),
        "dataset": dataset,
        "extra": {"live_feedback": feedback_ref or doc["strategy_instance_id"],
                  "strategy_instance_id": doc["strategy_instance_id"], "experiment_id": doc["experiment_id"],
                  "config_source": "loop" if configs.known else "reference", "breaches": found},
    }

