"""The whole `Definitions` as one story: every asset, check, schedule, sensor and job follows the graph conventions
(`aistock_pipelines.graph`), and the lineage is one connected graph in research → … → preview order.

It iterates over everything the Definitions hold, so an asset or schedule added by any box is checked too.
"""

from __future__ import annotations

import dagster as dg

from aistock_pipelines.definitions import defs
from aistock_pipelines.demo import plan_stages, stage_job
from aistock_pipelines.partitions import trading_days

BOXES = {"research", "data", "factors", "models", "strategy", "preview", "execution", "signals", "feedback"}
#: Schedules and sensors that may start RUNNING: they only read, alert or follow new data, and send no orders.
ON_BY_DEFAULT = {"alert_on_run_failure", "market_data_watch", "order_run_failed", "end_of_day_automation"}

GRAPH = defs.resolve_asset_graph()
ASSETS = [GRAPH.get(key) for key in GRAPH.materializable_asset_keys]


def test_every_asset_has_a_box_owner_description_and_kinds():
    for node in ASSETS:
        name = node.key.to_user_string()
        assert node.group_name in BOXES, f"{name}: group {node.group_name!r} is not a box"
        assert node.owners, f"{name} has no owner"
        assert node.description and node.description.strip(), f"{name} has no description"
        assert node.kinds, f"{name} has no kinds"
        if node.partitions_def == trading_days:
            assert "XSHG sessions" in str(node.metadata.get("partitions")), name


def weak_components(edges: dict[dg.AssetKey, set[dg.AssetKey]]) -> list[set[dg.AssetKey]]:
    """Weakly connected components of a directed graph given as node → parents (edges taken both ways)."""
    neighbours: dict[dg.AssetKey, set[dg.AssetKey]] = {node: set() for node in edges}
    for node, parents in edges.items():
        for parent in parents:
            neighbours.setdefault(parent, set()).add(node)
            neighbours[node].add(parent)
    seen: set[dg.AssetKey] = set()
    components = []
    for start in neighbours:
        if start in seen:
            continue
        stack, component = [start], set()
        while stack:
            node = stack.pop()
            if node not in component:
                component.add(node)
                stack.extend(neighbours[node] - component)
        seen |= component
        components.append(component)
    return components


def test_components_are_found_both_ways():
    a, b, c, d = (dg.AssetKey(x) for x in "abcd")
    assert len(weak_components({a: set(), b: {a}, c: {b}, d: set()})) == 2
    assert len(weak_components({a: set(), b: set(), c: {a, b}})) == 1


def test_the_lineage_is_one_connected_graph():
    components = weak_components({node.key: set(node.parent_keys) for node in ASSETS})
    assert len(components) == 1, sorted(sorted(k.to_user_string() for k in c) for c in components)
    for check in GRAPH.asset_check_keys:
        assert check.asset_key in components[0], f"check {check.name} sits beside no asset of the graph"


def test_materialize_all_runs_research_then_factors_then_targets():
    order = [k.to_user_string() for k in GRAPH.toposorted_asset_keys]

    def at(name: str) -> int:
        return order.index(name)

    assert at("research/sota_factor_code") < at("research/research_state") < at("alpha158_factors")
    assert at("research/sota_factor_code") < at("rdagent_factors")
    assert at("market_bars") < at("alpha158_factors") < at("trained_model") < at("model_scores")
    assert at("model_scores") < at("target_positions") < at("preview_settlement")
    assert dg.AssetKey(["research", "sota_factor_code"]) in GRAPH.get(dg.AssetKey("rdagent_factors")).parent_keys


def test_check_names_do_not_repeat_their_asset():
    for check in GRAPH.asset_check_keys:
        asset = check.asset_key.path[-1]
        assert not check.name.startswith(asset), f"{asset}_{check.name} repeats the asset's name"
    specs = {spec.key: spec for checks in defs.asset_checks or [] for spec in checks.check_specs}
    assert all(spec.description for spec in specs.values())


def test_schedules_sensors_and_jobs_are_described_and_deliberately_on_or_off():
    repo = defs.get_repository_def()
    for job in repo.get_all_jobs():
        if not job.name.startswith("__"):
            assert job.description, f"job {job.name} has no description"
    for instigator in [*repo.schedule_defs, *repo.sensor_defs]:
        assert instigator.description, f"{instigator.name} has no description"
        running = instigator.default_status.value == "RUNNING"
        assert running == (instigator.name in ON_BY_DEFAULT), \
            f"{instigator.name}: default status {instigator.default_status.value} is not the documented one"
    order_jobs = {"paper_orders", "live_orders"}
    for schedule in repo.schedule_defs:
        if schedule.job_name in order_jobs:
            assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED


def test_automation_follows_the_end_of_day_chain_and_never_orders():
    automated = {n.key.to_user_string() for n in ASSETS if n.automation_condition is not None}
    assert {"research/research_state", "alpha158_factors", "model_scores", "target_positions",
            "preview_settlement"} <= automated
    for node in ASSETS:
        if node.group_name in ("execution", "data"):
            assert node.automation_condition is None, node.key.to_user_string()
    sensor = defs.get_repository_def().get_sensor_def("end_of_day_automation")
    assert isinstance(sensor, dg.AutomationConditionSensorDefinition)


def test_every_demo_stage_runs_through_a_named_job():
    for stage in plan_stages(GRAPH):
        job = stage_job(defs, stage)
        assert not job.name.startswith("__") and job.description
    by_name = {j.name for j in defs.get_repository_def().get_all_jobs()}
    assert {"trading_day_assets", "monthly_assets", "unpartitioned_assets", "market_eod"} <= by_name
