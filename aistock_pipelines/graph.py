"""Conventions applied to the whole graph once the boxes are merged (`definitions.py`), so an asset added by any box
follows them without repeating them: its box's owner, a note on its partitions, the end-of-day automation, and a
named job for each kind of partitioning (what `aistock demo` and backfills launch instead of Dagster's hidden
``__ASSET_JOB``).

Automation: every partitioned asset that reads another asset (outside the data and execution boxes) is
``AutomationCondition.eager()``: it is
materialised for the newest partition once its parents have been, and again when they change. Partitions exist
only for XSHG sessions, so the chain runs on trading days only: the stopped-by-default ``market_eod`` schedule
(16:30) writes the day's bars, and factors → research state → scores → targets → settlement → signals / feedback
follow. Nothing of the execution box is automated: orders run from their own schedules, off by default.
"""

import warnings

import dagster as dg

from aistock_core.calendar import SESSION_TZ
from aistock_pipelines.partitions import PARTITIONS_START, trading_days

#: Boxes whose assets automation never materialises: the data box is fetched by the ``market_eod`` schedule at
#: 16:30 (a partition appears at midnight, before the day's bars exist); execution sends orders, even if paper.
NOT_AUTOMATED = frozenset({"data", "execution"})
#: Dagster owner of every asset of a box (a team per box; assets may name their own owners instead).
OWNER_PREFIX = "team:"
AUTOMATION_SENSOR = "end_of_day_automation"
TRADING_DAY_NOTE = (f"XSHG sessions from {PARTITIONS_START} ({SESSION_TZ}); weekends and exchange holidays are "
                    "no partitions (AISTOCK_PARTITIONS_START moves the first one)")


def _conventions(spec: dg.AssetSpec) -> dg.AssetSpec:
    owners = spec.owners or ([f"{OWNER_PREFIX}{spec.group_name}"] if spec.group_name else [])
    metadata = dict(spec.metadata)
    if spec.partitions_def == trading_days:
        metadata.setdefault("partitions", TRADING_DAY_NOTE)
    condition = spec.automation_condition
    if condition is None and spec.partitions_def is not None and spec.deps and spec.group_name not in NOT_AUTOMATED:
        condition = dg.AutomationCondition.eager()
    return spec.replace_attributes(owners=owners, metadata=metadata, automation_condition=condition)


def _kind_name(partitions_def: dg.PartitionsDefinition | None, groups: set[str]) -> str:
    if partitions_def is None:
        return "unpartitioned"
    if partitions_def == trading_days:
        return "trading_day"
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition) and partitions_def.schedule_type is not None:
        return partitions_def.schedule_type.value.lower()
    return "_".join(sorted(groups))


def pipeline_jobs(assets: list[dg.AssetsDefinition]) -> list:
    """One asset job per partitions definition, holding every asset partitioned that way (named after the kind:
    ``trading_day_assets``, ``monthly_assets``, ``unpartitioned_assets``)."""
    kinds: list[tuple[dg.PartitionsDefinition | None, list[dg.AssetKey], set[str]]] = []
    for assets_def in assets:
        slot = next((k for k in kinds if k[0] == assets_def.partitions_def), None)
        if slot is None:
            slot = (assets_def.partitions_def, [], set())
            kinds.append(slot)
        slot[1].extend(assets_def.keys)
        slot[2].update(g for g in assets_def.group_names_by_key.values() if g)
    return [dg.define_asset_job(f"{_kind_name(pdef, groups)}_assets", selection=keys,
                                description=f"Every {_kind_name(pdef, groups).replace('_', ' ')} asset "
                                            f"({', '.join(sorted(groups))}), in dependency order; launch one "
                                            "partition or a backfill.")
            for pdef, keys, groups in kinds]


def apply_conventions(defs: dg.Definitions) -> dg.Definitions:
    """``defs`` with the conventions above: owners, partition notes, automation, the pipeline jobs and the
    automation sensor."""
    with warnings.catch_warnings():  # preview/beta APIs used on purpose; their warnings would print on every start
        warnings.simplefilter("ignore", dg.PreviewWarning)
        warnings.simplefilter("ignore", dg.BetaWarning)
        return _apply(defs)


def _apply(defs: dg.Definitions) -> dg.Definitions:
    mapped = defs.map_asset_specs(func=_conventions)
    assets = [a for a in mapped.assets or [] if isinstance(a, dg.AssetsDefinition) and a.is_materializable]
    automated = [spec.key for a in assets for spec in a.specs if spec.automation_condition is not None]
    sensors = [dg.AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR, target=dg.AssetSelection.assets(*automated), default_status=dg.DefaultSensorStatus.RUNNING,
        description="The end-of-day chain: materialises each automated asset's newest XSHG session once its parents "
                    "have been (bars → research state → factors → scores → targets → settlement → feedback). On "
                    "by default: it only follows new data (the market_eod schedule is off) and sends no orders.",
    )] if automated else []
    return dg.Definitions.merge(mapped, dg.Definitions(jobs=pipeline_jobs(assets), sensors=sensors))
