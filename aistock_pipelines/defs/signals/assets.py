"""Signals assets: the trading-day ``trading_signals`` (08:00) and ``performance_report`` (18:00).

``trading_signals`` of day D turns the ``target_positions`` written the evening before (partition D−1, whose
weights are for D) and that evening's scores (``model_scores``, else the targets spec's fallback signal) into
signals for every active instance, validates them, and follows whatever orders of D already exist.
``performance_report`` closes D's lifecycle after the session (orders → outcomes, leftovers expired), scores
the executed signals at D's close and writes one evaluation per instance (`aistock_core.feedback.analyzer`):
a markdown table and a NAV chart in the metadata, rows in ``performance_reports``.
"""


import base64

import dagster as dg
import pandas as pd

from aistock_core.feedback.analyzer import analyse_day, evaluate_signals, report_markdown, report_png
from aistock_core.signals.daily import generate_day, sync_day
from aistock_core.signals.store import SignalStore
from aistock_core.specs import PipelineSpecs
from aistock_core.strategy.spec import spec_scores
from aistock_pipelines.defs.models.assets import stored_model_scores
from aistock_pipelines.partitions import trade_date, trading_days
from aistock_pipelines.resources import DatabaseResource, DataServiceResource, StoreResource

GROUP = "signals"
TARGETS = "target_positions"
#: The previous session's partition of an upstream asset (its weights are for the session after it).
PREVIOUS_SESSION = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)


def _counts_md(counts: dict[str, dict[str, int]]) -> str:
    states = sorted({s for c in counts.values() for s in c})
    lines = ["| instance | " + " | ".join(states) + " |", "|---|" + "---|" * len(states)]
    lines += [f"| {i} | " + " | ".join(str(c.get(s, 0)) for s in states) + " |" for i, c in sorted(counts.items())]
    return "\n".join(lines)


def build_trading_signals(specs: PipelineSpecs) -> dg.AssetsDefinition:
    spec = specs.targets_spec()

    @dg.asset(name="trading_signals", partitions_def=trading_days, group_name=GROUP, kinds={"sql"},
              deps=[dg.AssetDep(TARGETS, partition_mapping=PREVIOUS_SESSION),
                    dg.AssetDep("model_scores", partition_mapping=PREVIOUS_SESSION)],
              description="The day's trading signals per instance (target weights against each instance's holdings,"
                          " with expected return, confidence and risk), validated, and followed through the day's "
                          "orders (preview and paper/live alike).")
    def _signals(context: dg.AssetExecutionContext, data: DataServiceResource, database: DatabaseResource,
                 store: StoreResource) -> dg.MaterializeResult:
        day = trade_date(context.partition_key)
        service, db, st = data.get_service(), database.get_db(), store.get_store()
        last = service.calendar.previous(day)
        generated = None
        if last in st.partitions(TARGETS):
            targets = st.read_partition(TARGETS, last)["weight"]  # indexed by instrument
            scores = stored_model_scores(store, last, last)
            source = "model_scores"
            if scores is None:
                universe = (spec.universe if spec else None) or data.settings().market
                scores = spec_scores(spec, service, universe, last, last)
                source = f"fallback {spec.signal}"
            cross = scores.xs(last, level="datetime") if last in scores.index.get_level_values(0) else scores.iloc[:0]
            generated = generate_day(db, service, day, targets[targets > 0], cross,
                                     source=f"{TARGETS}@{last:%Y-%m-%d} ({source})")
        else:
            context.log.warning(f"no {TARGETS} for {last:%Y-%m-%d}: no signals generated for {day:%Y-%m-%d}; only "
                                f"orders already placed become signals")
        synced = sync_day(db, service, day, final=False)
        counts = SignalStore(db).state_counts(day)
        refused = (generated.refused if generated else []) + synced.refused
        return dg.MaterializeResult(metadata={
            "generated": dg.MetadataValue.int(generated.added if generated else 0),
            "from_orders": dg.MetadataValue.int(synced.added),
            "transitions": dg.MetadataValue.int((generated.moved if generated else 0) + synced.moved),
            "refused_transitions": dg.MetadataValue.int(len(refused)),
            "signals": dg.MetadataValue.int(sum(sum(c.values()) for c in counts.values())),
            "by_state": dg.MetadataValue.md(_counts_md(counts) if counts else "no signals"),
        })

    return _signals


def build_performance_report(specs: PipelineSpecs) -> dg.AssetsDefinition:
    spec = specs.targets_spec()
    cost_bps = spec.settings().exchange.open_cost * 1e4 if spec else None

    @dg.asset(name="performance_report", partitions_def=trading_days, group_name=GROUP,
              kinds={"sql", "matplotlib"}, deps=["trading_signals", "preview_settlement"],
              description="Evening evaluation of every instance: period returns, Sharpe, drawdown, win rate, the "
                          "day's signals scored against their outcome, patterns (over-confidence, high-risk "
                          "failures, slippage above the research cost) and divergence from research and replay.")
    def _report(context: dg.AssetExecutionContext, data: DataServiceResource, database: DatabaseResource,
                store: StoreResource) -> dg.MaterializeResult:
        day = trade_date(context.partition_key)
        service, db = data.get_service(), database.get_db()
        sync_day(db, service, day, final=True)
        kwargs = {"cost_bps": cost_bps} if cost_bps else {}
        scored = evaluate_signals(db, service, day, **kwargs)
        replay = spec.output_dir(store.resolved_root()) / "report.parquet" if spec else None
        reports, skipped = analyse_day(db, service, day, replay_report=replay, **kwargs)
        for line in skipped:
            context.log.info(f"not evaluated: {line}")
        metadata = {
            "instances": dg.MetadataValue.int(len(reports)),
            "signals_scored": dg.MetadataValue.int(scored),
            "report": dg.MetadataValue.md(report_markdown(reports) if reports else "no instance with account rows"),
            "patterns": dg.MetadataValue.json({r["instance"]: r["patterns"]["patterns"] for r in reports}),
        }
        scores = pd.Series([r["signals"]["avg_evaluation_score"] for r in reports], dtype=float).dropna()
        if len(scores):
            metadata["avg_evaluation_score"] = dg.MetadataValue.float(float(scores.mean()))
        if reports:
            png = report_png(reports, f"instances to {day:%Y-%m-%d}")
            image = base64.b64encode(png).decode()
            metadata["nav_plot"] = dg.MetadataValue.md(f"![nav](data:image/png;base64,{image})")
        return dg.MaterializeResult(metadata=metadata)

    return _report
