"""`aistock demo`: the plan comes from the asset graph; one command fills the store, the DB and the instance."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from aistock_core.config import get_settings
from aistock_core.data.store import ParquetStore
from aistock_core.db import Database
from aistock_core.db.models import BarPartition, Instrument
from aistock_pipelines.demo import Stage, plan_size, plan_stages, stage_partition_keys
from aistock_pipelines.graph import apply_conventions
from aistock_pipelines.partitions import trading_days

STATIC = dg.StaticPartitionsDefinition(["alpha", "beta"])


def _graph():
    """ref → (day_a → day_b) → summary; day_c alone; per_strategy (static) after day_b."""

    @dg.asset
    def ref() -> None: ...

    @dg.asset(partitions_def=trading_days, deps=[ref])
    def day_a() -> None: ...

    @dg.asset(partitions_def=trading_days, deps=[day_a])
    def day_b() -> None: ...

    @dg.asset(partitions_def=trading_days)
    def day_c() -> None: ...

    @dg.asset(deps=[day_b])
    def summary() -> None: ...

    @dg.asset(partitions_def=STATIC, deps=[day_b])
    def per_strategy() -> None: ...

    return dg.Definitions(assets=[ref, day_a, day_b, day_c, summary, per_strategy]).resolve_asset_graph()


def _names(stage: Stage) -> set[str]:
    return {k.to_user_string() for k in stage.asset_keys}


def test_stages_split_only_where_partitioning_changes():
    stages = plan_stages(_graph())
    assert [_names(s) for s in stages] == [{"ref"}, {"day_a", "day_b", "day_c"}, {"summary"}, {"per_strategy"}]
    assert [s.partitions_def for s in stages] == [None, trading_days, None, STATIC]
    seen: set[str] = set()
    graph = _graph()
    for stage in stages:  # every parent runs in an earlier stage or the same one
        for key in stage.asset_keys:
            parents = {p.to_user_string() for p in graph.get(key).parent_keys}
            assert parents <= seen | _names(stage)
        seen |= _names(stage)


def test_stage_partition_keys():
    last = pd.Timestamp("2026-10-08")
    assert stage_partition_keys(Stage(None, ()), 5, last) == [None]
    assert stage_partition_keys(Stage(trading_days, ()), 2, last) == ["2026-09-30", "2026-10-08"]
    assert stage_partition_keys(Stage(STATIC, ()), 1, last) == ["alpha", "beta"], "static: every key"
    # coarser time periods (the monthly retrain): the ones the demo's days fall in, none in the future
    monthly = dg.MonthlyPartitionsDefinition(start_date="2026-01-01", timezone="Asia/Shanghai", end_offset=1)
    assert stage_partition_keys(Stage(monthly, ()), 2, last) == ["2026-09-01", "2026-10-01"]
    assert stage_partition_keys(Stage(monthly, ()), 1, last) == ["2026-10-01"]


@pytest.fixture
def tiny_market(aistock_home, monkeypatch):
    monkeypatch.setenv("AISTOCK_SYNTHETIC_INSTRUMENTS", "30")
    # set-then-delete so monkeypatch restores the absence after the demo exported its DAGSTER_HOME
    monkeypatch.setenv("DAGSTER_HOME", "unset")
    monkeypatch.delenv("DAGSTER_HOME")
    get_settings.cache_clear()
    return aistock_home


def test_demo_fills_store_db_and_instance(tiny_market):
    from aistock_pipelines.cli.main import app

    result = CliRunner().invoke(app, ["demo", "--days", "2"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "market_bars" in result.output, result.output
    assert "dagster dev -w " in result.output and "workspace.yaml" in result.output, result.output

    store = ParquetStore(tiny_market / "store")
    days = store.partitions("market_bars")
    assert len(days) == 2 and store.partitions("index_bars") == days
    assert set(store.read_range("index_bars").index.get_level_values("instrument")) == {"000300.SH", "000001.SH"}

    db = Database(get_settings().sqlalchemy_url)
    try:
        with db.session() as s:
            ledger = s.execute(select(BarPartition.dataset, BarPartition.trade_date)).all()
            n_instruments = s.scalar(select(func.count()).select_from(Instrument))
        _demo_previews_and_paper(db, days)
    finally:
        db.dispose()
    assert "preview report (open in a browser)" in result.output
    assert (tiny_market / "reports" / "preview.html").is_file()
    assert sorted(ledger) == sorted((ds, d.date()) for ds in ("market_bars", "index_bars") for d in days)
    assert n_instruments >= 30 + 2

    home = tiny_market / "dagster"
    assert (home / "dagster.yaml").is_file()
    from aistock_pipelines.definitions import defs

    expected_runs = plan_size(defs, 2, days[-1])  # grows as boxes add assets; ≥ 1 + 2 (reference + 2 days)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"aistock/demo": "true"}))
        assert len(runs) == expected_runs >= 3 and all(r.is_success for r in runs)
        assert not {r.job_name for r in runs if r.job_name.startswith("__")}, "runs go through named jobs"
        assert instance.get_latest_materialization_event(dg.AssetKey("market_bars")) is not None
        paper = instance.get_runs(filters=dg.RunsFilter(job_name="paper_orders"))
        assert len(paper) == 2 and all(r.is_success for r in paper), "the paper instance trades each day by job"
        latest = {key: instance.get_latest_materialization_event(key).asset_materialization.metadata
                  for key in defs.resolve_asset_graph().materializable_asset_keys}
    tables = ["instruments", "market_bars", "index_bars", "alpha158_factors", "model_scores", "target_positions"]
    for name in tables:
        schema = latest[dg.AssetKey(name)]["dagster/column_schema"].value
        assert schema.columns and latest[dg.AssetKey(name)]["dagster/row_count"].value > 0, name
    final = latest[dg.AssetKey("backtest_topk_dropout")]["final_account"].value
    assert final == round(final, 2), "money to the fen"
    preview = latest[dg.AssetKey("target_positions")]["preview"].value
    header, _, *rows = preview.splitlines()
    column = [c.strip() for c in header.split("|")].index("shares")
    shares = [row.split("|")[column].strip() for row in rows]
    assert shares and all(s.lstrip("-").isdigit() for s in shares), preview


def _demo_previews_and_paper(db: Database, days: list[pd.Timestamp]) -> None:
    """Issue 10/11 demo: ≥ 10 preview instances with a settled NAV on every demo day, reconciled to the cent, and
    the paper instance's orders on every demo day."""
    from aistock_core.db.models.execution import TradeIntent
    from aistock_core.db.models.preview import PreviewAccount

    with db.session() as s:
        settled = s.execute(select(PreviewAccount.preview_id, func.count()).where(PreviewAccount.settled)
                            .group_by(PreviewAccount.preview_id)).all()
        paper_days = set(s.scalars(select(TradeIntent.trading_day).where(TradeIntent.instance == "demo-paper")))
    assert len(settled) >= 10 and {n for _, n in settled} == {len(days)}
    assert paper_days == {d.date() for d in days}
    _demo_feedback(db, days, {f"preview-{i}" for i, _ in settled} | {"trade-demo-paper"})


