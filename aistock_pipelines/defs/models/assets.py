"""Model assets: a monthly walk-forward ``trained_model`` and the trading-day ``model_scores`` of the champion.

`RetrainSpec` is one Qlib workflow (Alpha158 + LGBModel by default, RD-Agent's LightGBM kwargs from contract
§9) retrained on a rolling window at the first session of each month (`walkforward.retrain`: nothing from
that session on is read). Each retrain is an MLflow run; a version that passes its checks (finite, varying
scores; valid IC within tolerance of the research loop's recorded IC when one is given) becomes ``champion``.
``model_scores`` scores one day with the champion, or the newest version whose training read only earlier bars
(`scoring.model_for_day`): no day is ever scored by a model that saw it.
"""

from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import pandas as pd

from aistock_core.calendar import SESSION_TZ
from aistock_core.config import get_settings
from aistock_core.errors import ModelError
from aistock_core.models.nets import NETS_DIR
from aistock_pipelines.partitions import PARTITIONS_START, trade_date, trading_days
from aistock_pipelines.presentation import ratio, table_metadata
from aistock_pipelines.resources import DataServiceResource, StoreResource

GROUP = "models"
SCORES = "model_scores"
#: MLflow run tag naming the retrain partition (month key) a run belongs to.
RETRAIN_TAG = "aistock.retrain_month"

#: LightGBM kwargs of the default retrain: RD-Agent's template (contract §9) with its L1/L2 penalties (205.7 /
#: 580.98, sized for thousands of names) brought down to what a few hundred names can carry — with them, a
#: 30-300-name universe grows no tree and every score is equal (the champion check refuses that model).
#: 2 threads + deterministic so a retrain is reproducible on any machine.
DEFAULT_LGB = {"loss": "mse", "colsample_bytree": 0.8879, "learning_rate": 0.2, "subsample": 0.8789,
               "lambda_l1": 1.0, "lambda_l2": 10.0, "max_depth": 8, "num_leaves": 31, "max_bin": 63,
               "min_data_in_leaf": 50, "num_threads": 2, "deterministic": True, "force_col_wise": True}


#: GeneralPTNN kwargs of the small network retrain (`aistock_core.models.nets.mlp`, 158 Alpha158 inputs): RD-Agent's
#: model-loop template (contract §9) with few epochs, so the demo's retrain takes seconds.
DEFAULT_PTNN = {"n_epochs": 4, "lr": 0.002, "early_stop": 2, "batch_size": 512, "weight_decay": 0.0001,
                "metric": "loss", "loss": "mse", "seed": 0, "pt_model_uri": "mlp.model_cls",
                "pt_model_kwargs": {"num_features": 158}}
#: RD-Agent's infer processors (contract §9): a network needs scaled inputs without NaN.
RDAGENT_INFER = [{"class": "RobustZScoreNorm", "kwargs": {"fields_group": "feature", "clip_outlier": True}},
                 {"class": "Fillna", "kwargs": {"fields_group": "feature"}}]


@dataclass(frozen=True)
class RetrainSpec:
    """What to retrain and how often: model class and kwargs, rolling window lengths (sessions), research
    reference; ``code_dir`` holds a GeneralPTNN's network file, ``asset`` names the Dagster asset."""

    name: str = "aistock_lgb"
    experiment: str = "aistock"
    model_kwargs: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_LGB))
    train_sessions: int = 240
    valid_sessions: int = 60
    universe: str | None = None
    research_ic: float | None = None
    ic_tolerance: float = 0.05
    #: The research loop (``task_run_id/loop_id``) this retrain reproduces: when its bundle holds an exported
    #: model, the day's scores must rank the names like it does (Spearman ≥ ``agreement_min``).
    loop: str | None = None
    agreement_min: float = 0.8
    model_class: str = "LGBModel"
    code_dir: str | None = None
    infer_processors: tuple[dict, ...] | None = None
    asset: str = "trained_model"

    def workflow(self, universe: str) -> dict[str, Any]:
        """The Qlib workflow mapping (windows are set per retrain by `walkforward.retrain_workflow`)."""
        handler = {"class": "Alpha158", "module_path": "qlib.contrib.data.handler",
                   "kwargs": {"instruments": universe}}
        if self.infer_processors is not None:
            handler["kwargs"]["infer_processors"] = [dict(p) for p in self.infer_processors]
        return {"task": {
            "model": {"class": self.model_class, "kwargs": self.model_kwargs},
            "dataset": {"class": "DatasetH", "module_path": "qlib.data.dataset",
                        "kwargs": {"handler": handler, "segments": {}}},
        }}


DEFAULT_RETRAIN = RetrainSpec()
#: The stored features the models are trained and scored on (Alpha158, the factors box's default set). The
#: models recompute them through the engine; the asset is their lineage and, with automation, their trigger.
FEATURES = "alpha158_factors"
PTNN_RETRAIN = RetrainSpec(name="aistock_ptnn", experiment="aistock_ptnn", model_class="GeneralPTNN",
                           model_kwargs=DEFAULT_PTNN, code_dir=str(NETS_DIR), infer_processors=tuple(RDAGENT_INFER),
                           asset="trained_ptnn_model")

