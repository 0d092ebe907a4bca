"""Blocking checks of the model box: a retrain that did not pass, or scores whose features drifted, stop the
strategy downstream before it trades on them.

- ``champion`` (on ``trained_model``): the retrain's MLflow run (tagged with its month) passed its champion checks
  (finite, varying scores; valid IC within tolerance of the research loop's recorded IC when the spec has one)
  and was registered.
- ``exported_agreement`` (on ``model_scores``): when the spec names the research loop it reproduces and that
  loop's bundle holds an exported model, that model scores the same day and names on our features; the Spearman
  correlation with the stored scores must reach ``spec.agreement_min`` (0.8 by default: a retrain of the same
  workflow on the same bars reproduces research's trees, so the correlation is ~1; on our own bars it moves a
  little, while a model of another workflow or a broken feature pipeline lands near 0 or below).
- ``feature_alignment`` (on ``model_scores``): the day's features rebuilt independently with the factor engine (the
  Alpha158 expressions named in the model's recorded feature order) give the stored scores again, and the
  serving frame's columns are the model's, in order.
"""

import warnings

import dagster as dg
import numpy as np
import pandas as pd

from aistock_core.config import get_settings
from aistock_pipelines.defs.models.assets import (
    DEFAULT_RETRAIN,
    RETRAIN_TAG,
    SCORES,
    RetrainSpec,
    model_scores,
    trained_model,
)
from aistock_pipelines.partitions import trade_date
from aistock_pipelines.resources import DataServiceResource, StoreResource


def build_trained_model_check(spec: RetrainSpec, asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    decorate = dg.asset_check(asset=asset, name="champion", blocking=True,
                              partitions_def=asset.partitions_def,
                              description="The retrain passed its champion checks (incl. research IC) and was "
                                          "registered.")

    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        from aistock_core.models.tracking import client

        c = client(get_settings().tracking_uri)
        exp = c.get_experiment_by_name(spec.experiment)
        runs = c.search_runs([exp.experiment_id], filter_string=f"tags.`{RETRAIN_TAG}` = '{context.partition_key}'",
                             order_by=["attributes.start_time DESC"], max_results=1) if exp else []
        if not runs:
            return dg.AssetCheckResult(passed=False, description=f"no MLflow run for retrain {context.partition_key} "
                                                                 f"in experiment {spec.experiment}")
        run = runs[0]
        checks = run.data.tags.get("checks", "missing")
        registered = [v for v in c.search_model_versions(f"name='{spec.name}'") if v.run_id == run.info.run_id]
        metadata = {"run_id": dg.MetadataValue.text(run.info.run_id), "checks": dg.MetadataValue.text(checks),
                    "valid_ic": dg.MetadataValue.float(float(run.data.metrics.get("IC.valid", float("nan"))))}
        if spec.research_ic is not None:
            metadata["research_ic"] = dg.MetadataValue.float(spec.research_ic)
        passed = checks == "passed" and bool(registered)
        return dg.AssetCheckResult(passed=passed, metadata=metadata,
                                   description="registered and champion" if passed else f"not promoted: {checks}")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return decorate(_check)


def build_feature_alignment_check(spec: RetrainSpec, asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    decorate = dg.asset_check(asset=asset, name="feature_alignment", blocking=True,
                              partitions_def=asset.partitions_def,
                              description="Features rebuilt by the factor engine reproduce the stored scores.")

    def _check(context: dg.AssetCheckExecutionContext, data: DataServiceResource,
               store: StoreResource) -> dg.AssetCheckResult:
        from aistock_core.factors.alpha158 import alpha158_expressions
        from aistock_core.factors.engine import compute_frame
        from aistock_core.models.scoring import ServedModel, check_feature_order

        day = trade_date(context.partition_key)
        stored = store.get_store().read_partition(SCORES, day)
        served = ServedModel.load(get_settings().tracking_uri, f"{spec.name}/{stored['version'].iloc[0]}")
        service = data.get_service()
        universe = spec.universe or data.settings().market
        serving = served.features_for(service, day, day, universe)
        check_feature_order(served.features, list(serving.columns), "serving features")
        exprs = alpha158_expressions()
        rebuilt = compute_frame(service, universe, {n: exprs[n] for n in served.features}, start=day, end=day)
        metadata = {"features": dg.MetadataValue.int(len(served.features)),
                    "rows": dg.MetadataValue.int(len(stored))}
        if served.processors:  # fitted infer processors: the order check above is what can be compared
            return dg.AssetCheckResult(passed=True, metadata=metadata,
                                       description="feature order matches; values pass through fitted processors")
        again = pd.Series(served.booster.predict(rebuilt.to_numpy()), index=rebuilt.index)
        mine = stored.set_index(["datetime", "instrument"])["score"].sort_index()
        again = again.sort_index()
        same_rows = again.index.equals(mine.index)
        err = float(np.max(np.abs(again.to_numpy() - mine.to_numpy()))) if same_rows and len(mine) else np.inf
        metadata["max_abs_err"] = dg.MetadataValue.float(err)
        passed = same_rows and err <= 1e-9
        return dg.AssetCheckResult(passed=passed, metadata=metadata,
                                   description="scores reproduced from engine features" if passed else
                                   ("rows differ" if not same_rows else f"scores differ by up to {err:.3g}"))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return decorate(_check)


def build_exported_agreement_check(spec: RetrainSpec, asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    decorate = dg.asset_check(asset=asset, name="exported_agreement", blocking=True,
                              partitions_def=asset.partitions_def,
                              description="The research loop's exported model ranks the day's names like the stored "
                                          f"scores (Spearman ≥ {spec.agreement_min}), when both exist.")

    def _check(context: dg.AssetCheckExecutionContext, data: DataServiceResource,
               store: StoreResource) -> dg.AssetCheckResult:
        from aistock_core.db import Database
        from aistock_core.models.loops import exported_scores, load_loop, rank_agreement
        from aistock_core.research.bundles import BlobStore
        from aistock_core.research.defaults import blob_root

        if spec.loop is None:
            return dg.AssetCheckResult(passed=True, description=f"{spec.name} names no research loop: nothing to "
                                                                "compare with")
        settings = get_settings()
        loop = load_loop(Database(settings.sqlalchemy_url), spec.loop, BlobStore(blob_root(settings)))
        if loop.exported is None:
            return dg.AssetCheckResult(passed=True, description=f"loop {spec.loop} has no exported model: nothing "
                                                                "to compare with")
        day = trade_date(context.partition_key)
        stored = store.get_store().read_partition(SCORES, day).set_index("instrument")["score"]
        theirs = exported_scores(data.get_service(), loop, day, spec.universe or data.settings().market)
        corr, n = rank_agreement(stored, theirs.scores)
        passed = n >= 3 and bool(corr >= spec.agreement_min)
        return dg.AssetCheckResult(
            passed=passed,
            metadata={"spearman": dg.MetadataValue.float(corr), "names": dg.MetadataValue.int(n),
                      "exported": dg.MetadataValue.text(loop.exported.name), "loop": dg.MetadataValue.text(spec.loop)},
            description=f"Spearman {corr:.3f} over {n} names vs the exported {loop.exported.name}"
                        + ("" if passed else f": below {spec.agreement_min}, the retrain does not reproduce the "
                                             "research model"))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return decorate(_check)


trained_model_checks = build_trained_model_check(DEFAULT_RETRAIN, trained_model)
model_scores_exported_agreement = build_exported_agreement_check(DEFAULT_RETRAIN, model_scores)
model_scores_feature_alignment = build_feature_alignment_check(DEFAULT_RETRAIN, model_scores)
