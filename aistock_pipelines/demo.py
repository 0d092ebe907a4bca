"""`aistock demo`: materialise every asset of the `Definitions` against a real Dagster instance.

The plan is read from the asset graph, not from a list of names, so assets added by later issues are picked up
without touching this module: assets are grouped into *stages*, a new stage starting only where a dependency
crosses from one partitions definition to another (`plan_stages`), and each stage runs once if unpartitioned
or once per partition key. Each run goes through a named job of the `Definitions` (`stage_job`: the smallest
one holding the stage, e.g. ``market_eod`` or ``trading_day_assets`` from `aistock_pipelines.graph`), never
Dagster's hidden ``__ASSET_JOB``, so the UI's Overview and the partitions pages list them by job. Runs go to the
`DagsterInstance` in ``DAGSTER_HOME`` (default ``AISTOCK_HOME/dagster``), so ``dagster dev`` shows them afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import pandas as pd

from aistock_core.config import Settings
from aistock_core.errors import AistockError
from aistock_pipelines.partitions import recent_partition_keys, trading_days

if TYPE_CHECKING:
    from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph

#: Instance config written for a laptop when DAGSTER_HOME has none: SQLite storage (Dagster's default), no
#: telemetry, and the same one-live-order-run limit as production (``dagster.yaml`` at the repository root).
LAPTOP_DAGSTER_YAML = """\
# Written by `aistock demo` for a laptop: SQLite storage under this directory (Dagster's default).
# For an always-on deployment use the repository's dagster.yaml (PostgreSQL, queued runs).
concurrency:
  runs:
    tag_concurrency_limits:
      - key: aistock/live-orders
        limit: 1
telemetry:
  enabled: false
"""
#: Dagster's console logger at WARNING: the run's full event log still goes to the instance.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
DEMO_TAG = "aistock/demo"


class DemoError(AistockError):
    """A demo run failed; the message names the asset, the partition and the run to open in the UI."""


@dataclass(frozen=True)
class Stage:
    """Assets that run together: same partitions definition, parents all in earlier stages (or this one)."""

    partitions_def: dg.PartitionsDefinition | None
    asset_keys: tuple[dg.AssetKey, ...]

    @property
    def label(self) -> str:
        return ", ".join(k.to_user_string() for k in self.asset_keys)


@dataclass
class AssetOutcome:
    """What the summary shows for one asset: the partitions run and the last materialisation's metadata."""

    key: dg.AssetKey
    partitions: list[str] = field(default_factory=list)
    metadata: dict[str, dg.MetadataValue] = field(default_factory=dict)


@dataclass
class DemoReport:
    dagster_home: Path
    run_ids: list[str] = field(default_factory=list)
    assets: dict[dg.AssetKey, AssetOutcome] = field(default_factory=dict)
    checks: list[dg.AssetCheckEvaluation] = field(default_factory=list)


def resolve_dagster_home(settings: Settings) -> Path:
    """``DAGSTER_HOME`` if set, else ``AISTOCK_HOME/dagster``; created, with a laptop dagster.yaml if it has none.

    Also exported to this process's environment, so code that calls ``DagsterInstance.get()`` during the demo
    (and any ``dagster`` subprocess it starts) sees the same instance.
    """
    home = Path(settings.dagster_home or settings.resolved_home / "dagster").expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        tmp = config.with_suffix(".yaml.tmp")
        tmp.write_text(LAPTOP_DAGSTER_YAML)
        tmp.replace(config)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _same(a: dg.PartitionsDefinition | None, b: dg.PartitionsDefinition | None) -> bool:
    return a == b


def plan_stages(graph: BaseAssetGraph) -> list[Stage]:
    """Every materialisable asset, grouped into stages in dependency order (see the module docstring).

    A stage boundary is needed only where an edge changes partitions definition. Depths are first computed as
    early as possible, then pushed as late as the children allow, an asset with no downstream waiting for the
    last stage of its own kind: ``index_bars`` runs in the same per-day run as ``market_bars``, not its own.
    """
    wanted = graph.materializable_asset_keys
    order = [k for k in graph.toposorted_asset_keys if k in wanted]
    pdef = {k: graph.get(k).partitions_def for k in order}

    def step(a: dg.AssetKey, b: dg.AssetKey) -> int:
        return 0 if _same(pdef[a], pdef[b]) else 1

    early: dict[dg.AssetKey, int] = {}
    for key in order:
        early[key] = max((early[p] + step(p, key) for p in graph.get(key).parent_keys if p in early), default=0)
    # An asset with no downstream may wait for the last stage of its own kind (never later: no extra stage).
    last_of_kind = {k: max(early[o] for o in order if _same(pdef[o], pdef[k])) for k in order}
    late: dict[dg.AssetKey, int] = {}
    for key in reversed(order):
        children = [c for c in graph.get(key).child_keys if c in late]
        late[key] = min((late[c] - step(key, c) for c in children), default=last_of_kind[key])
    # A multi-asset that cannot be subset (the research catalog sync) runs whole: at its earliest key's depth.
    for key in order:
        node = graph.assets_def_for_key(key)
        if not node.can_subset:
            late[key] = min(late[k] for k in node.keys if k in late)

    groups: dict[tuple[int, int], list[dg.AssetKey]] = {}
    kinds: list[dg.PartitionsDefinition | None] = []
    for key in order:
        slot = next((i for i, d in enumerate(kinds) if _same(d, pdef[key])), None)
        if slot is None:
            kinds.append(pdef[key])
            slot = len(kinds) - 1
        groups.setdefault((late[key], slot), []).append(key)
    # Within a depth, unpartitioned stages first (reference tables before the days that use them).
    ranked = sorted(groups, key=lambda g: (g[0], kinds[g[1]] is not None, g[1]))
    return [Stage(kinds[slot], tuple(groups[(d, slot)])) for d, slot in ranked]


