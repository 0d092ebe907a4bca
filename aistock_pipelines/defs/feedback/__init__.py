"""Feedback box: the trading-day LiveFeedback files with their blocking check, the optimizer's proposals and the
22:00 schedule."""

import dagster as dg

from aistock_pipelines.defs.feedback.assets import live_feedback, optimizer_proposals
from aistock_pipelines.defs.feedback.checks import live_feedback_reconciles
from aistock_pipelines.defs.feedback.schedules import feedback_job, feedback_schedule

defs = dg.Definitions(
    assets=[live_feedback, optimizer_proposals],
    asset_checks=[live_feedback_reconciles],
    jobs=[feedback_job],
    schedules=[feedback_schedule],
)
