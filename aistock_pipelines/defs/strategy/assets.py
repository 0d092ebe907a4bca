"""Strategy assets: a backtest per configured `BacktestSpec`, and the trading-day ``target_positions``.

The specs come from configuration (`aistock_core.specs.load_specs`: a TOML file, else the demo's); the domain
flow — window, scores, engine, outputs — is `aistock_core.strategy.spec.run_and_write`, the same function the
``aistock backtest`` command calls. Outputs go to ``<store>/backtests/<name>/`` (written atomically, with the
window, universe and signal in risk.json); the reconciliation check beside it (`checks.py`) reads them back.
"""


import base64

import dagster as dg

from aistock_core.strategy.backtest.market import load_market
from aistock_core.strategy.backtest.risk import HEADLINE_KPIS
from aistock_core.strategy.config import strategy_from_config
from aistock_core.strategy.spec import BacktestSpec, run_and_write, spec_scores
from aistock_core.strategy.targets import next_day_targets
from aistock_pipelines.defs.models.assets import stored_model_scores
from aistock_pipelines.partitions import trade_date, trading_days
from aistock_pipelines.presentation import money, ratio, table_metadata
from aistock_pipelines.resources import DataServiceResource, StoreResource

GROUP = "strategy"


def kpi_markdown(risk: dict[str, float]) -> str:
    lines = ["| KPI | value |", "|---|---|"]
    lines += [f"| {label} | {risk.get(key, float('nan')):.4f} |" for label, key in HEADLINE_KPIS]
    return "\n".join(lines)


def build_backtest_asset(spec: BacktestSpec) -> dg.AssetsDefinition:
    # Replays bars (and the benchmark) over a research window: it reads the stored days' sources, not one day.
    @dg.asset(name=f"backtest_{spec.name}", group_name=GROUP, kinds={"parquet"},
              deps=["market_bars", "index_bars", *(["model_scores"] if spec.signal == "model" else [])],
              description=f"{spec.strategy.get('class')} backtest ({spec.mode} mode) of scores "
                          f"{'from ' + spec.score_path if spec.score_path else 'of ' + spec.signal}.")
    def _backtest(data: DataServiceResource, store: StoreResource) -> dg.MaterializeResult:
        run, out = run_and_write(spec, data.get_service(), data.settings().market,
                                 spec.output_dir(store.resolved_root()))
        result, window = run.result, run.window
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
            "final_account": money(result.report["account"].iloc[-1]),
        })

    return _backtest


def _targets_md(targets) -> str:
    """Weights to four decimals, share counts as whole shares (lots of 100, never fractions)."""
    return targets.assign(shares=targets["shares"].round().astype("Int64")).to_markdown(floatfmt=".4f")


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
            scores = spec_scores(spec, service, universe, market.dates[0], day)
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
                "one_way_turnover": ratio(turnover),
                "invested": ratio(targets["weight"].sum()),
                "preview": dg.MetadataValue.md(_targets_md(targets.head(10))),
                **table_metadata(frame),
                "rows": dg.MetadataValue.int(rows),
                "path": dg.MetadataValue.path(str(path)),
            },
            data_version=dg.DataVersion(sha256),
        )

    return _targets
