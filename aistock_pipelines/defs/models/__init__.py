"""Model box: monthly walk-forward retrain (MLflow, champion alias) and the champion's daily scores, with
blocking checks on both."""

import dagster as dg

from aistock_pipelines.defs.models.assets import PTNN_RETRAIN, model_scores, trained_model, trained_ptnn_model
from aistock_pipelines.defs.models.checks import (
    build_trained_model_check,
    model_scores_exported_agreement,
    model_scores_feature_alignment,
    trained_model_checks,
)

defs = dg.Definitions(assets=[trained_model, model_scores, trained_ptnn_model],
                      asset_checks=[trained_model_checks, model_scores_feature_alignment,
                                    model_scores_exported_agreement,
                                    build_trained_model_check(PTNN_RETRAIN, trained_ptnn_model)])
