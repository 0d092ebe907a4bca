"""Execution: the broker resource, the paper/live order jobs and their trading-day slot schedules."""

import dagster as dg

from aistock_pipelines.defs.execution.jobs import live_orders, paper_orders
from aistock_pipelines.defs.execution.resources import BrokerResource
from aistock_pipelines.defs.execution.schedules import order_schedules

defs = dg.Definitions(jobs=[paper_orders, live_orders], schedules=order_schedules,
                      resources={"broker": BrokerResource()})
