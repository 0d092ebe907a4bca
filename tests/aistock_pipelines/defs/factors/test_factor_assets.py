"""Factor assets and their blocking alignment checks, run through Dagster on a small synthetic market."""

from __future__ import annotations

import textwrap

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from aistock_core.db import Database
from aistock_core.factors.registry import alignment_results, factor_status
from aistock_core.factors.sets import FactorSet, code_factor_set
from aistock_pipelines.defs.factors.checks import build_factor_set
from aistock_pipelines.partitions import trading_days
from aistock_pipelines.resources import DatabaseResource, DataServiceResource, StoreResource

DAY = "2023-03-15"
MOM_CODE = textwrap.dedent('''
    import pandas as pd

    def calculate_{name}():
        df = pd.read_hdf("daily_pv.h5", key="data")
        mom = df["close"].groupby(level="instrument").pct_change(5)
        mom.to_frame("{name}").astype("float32").to_hdf("result.h5", key="data")
''')
RANGE_CODE = textwrap.dedent('''
    import pandas as pd

    class range_10D:
        def fit_transform(self, df):
            g = df.groupby(level="instrument")
            hi = g["high"].transform(lambda s: s.rolling(10, min_periods=1).max())
            lo = g["low"].transform(lambda s: s.rolling(10, min_periods=1).min())
            return (hi - lo) / df["close"]

    def factor_range_10D(df):
        return range_10D().fit_transform(df)
''')


@pytest.fixture
def resources(aistock_home, tmp_path):
    return {
        "data": DataServiceResource(data_source="synthetic", synthetic_seed=11, synthetic_instruments=6),
        "store": StoreResource(root=str(tmp_path / "store")),
        "database": DatabaseResource(url=f"sqlite:///{tmp_path / 'app.db'}"),
    }


def _definitions(spec: FactorSet):
    asset, check = build_factor_set(spec)

    @dg.asset(partitions_def=trading_days, deps=[asset], name=f"{spec.name}_consumer")
    def consumer() -> None:
        """Stands for a model or strategy that must not read unverified factors."""

    return asset, check, consumer


def _code_set(expressions: dict[str, str], codes: dict[str, str], tmp_path) -> FactorSet:
    folder = tmp_path / "code"
    folder.mkdir(exist_ok=True)
    for name, source in codes.items():
        (folder / f"{name}.py").write_text(source)
    return code_factor_set("rd_factors", str(folder), expressions, lookback=12)


@pytest.mark.usefixtures("os_sandbox")
def test_verified_code_factors_let_downstream_run(resources, tmp_path):
    spec = _code_set({"mom_5D": "$close/Ref($close, 5) - 1",
                      "range_10D": "(Max($high, 10) - Min($low, 10)) / $close"},
                     {"mom_5D": MOM_CODE.format(name="mom_5D"), "range_10D": RANGE_CODE}, tmp_path)
    result = dg.materialize(list(_definitions(spec)), partition_key=DAY, resources=resources)
    assert result.success
    evaluation = result.get_asset_check_evaluations()[0]
    assert evaluation.passed, evaluation.description
    meta = evaluation.metadata
    assert meta["factors"].value == 2 and meta["failed"].value == 0 and meta["nan_mismatches"].value == 0
    assert meta["max_rel_err"].value <= 1e-5
    stored = resources["store"].get_store().read_partition("rd_factors", DAY)
    assert list(stored.columns) == ["mom_5D", "range_10D"] and (stored.dtypes == np.float32).all()
    assert len(stored) >= 3 and stored.notna().any().all()
    materialized = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    assert materialized == {"rd_factors", "rd_factors_consumer"}
    db = Database(resources["database"].resolved_url())
    assert factor_status(db)["status"].tolist() == ["verified", "verified"]
    rows = alignment_results(db)
    assert set(rows["window"]) == {DAY} and (rows["reference_kind"] == "code").all()
    assert rows["rows_compared"].tolist() == [len(stored)] * 2
    db.dispose()


@pytest.mark.usefixtures("os_sandbox")
def test_wrong_migrated_factor_fails_the_check_and_skips_downstream(resources, tmp_path):
    spec = _code_set({"mom_5D": "$close/Ref($close, 4) - 1"},  # deliberately wrong: 4 days instead of 5
                     {"mom_5D": MOM_CODE.format(name="mom_5D")}, tmp_path)
    result = dg.materialize(list(_definitions(spec)), partition_key=DAY, resources=resources,
                            raise_on_error=False)
    evaluation = result.get_asset_check_evaluations()[0]
    assert not evaluation.passed
    assert "mom_5D" in evaluation.description and evaluation.metadata["failed"].value == 1
    assert "mom_5D" in evaluation.metadata["worst_columns"].value
    materialized = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    assert materialized == {"rd_factors"}  # the consumer never ran
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert "rd_factors_consumer" not in started and not result.success
    db = Database(resources["database"].resolved_url())
    status = factor_status(db).set_index("name")
    assert status.loc["mom_5D", "status"] == "failed"
    assert status.loc["mom_5D", "expression"] == "$close/Ref($close, 4) - 1"
    db.dispose()


def test_code_that_crashes_fails_the_check_with_the_reason(resources, tmp_path):
    spec = _code_set({"mom_5D": "$close/Ref($close, 5) - 1"}, {"mom_5D": "import os\n"}, tmp_path)
    result = dg.materialize(list(_definitions(spec)), partition_key=DAY, resources=resources,
                            raise_on_error=False)
    evaluation = result.get_asset_check_evaluations()[0]
    assert not evaluation.passed and "banned-import" in evaluation.metadata["worst_columns"].value
    db = Database(resources["database"].resolved_url())
    assert "banned-import" in factor_status(db).set_index("name").loc["mom_5D", "error"]
    db.dispose()


