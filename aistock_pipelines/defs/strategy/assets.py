"""Strategy assets: a backtest per configured strategy, and the trading-day ``target_positions``.

A `BacktestSpec` names one strategy (Qlib's catalog block), its window, mode and where scores come from (a
score file, else the documented default signal in `aistock_core.strategy.signals`, so the graph runs on the
embedded synthetic market before any model exists). Outputs go to ``<store>/backtests/<name>/`` (written
atomically, with the window, universe and signal in risk.json); the reconciliation check beside it
(`checks.py`) reads them back. The default spec is the replay of the research catalog's reference loop
(`demo_export.REPLAY_TAG`): same strategy and backtest blocks, same window rule, same signal.
"""


import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from aistock_core.errors import StrategyError
from aistock_core.research.demo_export import REPLAY_BACKTEST, REPLAY_SESSIONS, REPLAY_STRATEGY, REPLAY_TAG
from aistock_core.strategy.backtest.ashare_mode import AshareConfig
from aistock_core.strategy.backtest.engine import run_backtest
from aistock_core.strategy.backtest.market import load_market
from aistock_core.strategy.backtest.outputs import write_outputs
from aistock_core.strategy.backtest.risk import HEADLINE_KPIS
from aistock_core.strategy.config import BacktestSettings, strategy_from_config
from aistock_core.strategy.reconcile import FLOAT32_TOLERANCES, replay_window
from aistock_core.strategy.scores import read_score_file
from aistock_core.strategy.signals import DEFAULT_SIGNAL, signal_scores
from aistock_core.strategy.targets import next_day_targets
from aistock_pipelines.defs.models.assets import stored_model_scores
from aistock_pipelines.partitions import trade_date, trading_days
from aistock_pipelines.resources import DataServiceResource, StoreResource

GROUP = "strategy"


@dataclass(frozen=True)
class BacktestSpec:
    """One strategy to backtest and reconcile.

    ``strategy``: Qlib's strategy block (catalog ``portfolio_config``); ``backtest``: Qlib's backtest block
    (``backtest_config``: account, benchmark, exchange_kwargs, optional start/end). Without start/end the last
    ``sessions`` sessions of the data are used. ``recorded_qlib_res`` / ``recorded_loop`` (run_id, loop_id)
    / ``recorded_tag`` (the synced loop whose catalog entry carries ``replay_reference.tag``) name the KPIs the
    reconciliation check compares with, first set first.
    """

    name: str
    strategy: dict[str, Any]
    backtest: dict[str, Any] = field(default_factory=dict)
    mode: str = "qlib"
    sessions: int = 250
    universe: str | None = None
    score_path: str | None = None
    signal: str = DEFAULT_SIGNAL
    recorded_qlib_res: str | None = None
    recorded_loop: tuple[str, int] | None = None
    recorded_tag: str | None = None
    tolerances: dict[str, tuple[float, float]] = field(default_factory=dict)

    def settings(self) -> BacktestSettings:
        return BacktestSettings.from_qlib(self.backtest)

    def output_dir(self, store: StoreResource) -> Path:
        return store.resolved_root() / "backtests" / self.name


#: The strategy the default graph backtests: RD-Agent's plain Qlib template (contract §9), replaying the
#: catalog's reference loop. Research ran it on float32 Qlib bins, we on the provider's bars: hence the
#: float32 tolerances (`reconcile.FLOAT32_TOLERANCES`).
DEFAULT_SPEC = BacktestSpec(
    name="topk_dropout",
    strategy=REPLAY_STRATEGY,
    backtest=REPLAY_BACKTEST,
    sessions=REPLAY_SESSIONS,
    recorded_tag=REPLAY_TAG,
    tolerances=FLOAT32_TOLERANCES,
)


def spec_scores(spec: BacktestSpec, data: DataServiceResource, universe: str, start, end) -> pd.Series:
    """The spec's scores: its score file, else its signal expression over [start, end]."""
    if spec.score_path:
        return read_score_file(spec.score_path)
    return signal_scores(data.get_service(), universe, start, end, spec.signal)


def run_spec(spec: BacktestSpec, data: DataServiceResource):
    """(result, settings, universe) of a spec's backtest over its window (`reconcile.replay_window`)."""
    if spec.mode not in ("qlib", "ashare"):
        raise StrategyError(f"backtest spec {spec.name!r}: mode {spec.mode!r} is not 'qlib' or 'ashare'")
    service = data.get_service()
    settings = spec.settings()
    universe = spec.universe or data.settings().market
    start, end = replay_window(service, spec.sessions, settings.start, settings.end)
    market = load_market(service, universe, start, end, benchmark=settings.benchmark)
    scores = spec_scores(spec, data, universe, market.dates[0], market.dates[-2] if len(market.dates) > 1 else end)
    exchange = settings.exchange if spec.mode == "qlib" else AshareConfig()
    result = run_backtest(market, scores, strategy_from_config(spec.strategy), mode=spec.mode,
                          account=settings.account, exchange=exchange)
    return result, settings, universe


