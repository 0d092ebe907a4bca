"""Execution assets: the declared paper instances, and the day's paper trading through the ``paper_orders`` job.

``paper_trades`` runs, for every paper instance the specs declare (`aistock_core.specs.InstanceDecl`), one
``paper_orders`` run of the day's slot in this Dagster instance: the same job the slot schedules launch, so the
orders go through plan → risk → submit → fills → reconcile exactly as they would live, and each slot is a run of
its own in the UI. The simulated broker replays the slot on the day's minute bars, so the run's clock is pinned
at the slot (its staleness guard sees the slot's own minute); trading in real time is the schedules' job. A slot
already traded sends nothing new (intent keys), so materialising a day again changes nothing.
"""

import dagster as dg

from aistock_core.execution.instances import ensure_paper_instances
from aistock_core.execution.risk import RiskPolicy
from aistock_core.execution.store import ExecutionStore
from aistock_core.specs import load_specs
from aistock_pipelines.defs.declared import declared_result
from aistock_pipelines.defs.execution.jobs import DAILY_SLOT, paper_orders, slot_run_config
from aistock_pipelines.defs.execution.resources import BrokerResource
from aistock_pipelines.partitions import trading_days
from aistock_pipelines.resources import DatabaseResource, DataServiceResource, StoreResource

GROUP = "execution"
#: The slot runs log to the Dagster instance as every run does; on the console only warnings (they run nested).
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dg.asset(group_name=GROUP, kinds={"sql"},
          deps=[dg.AssetKey(["research", name]) for name in ("loop_catalog", "model_catalog")],
          description="The paper trading instances the specs declare (simulated broker, default risk policy), "
                      "created once by name; existing ones untouched.")
def trading_instances(data: DataServiceResource, database: DatabaseResource) -> dg.MaterializeResult:
    decls = load_specs(data.settings()).paper
    return declared_result(decls, ensure_paper_instances(ExecutionStore(database.get_db()), RiskPolicy(), decls))


@dg.asset(partitions_def=trading_days, group_name=GROUP, kinds={"sql"},
          deps=["trading_instances", "model_scores", "target_positions"],
          description=f"The day's {DAILY_SLOT} slot of every declared paper instance, each through one "
                      "`paper_orders` run on the simulated broker; a slot already traded sends nothing new.")
def paper_trades(context: dg.AssetExecutionContext, data: DataServiceResource, database: DatabaseResource,
                 store: StoreResource, broker: BrokerResource) -> dg.MaterializeResult:
    day = context.partition_key
    rows = {}
    for decl in load_specs(data.settings()).paper:
        result = paper_orders.execute_in_process(
            run_config={**slot_run_config("paper_order_slot", decl.name, day, DAILY_SLOT, now=f"{day} {DAILY_SLOT}"),
                        **QUIET_CONSOLE},
            instance=context.instance, resources={"data": data, "database": database, "store": store,
                                                  "broker": broker},
            tags={"aistock/instance": decl.name, "aistock/parent_run": context.run_id}, raise_on_error=False)
        if not result.success:
            raise dg.Failure(f"paper_orders run {result.run_id} for {decl.name!r} on {day} failed; open it in the UI")
        out = result.output_for_node("paper_order_slot")
        rows[decl.name] = {"run_id": result.run_id, "submitted": out["submitted"], "denied": out["denied"],
                           "filled_volume": out["filled_volume"]}
    return dg.MaterializeResult(metadata={
        "instances": dg.MetadataValue.int(len(rows)),
        "submitted": dg.MetadataValue.int(sum(r["submitted"] for r in rows.values())),
        "filled_volume": dg.MetadataValue.float(float(sum(r["filled_volume"] for r in rows.values()))),
        "runs": dg.MetadataValue.json(rows),
    })