def test_qlib_reference_that_cannot_run_is_a_warn_failure_not_a_pass(resources, monkeypatch):
    import aistock_pipelines.defs.factors.checks as checks

    monkeypatch.setattr(checks, "qlib_available", lambda: False)
    spec = FactorSet(name="q_factors", expressions={"roc5": "Ref($close, 5)/$close"}, reference="qlib")
    result = dg.materialize(list(_definitions(spec)), partition_key=DAY, resources=resources)
    evaluation = result.get_asset_check_evaluations()[0]
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert "nothing verified" in evaluation.description and "qlib" in evaluation.metadata["note"].value


@pytest.mark.qlib
def test_alpha158_subset_matches_qlib(resources):
    from aistock_core.factors.alpha158 import alpha158_expressions

    names = ["KMID", "ROC5", "MA10", "STD20", "CORR10", "RSQR10", "IMAX20", "VSUMP5"]
    every = alpha158_expressions()
    spec = FactorSet(name="alpha158_subset", expressions={n: every[n] for n in names}, reference="qlib")
    result = dg.materialize(list(_definitions(spec)), partition_key=DAY, resources=resources)
    evaluation = result.get_asset_check_evaluations()[0]
    assert evaluation.passed, evaluation.metadata["worst_columns"].value
    assert evaluation.metadata["rows_compared"].value >= 3


def test_default_definitions_hold_alpha158_and_rdagent_factors_with_blocking_checks():
    from aistock_pipelines.defs.factors import defs

    checks = {spec.asset_key.to_user_string(): spec for c in defs.asset_checks for spec in c.check_specs}
    assert set(checks) == {"alpha158_factors", "rdagent_factors"} and all(s.blocking for s in checks.values())
    assert {dg.AssetKey("alpha158_factors"), dg.AssetKey("rdagent_factors")} <= {k for a in defs.assets
                                                                                 for k in a.keys}


@pytest.mark.usefixtures("os_sandbox")
def test_demo_rdagent_factors_match_their_code_through_the_registered_check(resources):
    """The registered set: the demo export's five code factors, their expressions and a blocking code check."""
    from aistock_core.demo.factors import DEMO_FACTORS
    from aistock_core.demo.specs import demo_rdagent_set

    RDAGENT = demo_rdagent_set()
    rdagent_factors, rdagent_alignment = build_factor_set(RDAGENT)
    assert RDAGENT.reference == "code" and RDAGENT.adjust == "qfq" and RDAGENT.source == "rdagent_generated"
    assert dict(RDAGENT.expressions) == {f.name: f.expression for f in DEMO_FACTORS}
    assert dict(RDAGENT.code_sources) == {f.name: f.source for f in DEMO_FACTORS}
    result = dg.materialize([rdagent_factors, rdagent_alignment], partition_key=DAY, resources=resources)
    evaluation = result.get_asset_check_evaluations()[0]
    assert evaluation.passed, evaluation.metadata["worst_columns"].value
    assert evaluation.metadata["factors"].value == len(DEMO_FACTORS) and evaluation.metadata["failed"].value == 0
    db = Database(resources["database"].resolved_url())
    status = factor_status(db, source="rdagent_generated").set_index("name")
    assert (status["status"] == "verified").all() and len(status) == len(DEMO_FACTORS)
    assert status.loc["range_5d", "expression"] == "Mean(($high - $low)/$close, 5)"
    assert status["code_sha256"].notna().all()
    db.dispose()


def test_the_daily_sample_is_seeded_by_the_date_and_rotates():
    from aistock_pipelines.defs.factors.checks import sample_instruments

    codes = [f"{i:06d}.SZ" for i in range(300)]
    day, next_day = pd.Timestamp("2026-11-16"), pd.Timestamp("2026-11-17")
    first = sample_instruments(codes, 30, day)
    assert len(set(first)) == 30 and set(first) <= set(codes) and first == sorted(first)
    assert sample_instruments(list(reversed(codes)), 30, day) == first, "the same draw whatever the input order"
    assert sample_instruments(codes, 30, next_day) != first
    assert sample_instruments(codes, 0, day) == codes and sample_instruments(codes[:10], 30, day) == codes[:10]


@pytest.mark.qlib
def test_the_sampled_check_still_stops_one_wrong_factor(aistock_home, tmp_path, monkeypatch):
    """One factor off by 0.1% on every name: the daily check, comparing 10 of 40 names, fails on that factor."""
    import aistock_pipelines.defs.factors.assets as factor_assets
    from aistock_core.factors.alpha158 import alpha158_expressions
    from aistock_pipelines.defs.factors.checks import DAILY_SAMPLE

    names = ["KMID", "ROC5", "MA10", "STD20"]
    every = alpha158_expressions()
    spec = FactorSet(name="alpha_sampled", expressions={n: every[n] for n in names}, reference="qlib")
    honest = factor_assets.migrated_frame

    def corrupted(*args, **kwargs):
        frame = honest(*args, **kwargs)
        return frame.assign(MA10=frame["MA10"] * np.float32(1.001))

    monkeypatch.setattr(factor_assets, "migrated_frame", corrupted)
    resources = {
        "data": DataServiceResource(data_source="synthetic", synthetic_seed=11, synthetic_instruments=40),
        "store": StoreResource(root=str(tmp_path / "store")),
        "database": DatabaseResource(url=f"sqlite:///{tmp_path / 'app.db'}"),
    }
    result = dg.materialize(list(_definitions(spec)), partition_key=DAY, resources=resources, raise_on_error=False)
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.metadata["instruments"].value == DAILY_SAMPLE < evaluation.metadata["of_universe"].value
    assert not evaluation.passed and evaluation.metadata["failed_factors"].value == "MA10"