def kpi_markdown(risk: dict[str, float]) -> str:
    lines = ["| KPI | value |", "|---|---|"]
    lines += [f"| {label} | {risk.get(key, float('nan')):.4f} |" for label, key in HEADLINE_KPIS]
    return "\n".join(lines)


def build_backtest_asset(spec: BacktestSpec) -> dg.AssetsDefinition:
    @dg.asset(name=f"backtest_{spec.name}", group_name=GROUP, kinds={"parquet"},
              description=f"{spec.strategy.get('class')} backtest ({spec.mode} mode) of scores "
                          f"{'from ' + spec.score_path if spec.score_path else 'of ' + spec.signal}.")
    def _backtest(data: DataServiceResource, store: StoreResource) -> dg.MaterializeResult:
        result, settings, universe = run_spec(spec, data)
        window = [f"{result.report.index[0]:%Y-%m-%d}", f"{result.report.index[-1]:%Y-%m-%d}"]
        out = write_outputs(result, spec.output_dir(store), settings.account,
                            meta={"spec": spec.name, "strategy": spec.strategy, "benchmark": settings.benchmark,
                                  "window": window, "universe": universe,
                                  "signal": None if spec.score_path else spec.signal},
                            title=f"{spec.name} ({spec.mode})")
        png = (out / "nav.png").read_bytes()
        counts = result.trade_counts()
        return dg.MaterializeResult(metadata={
            "kpis": dg.MetadataValue.md(kpi_markdown(result.risk)),
            "nav_plot": dg.MetadataValue.md(f"![nav](data:image/png;base64,{base64.b64encode(png).decode()})"),
            "nav_png": dg.MetadataValue.path(str(out / "nav.png")),
            "outputs": dg.MetadataValue.path(str(out)),
            "window": dg.MetadataValue.text("..".join(window)),
            "days": dg.MetadataValue.int(len(result.report)),
            **{f"trades_{k}": dg.MetadataValue.int(v) for k, v in counts.items()},
            "final_account": dg.MetadataValue.float(float(result.report["account"].iloc[-1])),
        })

    return _backtest


def build_target_positions(spec: BacktestSpec, lookback: int = 60) -> dg.AssetsDefinition:
    """Trading-day asset: the next session's target weights from the day's scores (store ``target_positions``)."""

    @dg.asset(name="target_positions", partitions_def=trading_days, group_name=GROUP, kinds={"parquet"},
              deps=["model_scores"],
              description=f"Next session's target weights of {spec.strategy.get('class')} from the champion "
                          f"model's scores (holdings replayed over {lookback} sessions).")
    def _targets(context: dg.AssetExecutionContext, data: DataServiceResource,
                 store: StoreResource) -> dg.MaterializeResult:
        day = trade_date(context.partition_key)
        service = data.get_service()
        cal = service.calendar
        universe = spec.universe or data.settings().market
        start = cal.offset(day, -lookback)
        settings = spec.settings()
        # The champion's scores (models box); the replay starts at its first scored day. Without them, the
        # documented fallback signal (`aistock_core.strategy.signals`), loudly.
        scores = stored_model_scores(store, start, day)
        from_model = scores is not None
        if scores is None:
            context.log.warning(f"no model_scores for {day:%Y-%m-%d}: target weights use the fallback signal "
                                f"{spec.signal!r}, not a model; materialize model_scores first")
        else:
            start = scores.index.get_level_values("datetime").min()
        market = load_market(service, universe, start, day, benchmark=None)
        if scores is None:
            scores = spec_scores(spec, data, universe, market.dates[0], day)
        targets = next_day_targets(market, scores, strategy_from_config(spec.strategy), cal.next(day),
                                   account=settings.account)
        frame = targets.assign(next_session=cal.next(day))
        path, sha256, rows = store.get_store().write_partition("target_positions", day, frame)
        turnover = float((targets["weight"] - targets["today_weight"]).abs().sum() / 2)
        return dg.MaterializeResult(
            metadata={
                "names": dg.MetadataValue.int(int((targets["weight"] > 0).sum())),
                "score_source": dg.MetadataValue.text("model_scores" if from_model else f"fallback {spec.signal}"),
                "next_session": dg.MetadataValue.text(f"{cal.next(day):%Y-%m-%d}"),
                "one_way_turnover": dg.MetadataValue.float(turnover),
                "invested": dg.MetadataValue.float(float(targets["weight"].sum())),
                "preview": dg.MetadataValue.md(targets.head(10).to_markdown(floatfmt=".4f")),
                "rows": dg.MetadataValue.int(rows),
                "path": dg.MetadataValue.path(str(path)),
            },
            data_version=dg.DataVersion(sha256),
        )

    return _targets


backtest_topk_dropout = build_backtest_asset(DEFAULT_SPEC)
target_positions = build_target_positions(DEFAULT_SPEC)
