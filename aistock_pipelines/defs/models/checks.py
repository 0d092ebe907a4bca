"""Blocking checks of the model box: a retrain that did not pass, or scores whose features drifted, stop the
strategy downstream before it trades on them.

- ``champion`` (on ``trained_model``): the retrain's MLflow run (tagged with its month) passed its champion checks
  (finite, varying scores; valid IC within tolerance of the research loop's recorded IC when the spec has one)
  and was registered.
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


trained_model_checks = build_trained_model_check(DEFAULT_RETRAIN, trained_model)
model_scores_feature_alignment = build_feature_alignment_check(DEFAULT_RETRAIN, model_scores)
