"""Execution: the broker resource, the declared paper instances and their daily trading (assets), the paper/live
order jobs, their trading-day slot schedules and the failure alert."""

import dagster as dg

from aistock_pipelines.defs.execution.assets import paper_trades, trading_instances
from aistock_pipelines.defs.execution.jobs import live_orders, paper_orders
from aistock_pipelines.defs.execution.resources import BrokerResource
from aistock_pipelines.defs.execution.schedules import order_schedules
from aistock_pipelines.defs.execution.sensors import order_run_failed

defs = dg.Definitions(assets=[trading_instances, paper_trades], jobs=[paper_orders, live_orders],
                      schedules=order_schedules, sensors=[order_run_failed], resources={"broker": BrokerResource()})