def _demo_feedback(db: Database, days: list[pd.Timestamp], instances: set[str]) -> None:
    """Issue 12 demo: a day's LiveFeedback file for every instance on the last demo day, each on disk and valid
    against the shipped schema; the optimizer's proposals left pending (none applied without an approval)."""
    import json
    from pathlib import Path

    from aistock_core.db.models.feedback import FeedbackDecision, FeedbackFile, FeedbackProposal
    from aistock_core.demo.specs import DEMO_MODEL
    from aistock_core.feedback.livefeedback import validate

    last = days[-1].date()
    with db.session() as s:
        files = list(s.scalars(select(FeedbackFile).where(FeedbackFile.kind == "day", FeedbackFile.end_date == last)))
        statuses = set(s.scalars(select(FeedbackProposal.status)))
        decisions = s.scalar(select(func.count()).select_from(FeedbackDecision))
    assert {f.instance for f in files} == instances
    docs = [json.loads(Path(f.path).read_text()) for f in files]
    for doc in docs:
        validate(doc)
    models = [doc["config"]["model"] for doc in docs if doc["config"]["model"]["name"] == DEMO_MODEL]
    assert models and all(m["version"] and m["trained_until"] < f"{last:%Y-%m-%d}" for m in models)
    assert statuses <= {"pending"} and decisions == 0


def test_a_failing_run_stops_the_demo_with_the_assets_own_error(aistock_home, monkeypatch):
    from aistock_core.errors import DataError
    from aistock_pipelines.demo import DemoError, run_demo

    monkeypatch.setenv("DAGSTER_HOME", "unset")
    monkeypatch.delenv("DAGSTER_HOME")

    @dg.asset(partitions_def=trading_days)
    def fragile(context) -> None:  # unannotated: this module postpones annotations
        if context.partition_key == "2026-10-08":
            raise DataError("no bars for 2026-10-08 in test-source")

    with pytest.raises(DemoError, match=r"fragile partition 2026-10-08 failed: DataError: no bars for 2026-10-08 in"):
        run_demo(apply_conventions(dg.Definitions(assets=[fragile])), get_settings(), days=2,
                 last_day=pd.Timestamp("2026-10-08"))
    with dg.DagsterInstance.from_config(str(aistock_home / "dagster")) as instance:
        assert [r.is_success for r in instance.get_runs()] == [False, True], "first day ran, second failed"


def test_bad_settings_fail_before_any_run(aistock_home, monkeypatch):
    from aistock_pipelines.cli.main import app

    monkeypatch.setenv("AISTOCK_DATA_SOURCE", "qlib")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["demo", "--days", "1"])
    assert result.exit_code == 2 and "AISTOCK_PROVIDER_URI" in result.output
    assert not (aistock_home / "dagster").exists()
