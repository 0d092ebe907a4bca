"""The weekly full alignment: the week's last session, every instrument, skipped in a week without sessions."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from aistock_core.demo.specs import demo_specs
from aistock_pipelines.defs.factors.checks import CHECK_NAME
from aistock_pipelines.defs.factors.schedules import FULL_JOB, build_full_alignment

JOB, WEEKLY = build_full_alignment(list(demo_specs().factor_sets))


def _tick(moment: str):
    context = dg.build_schedule_context(scheduled_execution_time=pd.Timestamp(moment, tz="Asia/Shanghai"))
    return WEEKLY(context)


def test_friday_requests_the_weeks_last_session_in_full():
    request = _tick("2026-11-20 18:00")
    assert request.partition_key == "2026-11-20" and request.run_key == f"{FULL_JOB}:2026-11-20"
    assert JOB.config["ops"] == {f"alpha158_factors_{CHECK_NAME}": {"config": {"sample": 0}}}, "qlib sets only"
    # Spring Festival 2026: Feb 16–23 closed, so that Friday's tick has no session to check
    assert isinstance(_tick("2026-02-20 18:00"), dg.SkipReason)
    # a holiday Friday (National Day): the week's last session before it
    assert _tick("2026-10-02 18:00").partition_key == "2026-09-30"
