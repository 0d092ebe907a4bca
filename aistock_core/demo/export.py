"""A demo RD-Agent export generated from the synthetic market: what a research shop's RDagentDB looks like.

It lets the whole research side (sync, catalogs, bundles, factor sandbox, model rebuild) run end to end
without RD-Agent: catalogs (rdagent.md §3), ``registry.sqlite`` with the contract's tables (rdagent.md §5), production
bundles with LLM-style ``factor.py`` code (rdagent.md §6, §7), per-loop workspaces (qlib_res.csv, factor_perf.json,
feedback.json, factor_meta.json, model_meta.json, conf.yaml, model.py for GeneralPTNN), and task snapshots
for the task endpoints (see `export_dir`). Ids follow RD-Agent's formats; metrics are computed from the
market data (`aistock_core.demo.factors.loop_metrics`), so they are deterministic in (market, seed) and not constants.

One loop, `REPLAY_LOOP`, is the *replay reference*: when Qlib is importable its backtest KPIs are produced the
way research produces them — by Qlib 0.9.7's own TopkDropout backtest (`reconcile.qlib_backtest_kpis`) of the
default signal over the replay window — and its catalog entry carries ``replay_reference`` (tag `REPLAY_TAG`
and the inputs used). The strategy box's default backtest replays exactly that with our engine and its
reconciliation check compares the two. Without Qlib no loop is designated (its metrics stay derived), so the
check reports that there is no reference instead of passing against numbers that are not Qlib's.
Writing goes to a temporary sibling directory renamed into place, so a reader never sees half an export.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aistock_core.config import Settings
from aistock_core.data.service import DataService
from aistock_core.data.store import atomic_path
from aistock_core.demo.factors import ALPHA158_BASELINE, DEMO_FACTORS, FACTORS_BY_NAME, loop_metrics
from aistock_core.errors import DataError
from aistock_core.factors.references import qlib_available
from aistock_core.research.reference import QLIB_BENCHMARK_BACKTEST, RDAGENT_LGB_CONFIG
from aistock_core.strategy.reconcile import qlib_backtest_kpis, replay_window
from aistock_core.strategy.signals import DEFAULT_SIGNAL, signal_scores

STRATEGY_NS = uuid.UUID("7b6b2c6c-0b4d-4e2c-9b7f-3b1b9b4f3a11")
MODEL_NS = uuid.UUID("a8a6a7de-c8c7-4f3e-9f5a-3c4b7d3e2b11")
ARTIFACT_NS = uuid.UUID("3e36bb8a-2a9b-4c56-8f50-6312f0d89c42")
DEMO_BARS = 260
#: Marks the loop whose KPIs come from Qlib's own backtest of the default signal (catalog ``replay_reference``).
REPLAY_TAG = "aistock/replay-reference"
#: RD-Agent's plain Qlib template (rdagent.md §9): the strategy and backtest blocks of the reference run, which
#: the strategy box's default backtest spec reuses so that both sides run the same configuration.
REPLAY_STRATEGY: dict[str, Any] = {"class": "TopkDropoutStrategy", "module_path": "qlib.contrib.strategy",
                                   "kwargs": {"signal": "<PRED>", "topk": 50, "n_drop": 5}}
REPLAY_BACKTEST: dict[str, Any] = {"account": 100000000, **QLIB_BENCHMARK_BACKTEST}
#: Sessions of the replay window: the last ones of the data (`reconcile.replay_window`).
REPLAY_SESSIONS = 250

#: RD-Agent's LightGBM template (rdagent.md §9) with its L1/L2 penalties (205.7 / 580.98, sized for thousands of
#: names) brought down to what the demo's few hundred names carry: with them no tree grows, every score of the
#: exported model is equal, and neither the selection nor the exported-vs-retrained agreement means anything.
LGB_CONFIG = {**RDAGENT_LGB_CONFIG, "kwargs": {**RDAGENT_LGB_CONFIG["kwargs"], "lambda_l1": 1.0, "lambda_l2": 10.0}}
MODEL_PY = '''import torch
from torch import nn


class DemoMLP(nn.Module):
    """Two-layer perceptron over the feature vector (GeneralPTNN's pt_model_uri: model.model_cls)."""

    def __init__(self, num_features: int, hidden: int = 32):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(num_features, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.net(x).squeeze(-1)


model_cls = DemoMLP
'''
FACTOR_ENTRY_PY = '''"""Bundle entry point: compute(df_history) -> DataFrame, one column per bundled factor."""
import importlib.util
from pathlib import Path

import pandas as pd


def compute(df_history: pd.DataFrame) -> pd.DataFrame:
    outputs = []
    for path in sorted(Path(__file__).parent.glob("*factor*.py")):
        if path.name == "factor_entry.py":
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        func = next((getattr(module, n) for n in dir(module) if n.startswith("factor_")), None)
        if func is None:
            raise RuntimeError(f"{path.name} has no factor_* wrapper; run it with daily_pv.h5 in the CWD instead")
        outputs.append(func(df_history))
    return pd.concat(outputs, axis=1)
'''
SELF_CHECK_PY = '''"""Checks that every file listed in manifest.json exists."""
import json
from pathlib import Path

root = Path(__file__).parent
manifest = json.loads((root / "manifest.json").read_text())
for rel in manifest["primary_assets"].values():
    assert not rel or (root / rel).is_file(), rel
print("ok")
'''


@dataclass(frozen=True)
class DemoLoop:
    task: int
    loop_id: int
    action: str  # "factor" | "model"
    factors: tuple[str, ...]
    model: str  # "LGBModel" | "GeneralPTNN"
    strategy: str  # "topk" | "enhanced"
    decision: bool


LOOPS: tuple[DemoLoop, ...] = (
    DemoLoop(0, 0, "factor", ("mom_5d",), "LGBModel", "topk", True),
    DemoLoop(0, 1, "factor", ("mom_5d", "rev_1d"), "LGBModel", "topk", True),
    DemoLoop(0, 2, "model", ("mom_5d", "rev_1d", "vol_ratio_10d"), "LGBModel", "topk", False),
    DemoLoop(1, 0, "factor", ("volatility_20d",), "LGBModel", "enhanced", True),
    DemoLoop(1, 1, "model", ("volatility_20d", "range_5d"), "GeneralPTNN", "enhanced", True),
)
#: The first TopkDropout loop: its single factor, 5-day momentum sign-fitted on the label, is the 5-day
#: reversal the default signal computes, so the default backtest is a replay of this loop.
REPLAY_LOOP = LOOPS[0]


@dataclass(frozen=True)
class ReplayReference:
    """Qlib's KPIs of the reference run and what it ran on (stored in the loop's catalog entry)."""

    kpis: dict[str, float]
    info: dict[str, Any]


def replay_reference(service: DataService, universe: str = "all",
                     sessions: int = REPLAY_SESSIONS) -> ReplayReference:
    """Run Qlib's own backtest of the default signal over the replay window (seconds on the demo's size).

    The scores are `signals.signal_scores` over the window from its warm-up session to the day before its last,
    exactly the scores the strategy box's default backtest computes, so both engines see the same input.
    """
    import qlib

    start, end = replay_window(service, sessions)
    warm = service.calendar.previous(start)
    scores = signal_scores(service, universe, warm, service.calendar.previous(end), DEFAULT_SIGNAL)
    kwargs = {k: v for k, v in REPLAY_STRATEGY["kwargs"].items() if k != "signal"}
    kpis = qlib_backtest_kpis(service, universe, scores, start, end, kwargs, REPLAY_BACKTEST)
    info = {"tag": REPLAY_TAG, "engine": f"qlib {qlib.__version__}", "signal": DEFAULT_SIGNAL,
            "universe": universe, "start_time": f"{start:%Y-%m-%d}", "end_time": f"{end:%Y-%m-%d}",
            "strategy": REPLAY_STRATEGY, "backtest": REPLAY_BACKTEST}
    return ReplayReference(kpis=kpis, info=info)


@dataclass(frozen=True)
class ExportedLgb:
    """The demo's exported LightGBM model: LightGBM text and the feature schema ``[[expr...], [name...]]``."""

    text: str
    feature_schema: list[list[str]]


def exported_lgb(service: DataService, dataset: dict[str, Any], model: dict[str, Any]) -> ExportedLgb:
    """Train what research would have exported for the LightGBM loops: their workflow (the baseline features
    that survive FilterCol, RobustZScoreNorm fitted on the fit window, CSRankNorm label) with Qlib's training
    loop (`models.lgb.LGBModel`), on the demo market. The loops' dynamic factors are filtered out by their own
    FilterCol, so the Alpha158 baseline is exactly the model's input. Two threads: the demo must stay fast."""
    from dataclasses import replace

    from aistock_core.models.config import parse_dataset
    from aistock_core.models.dataset import Dataset
    from aistock_core.models.lgb import LGBModel

    kwargs = {k: v for k, v in dataset["kwargs"]["handler"]["kwargs"].items() if k != "data_loader"}
    block = {**dataset, "kwargs": {**dataset["kwargs"], "handler": {"class": "Alpha158", "kwargs": kwargs}}}
    spec = parse_dataset(block)
    loader = dataset["kwargs"]["handler"]["kwargs"]["data_loader"]["kwargs"]["alpha158_config"]
    (exprs, names), (labels, label_names) = loader["feature"], loader["label"]
    handler = replace(spec.handler, features=dict(zip(names, exprs, strict=True)),
                      labels=dict(zip(label_names, labels, strict=True)))
    fitted = LGBModel(**{**model["kwargs"], "num_threads": 2}).fit(
        Dataset.load(service, replace(spec, handler=handler)))
    return ExportedLgb(fitted.booster.model_to_string(), [list(exprs), list(names)])


def _dump(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False, sort_keys=False, default=str), encoding="utf-8")


def _uid(ns: uuid.UUID, name: str) -> uuid.UUID:
    return uuid.uuid5(ns, name)


def _strategy_block(kind: str) -> dict[str, Any]:
    if kind == "topk":
        return json.loads(json.dumps(REPLAY_STRATEGY))
    return {"class": "EnhancedTopkDropoutStrategy",
            "module_path": "rdagent.scenarios.qlib.experiment.factor_template.custom_strategy",
            "kwargs": {"signal": "<PRED>", "topk": 50, "n_drop": 5, "min_score": 0.1, "max_position_ratio": 0.9,
                       "stop_loss": -0.10}}


def _model_config(loop: DemoLoop) -> dict[str, Any]:
    if loop.model == "LGBModel":
        return LGB_CONFIG
    n_features = len(ALPHA158_BASELINE) + len(loop.factors)
    return {"class": "GeneralPTNN", "module_path": "qlib.contrib.model.pytorch_general_nn", "kwargs": {
        "n_epochs": 20, "lr": 0.001, "early_stop": 5, "batch_size": 2000, "weight_decay": 0.0001, "metric": "loss",
        "loss": "mse", "n_jobs": 20, "GPU": 0, "pt_model_uri": "model.model_cls",
        "pt_model_kwargs": {"num_features": n_features}}}


def _dataset_config(dates: pd.DatetimeIndex) -> dict[str, Any]:
    third = len(dates) // 3
    seg = [d.strftime("%Y-%m-%d") for d in (dates[0], dates[third - 1], dates[third], dates[2 * third - 1],
                                           dates[2 * third], dates[-1])]
    handler = {"start_time": seg[0], "end_time": seg[5], "instruments": "all", "fit_start_time": seg[0],
               "fit_end_time": seg[1], "data_loader": {
                   "class": "CombinedAlpha158DynamicFactorsLoader", "kwargs": {
                       "alpha158_config": {"label": [["Ref($close, -2)/Ref($close, -1) - 1"], ["LABEL0"]],
                                           "feature": [list(ALPHA158_BASELINE.values()), list(ALPHA158_BASELINE)]},
                       "dynamic_path": "combined_factors_df.parquet", "join": "left"}},
               "infer_processors": [{"class": "FilterCol", "kwargs": {"fields_group": "feature",
                                                                      "col_list": list(ALPHA158_BASELINE)}},
                                    {"class": "RobustZScoreNorm", "kwargs": {"fields_group": "feature",
                                                                             "clip_outlier": True}},
                                    {"class": "Fillna", "kwargs": {"fields_group": "feature"}}],
               "learn_processors": [{"class": "DropnaLabel"},
                                    {"class": "CSRankNorm", "kwargs": {"fields_group": "label"}}]}
    return {"class": "DatasetH", "module_path": "qlib.data.dataset", "kwargs": {
        "handler": {"class": "DataHandlerLP", "module_path": "qlib.contrib.data.handler", "kwargs": handler},
        "segments": {"train": seg[0:2], "valid": seg[2:4], "test": seg[4:6]}}}


def _yaml(config: dict[str, Any]) -> str:
    """A small YAML writer for the nested dict/list/scalar configs above (no PyYAML dependency)."""
    def emit(value: Any, indent: int) -> list[str]:
        pad = "  " * indent
        lines: list[str] = []
        if isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, (dict, list)) and v:
                    lines += [f"{pad}{k}:", *emit(v, indent + 1)]
                else:
                    lines.append(f"{pad}{k}: {json.dumps(v)}")
        else:
            for v in value:
                if isinstance(v, (dict, list)) and v:
                    sub = emit(v, indent + 1)
                    lines += [f"{pad}- {sub[0].strip()}", *sub[1:]]
                else:
                    lines.append(f"{pad}- {json.dumps(v)}")
        return lines
    return "\n".join(emit(config, 0)) + "\n"


def _qlib_res_csv(metrics: dict[str, float]) -> str:
    return ",0\n" + "".join(f"{k},{v!r}\n" for k, v in metrics.items())


def task_run_id(seed: int, task: int) -> str:
    """RD-Agent task run id of demo task ``task`` (from the seed alone, so specs can name loops before export)."""
    return _uid(ARTIFACT_NS, f"demo/{seed}/task_run/{task}").hex


def loop_key(loop: DemoLoop, seed: int) -> str:
    """The catalog key ``RUN/LOOP`` of a demo loop (what ``--loop`` takes)."""
    return f"{task_run_id(seed, loop.task)}/{loop.loop_id}"


class _Ids:
    """RD-Agent-format ids and timestamps, all derived from the seed and the market's last day."""

    def __init__(self, seed: int, last_day: pd.Timestamp) -> None:
        self.seed = seed
        self.base = datetime(last_day.year, last_day.month, last_day.day, 6, 0, 0, tzinfo=UTC) + timedelta(
            seconds=seed % 3600)

    def task_run_id(self, task: int) -> str:
        return task_run_id(self.seed, task)

    def task_id(self, task: int) -> str:
        return (self.base + timedelta(hours=task)).strftime("%Y-%m-%d_%H-%M-%S-%f")

    def workspace_id(self, loop: DemoLoop) -> str:
        return _uid(ARTIFACT_NS, f"demo/{self.seed}/ws/{loop.task}/{loop.loop_id}").hex

    def bundle_id(self, loop: DemoLoop) -> str:
        return str(_uid(ARTIFACT_NS, f"demo/{self.seed}/bundle/{loop.task}/{loop.loop_id}"))

    def at(self, loop: DemoLoop, minutes: int = 0) -> str:
        return (self.base + timedelta(hours=loop.task, minutes=10 * loop.loop_id + minutes)).isoformat()


def _market(service: DataService, bars: int) -> tuple[dict[str, pd.DataFrame], pd.DatetimeIndex]:
    panel = service.get_panel("all", bars=bars, fields=["open", "high", "low", "close", "volume"], adjust="qfq")
    if len(panel.dates) < 80:
        raise DataError(f"demo export needs ≥ 80 sessions of data, the service has {len(panel.dates)}")
    wide = {f: panel.wide(f).astype("float64") for f in panel.fields}
    wide["listed"] = pd.DataFrame(panel.listed, index=panel.dates, columns=panel.instruments)  # rolling masks
    return wide, panel.dates


def write_demo_export(service: DataService, out_dir: str | Path, *, seed: int = 7, bars: int = DEMO_BARS,
                      universe: str = "all", replay: bool | None = None) -> Path:
    """Write (or replace) the demo export at ``out_dir``; return it. Deterministic in (service data, seed).

    ``replay``: designate `REPLAY_LOOP` with Qlib's own backtest KPIs over ``universe`` (default: when Qlib is
    importable). It runs once here and lives on in the export (qlib_res.csv, catalog, registry).
    """
    out = Path(out_dir).expanduser().resolve()
    wide, dates = _market(service, bars)
    if replay is None:
        replay = qlib_available()
    reference = replay_reference(service, universe) if replay else None
    ids = _Ids(seed, dates[-1])
    rng = np.random.default_rng(seed)
    topk = int(max(5, min(50, wide["close"].shape[1] // 10)))
    exported = exported_lgb(service, _dataset_config(dates), LGB_CONFIG)
    with atomic_path(out) as tmp:
        tmp.mkdir()
        _write(tmp, wide, dates, ids, rng, topk, reference, exported)
    return out


def _write(root: Path, wide: dict[str, pd.DataFrame], dates: pd.DatetimeIndex, ids: _Ids,
           rng: np.random.Generator, topk: int, reference: ReplayReference | None = None,
           exported: ExportedLgb | None = None) -> None:
    db_dir = root / "RDagentDB"
    cat_dir = db_dir / "aistock"
    ws_root = root / "git_ignore_folder" / "RD-Agent_workspace"
    generated = ids.base.isoformat()
    dataset = _dataset_config(dates)
    alpha_entries = [{"name": n, "expression": e, "source": "qlib_alpha158", "region": "cn", "tags": ["alpha158"]}
                     for n, e in ALPHA158_BASELINE.items()]
    _dump(cat_dir / "alpha158_meta.json", {"version": "v1", "generated_at_utc": generated, "source": "qlib_alpha158",
                                           "factors": alpha_entries, "config_path": "conf_baseline.yaml"})
    registry = _Registry(db_dir / "registry.sqlite")
    factor_entries: dict[str, dict[str, Any]] = {}
    strategies: dict[str, dict[str, Any]] = {}
    loop_entries: list[dict[str, Any]] = []
    model_entries: list[dict[str, Any]] = []
    task_loops: dict[int, list[dict[str, Any]]] = {}
    for loop in LOOPS:
        trid, ws, bid = ids.task_run_id(loop.task), ids.workspace_id(loop), ids.bundle_id(loop)
        metrics = loop_metrics(wide, list(loop.factors), topk)
        window = dataset["kwargs"]["segments"]["test"]
        replayed = reference is not None and loop == REPLAY_LOOP
        if replayed:  # Qlib's backtest figures replace the derived ones; IC figures stay (no backtest makes them)
            metrics.update(reference.kpis)
            window = [reference.info["start_time"], reference.info["end_time"]]
        ws_dir = ws_root / ws
        conf = {"data_handler_config": dataset["kwargs"]["handler"]["kwargs"],
                "port_analysis_config": {"strategy": _strategy_block(loop.strategy), "backtest": {
                    "start_time": window[0], "end_time": window[1],
                    **json.loads(json.dumps(REPLAY_BACKTEST))}},
                "task": {"model": _model_config(loop), "dataset": dataset}}
        files = _workspace(ws_dir, loop, trid, ws, ids, metrics, conf, generated,
                           exported if loop.model == "LGBModel" else None)
        strategy_id = _uid(STRATEGY_NS, json.dumps({"scenario": "", "step_name": "running", "action": loop.action,
                                                     "templates": ["conf.yaml"]}, sort_keys=True)).hex
        strategies[strategy_id] = {
            "strategy_id": strategy_id, "scenario": None, "step_name": "running", "action": loop.action,
            "workspace_example": {"task_run_id": trid, "loop_id": loop.loop_id, "workspace_id": ws,
                                  "workspace_path": f"/mnt/f/rdagent/git_ignore_folder/RD-Agent_workspace/{ws}"},
            "template_files": ["conf.yaml"], "python_implementation": {},
            "data_config": conf["data_handler_config"], "dataset_config": dataset,
            "portfolio_config": conf["port_analysis_config"]["strategy"],
            "backtest_config": conf["port_analysis_config"]["backtest"], "model_config": conf["task"]["model"],
            "feature_list": list(ALPHA158_BASELINE), "market": "all", "instruments": "all", "freq": "1d"}
        for name in loop.factors:  # the exporter keeps the copy from the loop with the best sharpe
            item = _factor_meta_item(name, trid, loop, metrics, ids)
            if name not in factor_entries or item["_perf"][0] > factor_entries[name]["_perf"][0]:
                factor_entries[name] = item
        without = "1day.excess_return_without_cost"
        loop_entries.append({
            "task_run_id": trid, "loop_id": loop.loop_id, "workspace_id": ws,
            "workspace_path": f"/mnt/f/rdagent/git_ignore_folder/RD-Agent_workspace/{ws}", "scenario": None,
            "step_name": "running", "action": loop.action, "status": "success", "has_result": True,
            "log_dir": "/mnt/f/rdagent/log", "materialization_status": "done", "materialization_error": None,
            "asset_bundle_id": bid, "is_solidified": True, "sync_status": "pending", "strategy_id": strategy_id,
            "factor_names": list(loop.factors), "annualized_return": metrics[f"{without}.annualized_return"],
            "max_drawdown": metrics[f"{without}.max_drawdown"], "sharpe": metrics[f"{without}.information_ratio"],
            "ic": metrics["IC"], "ic_ir": metrics["ICIR"], "win_rate": None,
            "metrics": {**metrics, "annualized_return": metrics[f"{without}.annualized_return"],
                        "max_drawdown": metrics[f"{without}.max_drawdown"],
                        "sharpe": metrics[f"{without}.information_ratio"], "ic": metrics["IC"],
                        "ic_ir": metrics["ICIR"]},
            "decision": loop.decision,
            **({"replay_reference": reference.info} if replayed else {}),
            "summary_texts": {"execution": f"Ran {len(loop.factors)} factor(s).",
                              "value_feedback": f"IC {metrics['IC']:.4f}", "shape_feedback": ""},
            "paths": {"factor_meta": "factor_meta.json", "factor_perf": "factor_perf.json",
                      "feedback": "feedback.json", "mlruns": None, "model_files": ["model.pkl"]}})
        model_conf = conf["task"]["model"]
        model_type = "DemoMLP" if loop.model == "GeneralPTNN" else "LGBModel"
        model_entries.append({
            "task_run_id": trid, "loop_id": loop.loop_id, "log_dir": "/mnt/f/rdagent/log", "workspace_id": ws,
            "workspace_path": f"/mnt/f/rdagent/git_ignore_folder/RD-Agent_workspace/{ws}", "model_type": model_type,
            "model_config": model_conf, "dataset_config": dataset, "feature_schema": None,
            "flattened_feature_list": [*ALPHA158_BASELINE, *loop.factors],
            "model_artifacts": {"model_files": ["model.py"] if loop.model == "GeneralPTNN" else []},
            "model_id": _uid(MODEL_NS, json.dumps({"task_run_id": trid, "loop_id": loop.loop_id, "workspace_id": ws,
                                                   "model_type": model_type, "model_config": model_conf,
                                                   "dataset_config": dataset}, sort_keys=True, default=str)).hex})
        _bundle(db_dir / "production_bundles" / bid, bid, trid, loop, ws, ws_dir, generated,
                "model.txt" if (ws_dir / "model.txt").is_file() else "")
        registry.add_loop(loop, trid, ws, bid, metrics, ids, files, strategy_id)
        with_cost = "1day.excess_return_with_cost"
        task_loops.setdefault(loop.task, []).append({
            "loop_id": loop.loop_id, "exp_type": "QlibFactorExperiment" if loop.action == "factor" else
            "QlibModelExperiment", "hypothesis": f"Add {loop.factors[-1]}", "reason": "demo",
            "valid_score": metrics["IC"], "test_score": metrics["Rank IC"], "mle_score": None,
            "annualized_return": metrics[f"{with_cost}.annualized_return"],
            "max_drawdown": metrics[f"{with_cost}.max_drawdown"],
            "information_ratio": metrics[f"{with_cost}.information_ratio"],
            "is_sota": loop.decision, "feedback": loop.decision})
    for task in sorted(task_loops):
        registry.add_task_run(ids.task_run_id(task), ids.task_id(task), generated)
        _task_snapshot(cat_dir / "tasks" / ids.task_id(task), task, task_loops[task], ids, rng)
    registry.close()
    for name, entry in factor_entries.items():
        perf = entry.pop("_perf")
        entry["best_performance"] = f"Sharpe: {perf[0]:.2f}, Ann.Ret: {perf[1] * 100:.2f}%"
        factor_entries[name] = entry
    factors = sorted([*({**a, "best_performance": "无回测记录"} for a in alpha_entries), *factor_entries.values()],
                     key=lambda f: f["name"])
    envelope = {"version": "v1", "generated_at_utc": generated, "source": "rdagent_tools"}
    _dump(cat_dir / "factor_catalog.json", {**envelope, "factors": factors})
    _dump(cat_dir / "strategy_catalog.json", {**envelope, "strategies": sorted(strategies.values(),
                                                                               key=lambda s: s["strategy_id"])})
    _dump(cat_dir / "loop_catalog.json", {**envelope, "loops": loop_entries[::-1]})
    _dump(cat_dir / "model_catalog.json", {**envelope, "models": model_entries})


def _factor_meta_item(name: str, trid: str, loop: DemoLoop, metrics: dict[str, float], ids: _Ids) -> dict[str, Any]:
    f = FACTORS_BY_NAME[name]
    lookback = int("".join(ch for ch in name.split("_")[-1] if ch.isdigit()) or 10)
    return {
        "name": name, "source": "rdagent_generated", "region": "cn", "description_cn": f.description,
        "formula_hint": f.formulation, "expression": f.expression, "created_at_utc": ids.at(loop),
        "experiment_id": f"{trid}/{loop.loop_id}", "tags": ["rdagent"], "variables": {}, "freq": "1d",
        "align": "close", "nan_policy": "dataservice_default",
        "input_schema": {"required_fields": ["$close", "$volume"], "optional_fields": ["$high", "$low"],
                         "lookback_days": lookback, "index_type": "MultiIndex(datetime, instrument)",
                         "description": "daily_pv.h5"},
        "impl_module": "rd_factors_lib.generated", "impl_func": name, "impl_version": ids.base.strftime("%Y%m%d"),
        "interface_info": {"type": "function"},
        "_perf": (metrics["1day.excess_return_without_cost.information_ratio"],
                  metrics["1day.excess_return_without_cost.annualized_return"]),
    }


def _workspace(ws_dir: Path, loop: DemoLoop, trid: str, ws: str, ids: _Ids, metrics: dict[str, float],
               conf: dict[str, Any], generated: str, exported: ExportedLgb | None = None) -> dict[str, str]:
    """The loop's workspace files (what the backfill tool registers as artifacts); returns {relpath: kind}.
    ``exported``: the trained model, written as LightGBM text ``model.txt`` with its feature schema."""
    ws_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}

    def put(rel: str, text: str, kind: str) -> None:
        (ws_dir / rel).write_text(text, encoding="utf-8")
        files[rel] = kind

    put("conf.yaml", _yaml(conf), "config_snapshot")
    put("qlib_res.csv", _qlib_res_csv(metrics), "backtest_metrics")
    for name in loop.factors:
        put(f"{name}_factor.py", FACTORS_BY_NAME[name].source, "factor_meta")
    without = "1day.excess_return_without_cost"
    window = {"name": "main_window", "annual_return": metrics[f"{without}.annualized_return"],
              "max_drawdown": metrics[f"{without}.max_drawdown"], "sharpe": metrics[f"{without}.information_ratio"],
              "metrics": {**metrics, "ic": metrics["IC"], "ic_ir": metrics["ICIR"]}}
    put("factor_perf.json", json.dumps({"version": "v1", "task_run_id": trid, "loop_id": loop.loop_id,
                                        "generated_at_utc": generated, "factors": [], "combinations": [
                                            {"name": "main", "factor_names": list(loop.factors),
                                             "windows": [window]}]}, indent=1), "factor_perf")
    put("feedback.json", json.dumps({"version": "v1", "task_run_id": trid, "loop_id": loop.loop_id,
                                     "generated_at_utc": generated, "decision": loop.decision,
                                     "hypothesis": f"Add {loop.factors[-1]}", "summary": {
                                         "execution": "ok", "value_feedback": f"IC {metrics['IC']:.4f}",
                                         "shape_feedback": "", "code_critic": [], "limitations": []}}, indent=1),
        "feedback")
    put("model_meta.json", json.dumps({
        "model_type": "DemoMLP" if loop.model == "GeneralPTNN" else "LGBModel", "model_conf": conf["task"]["model"],
        "dataset_conf": conf["task"]["dataset"], "feature_schema": exported.feature_schema if exported else None,
        "preprocess_config": {"normalize": "zscore", "fillna": "forward_fill", "clip": None,
                              "standardize_features": True},
        "task_run_id": trid, "loop_id": loop.loop_id, "workspace_id": ws}, indent=1), "model_meta")
    if loop.model == "GeneralPTNN":
        put("model.py", MODEL_PY, "model")
    if exported is not None:
        put("model.txt", exported.text, "model")
    return files


def _bundle(folder: Path, bid: str, trid: str, loop: DemoLoop, ws: str, ws_dir: Path, generated: str,
            model_file: str = "") -> None:
    target = folder / "workspaces" / ws
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(ws_dir.iterdir()):
        if (path.suffix in (".py", ".yaml", ".json") or path.name == model_file) and path.name not in (
                "factor_perf.json", "feedback.json"):
            shutil.copyfile(path, target / path.name)
    (target / "factor_entry.py").write_text(FACTOR_ENTRY_PY, encoding="utf-8")
    (folder / "self_check.py").write_text(SELF_CHECK_PY, encoding="utf-8")
    _dump(folder / "manifest.json", {
        "schema_version": 1, "asset_bundle_id": bid, "task_run_id": trid, "loop_id": loop.loop_id,
        "generated_at_utc": generated, "primary_workspace_id": ws,
        "source_workspace_path": f"/mnt/f/rdagent/git_ignore_folder/RD-Agent_workspace/{ws}", "log_dir": "",
        "log_uri": "", "primary_assets": {"factor_entry_relpath": f"workspaces/{ws}/factor_entry.py",
                                          "model_weight_relpath": f"workspaces/{ws}/{model_file}" if model_file
                                          else "", "config_relpath": f"workspaces/{ws}/conf.yaml"}})


def _task_snapshot(folder: Path, task: int, loops: list[dict[str, Any]], ids: _Ids, rng: np.random.Generator) -> None:
    task_id = ids.task_id(task)
    task_loops = [lp for lp in LOOPS if lp.task == task]
    sota = [lp for lp in task_loops if lp.decision and lp.action == "factor"]
    anchor = sota[-1] if sota else None
    ws_ids = sorted(ids.workspace_id(lp) for lp in task_loops)
    session = {"source_session_dir_id": str(len(task_loops) - 1), "chosen_session_file": "3_feedback",
               "hist_len": len(task_loops), "error": None}
    _dump(folder / "task.json", {"task_id": task_id, "updated_at_utc": ids.at(task_loops[-1], 5),
                                 "has_sota": anchor is not None})
    _dump(folder / "summary.json", {"ok": True, "task_id": task_id, "log_dir": f"/mnt/f/rdagent/log/{task_id}",
                                    "workspace_ids": ws_ids, "session_anchor": session, "sota_factor_anchor": {
                                        "last_sota_factor_index": anchor.loop_id if anchor else None,
                                        "model_exp_index": None}})
    _dump(folder / "loops.json", {"ok": True, "task_id": task_id, "count": len(loops), "loops": loops})
    aligned: dict[str, Any] = {}
    names = list(anchor.factors) if anchor else []
    for name in names:
        f = FACTORS_BY_NAME[name]
        aligned[name] = {"factor_name": name, "original_name": name, "source_code": f.source,
                         "source_code_length": len(f.source), "source_from": f"hist[{anchor.loop_id}]",
                         "factor_formulation": f.formulation, "factor_description": f.description,
                         "variables": {}, "metrics": {"ic": float(np.round(rng.normal(0.02, 0.01), 6)), "_raw": {}}}
    _dump(folder / "sota_aligned.json", {
        "task_id": task_id, "success": True, "aligned_factors": aligned, "factor_names": names,
        "factor_count": len(names), "last_sota_hist_index": anchor.loop_id if anchor else None,
        "based_experiments_count": 0, "error": None})
    assets = folder / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    sources: dict[str, str] = {}
    if anchor:
        (assets / "factor.py").write_text(FACTORS_BY_NAME[anchor.factors[-1]].source, encoding="utf-8")
        sources["factor.py"] = "factor"
    meta_loop = task_loops[-1]
    (assets / "model_meta.json").write_text(json.dumps({"model_type": meta_loop.model, "task_run_id":
                                                        ids.task_run_id(task), "loop_id": meta_loop.loop_id}))
    sources["model_meta.json"] = "factor"
    _dump(assets / "_sources.json", sources)


class _Registry:
    """RD-Agent's registry.sqlite with the contract's tables (rdagent.md §5)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path)
        self.conn.executescript("""
        CREATE TABLE task_runs(task_run_id TEXT PRIMARY KEY, scenario TEXT, status TEXT, created_at_utc TEXT,
            updated_at_utc TEXT, git_sha TEXT, rdagent_version TEXT, log_trace_path TEXT, params_json TEXT);
        CREATE TABLE loops(task_run_id TEXT, loop_id INT, action TEXT, status TEXT, has_result INT,
            best_workspace_id TEXT, started_at_utc TEXT, ended_at_utc TEXT, error_type TEXT, error_message TEXT,
            ic_mean REAL, rank_ic_mean REAL, ann_return REAL, mdd REAL, turnover REAL, multi_score REAL,
            metrics_json TEXT, log_dir TEXT, materialization_status TEXT, materialization_error TEXT,
            materialization_updated_at_utc TEXT, asset_bundle_id TEXT, is_solidified INT, sync_status TEXT,
            updated_at_utc TEXT, PRIMARY KEY(task_run_id, loop_id));
        CREATE TABLE workspaces(workspace_id TEXT PRIMARY KEY, task_run_id TEXT, loop_id INT, workspace_role TEXT,
            experiment_type TEXT, step_name TEXT, status TEXT, workspace_path TEXT, meta_path TEXT,
            summary_path TEXT, manifest_path TEXT, created_at_utc TEXT, updated_at_utc TEXT);
        CREATE INDEX ix_ws_loop ON workspaces(task_run_id, loop_id);
        CREATE TABLE artifacts(artifact_id TEXT PRIMARY KEY, task_run_id TEXT, loop_id INT, workspace_id TEXT,
            artifact_type TEXT, name TEXT, version TEXT, status TEXT, primary_flag INT, summary_json TEXT,
            entry_path TEXT, model_type TEXT, model_conf_json TEXT, dataset_conf_json TEXT,
            feature_schema_json TEXT, created_at_utc TEXT, updated_at_utc TEXT);
        CREATE TABLE artifact_files(file_id TEXT PRIMARY KEY, artifact_id TEXT, workspace_id TEXT, path TEXT,
            sha256 TEXT, size_bytes INT, mtime_utc TEXT, kind TEXT);
        CREATE INDEX ix_artifacts_loop ON artifacts(task_run_id, loop_id);
        CREATE INDEX ix_artifact_files_artifact ON artifact_files(artifact_id);
        CREATE TABLE factor_registry(factor_name TEXT, expression TEXT, performance_json TEXT,
            asset_bundle_id TEXT, workspace_id TEXT, task_run_id TEXT, loop_id INT, updated_at_utc TEXT,
            PRIMARY KEY(factor_name, asset_bundle_id));
        """)

    def add_task_run(self, trid: str, task_id: str, at: str) -> None:
        self.conn.execute("INSERT INTO task_runs VALUES (?,?,?,?,?,?,?,?,?)",
                          (trid, "QlibFactorLoop", "success", at, at, "0" * 40, "0.8.0",
                           f"/mnt/f/rdagent/log/{task_id}", "{}"))

    def add_loop(self, loop: DemoLoop, trid: str, ws: str, bid: str, metrics: dict[str, float], ids: _Ids,
                 files: dict[str, str], strategy_id: str) -> None:
        w = "1day.excess_return_with_cost"
        self.conn.execute(
            "INSERT INTO loops VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (trid, loop.loop_id, loop.action, "success", 1, ws, ids.at(loop), ids.at(loop, 8), None, None,
             metrics["IC"], metrics["Rank IC"], None, metrics[f"{w}.max_drawdown"], None, None,
             json.dumps(metrics), "/mnt/f/rdagent/log", "done", None, ids.at(loop, 9), bid, 1, "pending",
             ids.at(loop, 9)))
        self.conn.execute("INSERT INTO workspaces VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                          (ws, trid, loop.loop_id, "experiment_workspace", loop.action, "running", "success",
                           f"/mnt/f/rdagent/git_ignore_folder/RD-Agent_workspace/{ws}", "workspace_meta.json",
                           "experiment_summary.json", "manifest.json", ids.at(loop), ids.at(loop, 8)))
        by_kind: dict[str, list[str]] = {}
        for rel, kind in files.items():
            by_kind.setdefault(kind, []).append(rel)
        for kind, rels in sorted(by_kind.items()):
            aid = _uid(ARTIFACT_NS, f"{trid}|{ws}|{kind}|{kind}").hex
            self.conn.execute(
                "INSERT INTO artifacts VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (aid, trid, loop.loop_id, ws, kind, kind, "v1", "present", int(kind == "backtest_metrics"),
                 json.dumps({"files": len(rels)}), rels[0], None, None, None, None, ids.at(loop, 8),
                 ids.at(loop, 8)))
            for rel in rels:
                self.conn.execute("INSERT INTO artifact_files VALUES (?,?,?,?,?,?,?,?)",
                                  (_uid(ARTIFACT_NS, f"{aid}|{ws}|{kind}|{rel}").hex, aid, ws, rel, None,
                                   int(hashlib.sha256(rel.encode()).hexdigest()[:4], 16), ids.at(loop, 8), kind))
        without = "1day.excess_return_without_cost"
        for name in loop.factors:
            self.conn.execute(
                "INSERT INTO factor_registry VALUES (?,?,?,?,?,?,?,?)",
                (name, FACTORS_BY_NAME[name].expression, json.dumps({"_combo_metrics": {
                    "name": "main", "factor_names": list(loop.factors),
                    "sharpe": metrics[f"{without}.information_ratio"]}}), bid, ws, trid, loop.loop_id,
                 ids.at(loop, 9)))

    def close(self) -> None:
        self.conn.commit()
        self.conn.close()


def demo_export_dir(settings: Settings) -> Path:
    return settings.resolved_home / "demo_export"


def ensure_demo_export(settings: Settings) -> Path:
    """The demo export under AISTOCK_HOME, generated from the configured market on first use."""
    path = demo_export_dir(settings)
    if not (path / "RDagentDB").is_dir():
        from aistock_core.data.factory import build_service

        write_demo_export(build_service(settings), path, seed=settings.synthetic_seed)
    return path


__all__ = ["DEMO_FACTORS", "LOOPS", "write_demo_export"]