#: One retrain per calendar month, keyed by its first day (the retrain happens on the month's first session).
retrain_months = dg.MonthlyPartitionsDefinition(start_date=PARTITIONS_START, timezone=SESSION_TZ, end_offset=1)


def first_session_of(service, month_key: str) -> pd.Timestamp:
    month = pd.Timestamp(month_key)
    days = service.resolve_dates()
    days = days[(days >= month) & (days < month + pd.offsets.MonthBegin(1))]
    if len(days) == 0:
        raise ModelError(f"no sessions in the data for month {month:%Y-%m}; retrain a month the data covers")
    return days[0]


def build_trained_model(spec: RetrainSpec) -> dg.AssetsDefinition:
    kind = {"LGBModel": "lightgbm", "GeneralPTNN": "pytorch", "XGBModel": "xgboost"}.get(spec.model_class, "python")

    # A month's retrain reads sessions before the month's first one: the previous month's features.
    @dg.asset(name=spec.asset, partitions_def=retrain_months, group_name=GROUP, kinds={"mlflow", kind},
              deps=[dg.AssetDep(FEATURES, partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1,
                                                                                          end_offset=-1))],
              description=f"{spec.name}: Alpha158 + {spec.model_class} retrained on the {spec.train_sessions}+"
                          f"{spec.valid_sessions} sessions before each month's first session; champion if it "
                          "passes its checks.")
    def _trained(context: dg.AssetExecutionContext, data: DataServiceResource) -> dg.MaterializeResult:
        from aistock_core.models.tracking import log_training
        from aistock_core.models.walkforward import retrain

        service = data.get_service()
        day = first_session_of(service, context.partition_key)
        window, result = retrain(service, spec.workflow(spec.universe or data.settings().market), day,
                                 train_sessions=spec.train_sessions, valid_sessions=spec.valid_sessions,
                                 base_dir=spec.code_dir)
        settings = get_settings()
        logged = log_training(result, uri=settings.tracking_uri, experiment=spec.experiment, model_name=spec.name,
                              artifact_root=settings.artifact_root, research_ic=spec.research_ic,
                              ic_tolerance=spec.ic_tolerance, tags={RETRAIN_TAG: context.partition_key})
        return dg.MaterializeResult(metadata={
            "run_id": dg.MetadataValue.text(logged.run_id),
            "version": dg.MetadataValue.text(logged.version or "not registered"),
            "failed_checks": dg.MetadataValue.json(logged.failed_checks),
            "valid_ic": ratio(result.metrics["valid"]["IC"]),
            "train_ic": ratio(result.metrics["train"]["IC"]),
            "best_iteration": dg.MetadataValue.int(result.model.best_iteration),
            "retrain_day": dg.MetadataValue.text(f"{day:%Y-%m-%d}"),
            "data_end": dg.MetadataValue.text(f"{window.data_end:%Y-%m-%d}"),
            "window": dg.MetadataValue.json(result.window),
            "data_fingerprint": dg.MetadataValue.text(result.data_fingerprint),
        })

    return _trained


def build_model_scores(spec: RetrainSpec) -> dg.AssetsDefinition:
    @dg.asset(name=SCORES, partitions_def=trading_days, group_name=GROUP, kinds={"parquet"},
              deps=[dg.AssetDep("trained_model", partition_mapping=dg.TimeWindowPartitionMapping()), FEATURES],
              description=f"The day's scores of the {spec.name} champion (or the newest version trained before "
                          f"the day) over the universe (store {SCORES}).")
    def _scores(context: dg.AssetExecutionContext, data: DataServiceResource,
                store: StoreResource) -> dg.MaterializeResult:
        from aistock_core.models.scoring import model_for_day

        day = trade_date(context.partition_key)
        service = data.get_service()
        served = model_for_day(get_settings().tracking_uri, spec.name, day, service.calendar)
        scores = served.score(service, day, day, spec.universe or data.settings().market)
        frame = scores.reset_index().assign(model=spec.name, version=served.version)
        path, sha256, rows = store.get_store().write_partition(SCORES, day, frame)
        return dg.MaterializeResult(
            metadata={"rows": dg.MetadataValue.int(rows), "model_version": dg.MetadataValue.text(served.version),
                      "run_id": dg.MetadataValue.text(served.run_id), "path": dg.MetadataValue.path(str(path)),
                      "top": dg.MetadataValue.md(frame.nlargest(10, "score").to_markdown(index=False,
                                                                                          floatfmt=".4f")),
                      **table_metadata(frame)},
            data_version=dg.DataVersion(sha256),
        )

    return _scores


def stored_model_scores(store: StoreResource, start, end) -> pd.Series | None:
    """``model_scores`` over [start, end] as a (datetime, instrument) series, or None when ``end`` has none.

    `target_positions` reads this; the replay then starts at the first day with model scores, so no day of
    the replayed holdings is driven by another signal.
    """
    st = store.get_store()
    if pd.Timestamp(end) not in st.partitions(SCORES):
        return None
    frame = st.read_range(SCORES, start, end)
    return frame.set_index(["datetime", "instrument"])["score"].sort_index()


trained_model = build_trained_model(DEFAULT_RETRAIN)
trained_ptnn_model = build_trained_model(PTNN_RETRAIN)
model_scores = build_model_scores(DEFAULT_RETRAIN)
