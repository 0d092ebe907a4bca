"""Model box: monthly walk-forward retrain (MLflow, champion alias) and the champion's daily scores, with
blocking checks on both."""

import dagster as dg

from aistock_pipelines.defs.models.assets import model_scores, trained_model
from aistock_pipelines.defs.models.checks import (
    model_scores_exported_agreement,
    model_scores_feature_alignment,
    trained_model_checks,
)

defs = dg.Definitions(assets=[trained_model, model_scores],
                      asset_checks=[trained_model_checks, model_scores_feature_alignment,
                                    model_scores_exported_agreement])