def stage_partition_keys(stage: Stage, days: int, last_day: pd.Timestamp) -> list[str | None]:
    """``[None]`` for an unpartitioned stage; the last ``days`` trading days up to ``last_day`` for trading-day
    stages; for other time partitions the keys whose windows overlap those days; for any other kind (static:
    a list of strategies, accounts) every key."""
    pdef = stage.partitions_def
    if pdef is None:
        return [None]
    recent = list(recent_partition_keys(days, last_day))
    if pdef == trading_days:
        return recent
    keys = list(pdef.get_partition_keys())
    if not isinstance(pdef, dg.TimeWindowPartitionsDefinition):
        return keys
    # coarser periods (a monthly retrain): those whose window overlaps the demo's trading days
    first = pd.Timestamp(recent[0])

    def overlaps(key: str) -> bool:
        window = pdef.time_window_for_partition_key(key)
        return pd.Timestamp(window.start).tz_localize(None) <= last_day and \
            pd.Timestamp(window.end).tz_localize(None) > first

    return [k for k in keys if overlaps(k)]


def stage_job(defs: dg.Definitions, stage: Stage) -> dg.JobDefinition:
    """The smallest named asset job of ``defs`` holding every asset of ``stage`` (ties: by name)."""
    wanted = set(stage.asset_keys)
    covering = [job for job in defs.resolve_all_job_defs() if not job.name.startswith("__")
                and wanted <= set(job.asset_layer.selected_asset_keys)]
    if not covering:
        raise DemoError(f"no named job holds {stage.label}: add the assets to one (aistock_pipelines.graph)")
    return min(covering, key=lambda job: (len(job.asset_layer.selected_asset_keys), job.name))


def _failure(result: dg.ExecuteInProcessResult, stage: Stage, partition: str | None) -> DemoError:
    where = f"{stage.label}" + (f" partition {partition}" if partition else "")
    message = "the run failed"
    failures = result.get_step_failure_events()
    if failures and failures[0].step_failure_data.error is not None:
        error = failures[0].step_failure_data.error
        while error.cause is not None:  # Dagster wraps the asset's own exception: report that one
            error = error.cause
        message = error.message.strip()
        qualified, sep, text = message.partition(": ")
        if sep and qualified.rsplit(".", 1)[-1] == error.cls_name:  # "aistock_core.errors.DataError: ..."
            message = f"{error.cls_name}: {text}"
    return DemoError(f"materialising {where} failed: {message} (run {result.run_id}; open it in `dagster dev`)")


def run_demo(
    defs: dg.Definitions,
    settings: Settings,
    *,
    days: int,
    last_day: pd.Timestamp,
    on_run: Callable[[int, Stage, str | None], None] | None = None,
) -> DemoReport:
    """Materialise every asset of ``defs``: each stage once, or once per partition key, in stage order.

    ``last_day``: the last day with data (trading-day stages end there). ``on_run(index, stage, partition)`` is
    called before each run (the CLI advances its progress bar). Stops at the first failed run with a `DemoError`.
    """
    if days <= 0:
        raise DemoError(f"--days must be a positive number of trading days, got {days}")
    home = resolve_dagster_home(settings)
    report = DemoReport(dagster_home=home)
    stages = plan_stages(defs.resolve_asset_graph())
    jobs = {stage.label: stage_job(defs, stage) for stage in stages}
    plan = [(stage, key) for stage in stages for key in stage_partition_keys(stage, days, last_day)]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for index, (stage, partition) in enumerate(plan):
            if on_run is not None:
                on_run(index, stage, partition)
            result = jobs[stage.label].execute_in_process(
                run_config=QUIET_RUN_CONFIG,
                instance=instance,
                partition_key=partition,
                asset_selection=list(stage.asset_keys),
                tags={DEMO_TAG: "true"},
                raise_on_error=False,
            )
            if not result.success:
                raise _failure(result, stage, partition)
            report.run_ids.append(result.run_id)
            _collect(report, result, partition)
    return report


def plan_size(defs: dg.Definitions, days: int, last_day: pd.Timestamp) -> int:
    """Number of runs `run_demo` will launch (for a progress bar's total)."""
    return sum(len(stage_partition_keys(s, days, last_day)) for s in plan_stages(defs.resolve_asset_graph()))


def _collect(report: DemoReport, result: dg.ExecuteInProcessResult, partition: str | None) -> None:
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        outcome = report.assets.setdefault(mat.asset_key, AssetOutcome(mat.asset_key))
        if partition is not None:
            outcome.partitions.append(partition)
        outcome.metadata = dict(mat.metadata)
    report.checks.extend(result.get_asset_check_evaluations())


def key_figures(metadata: dict[str, dg.MetadataValue], limit: int = 6) -> Sequence[str]:
    """The numeric metadata entries (what a user compares between runs), then a short checksum if present."""
    figures = [f"{name}={value.value:,}" if isinstance(value, dg.IntMetadataValue) else f"{name}={value.value:.4g}"
               for name, value in metadata.items()
               if isinstance(value, dg.IntMetadataValue | dg.FloatMetadataValue) and value.value is not None][:limit]
    sha = metadata.get("sha256")
    if isinstance(sha, dg.TextMetadataValue) and sha.value:
        figures.append(f"sha256={sha.value[:12]}…")
    return figures
