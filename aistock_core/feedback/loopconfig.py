"""What research knows about the loop an instance came from: its KPIs, factors, strategy, model and dataset.

Read from the synced research catalog (`aistock_core.db.models.research`): the loop row (factor names, strategy
id), the strategy entry's Qlib blocks, the model entry's ``model_config`` / ``dataset_config`` and the loop's
backtest KPIs (net of costs where RD-Agent reported both). An instance without a loop, or a loop the catalog does
not hold, gets `LoopConfigs.known` False and the research reference configs (Qlib's TopkDropout, LGBModel,
Alpha158 over the loop-less demo dataset) in its ExperimentRequest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from aistock_core.db import Database
from aistock_core.db.models.research import ResearchLoop, ResearchLoopKpi, ResearchModel, ResearchStrategy


@dataclass(frozen=True)
class LoopConfigs:
    experiment_id: str | None
    known: bool = False
    factor_names: list[str] = field(default_factory=list)
    strategy: dict[str, Any] = field(default_factory=dict)  # the strategy catalog entry (payload)
    model: dict[str, Any] = field(default_factory=dict)  # the model catalog entry (payload)
    kpis: dict[str, float | None] = field(default_factory=dict)


def parse_loop(loop: str | None) -> tuple[str, int] | None:
    """``RUN/LOOP`` → (task_run_id, loop_id); None for anything else."""
    if not loop or loop.count("/") != 1:
        return None
    run, _, number = loop.partition("/")
    return (run, int(number)) if run and number.isdigit() else None


def loop_configs(db: Database, loop: str | None) -> LoopConfigs:
    key = parse_loop(loop)
    if key is None:
        return LoopConfigs(None)
    experiment_id = f"{key[0]}/{key[1]}"
    with db.session() as s:
        row = s.get(ResearchLoop, key)
        if row is None:
            return LoopConfigs(experiment_id)
        strategy = s.get(ResearchStrategy, row.strategy_id) if row.strategy_id else None
        model = s.scalar(select(ResearchModel).where(ResearchModel.task_run_id == key[0],
                                                     ResearchModel.loop_id == key[1]).limit(1))
        kpis = {k.cost_basis: k for k in s.scalars(select(ResearchLoopKpi).where(
            ResearchLoopKpi.scope == "task_run", ResearchLoopKpi.run_id == key[0], ResearchLoopKpi.loop_id == key[1]))}
        best = kpis.get("with_cost") or kpis.get("without_cost")
        return LoopConfigs(
            experiment_id, True, list(row.factor_names or []), dict(strategy.payload) if strategy else {},
            dict(model.payload) if model else {},
            {"annualized_return": best.annualized_return, "information_ratio": best.information_ratio,
             "max_drawdown": best.max_drawdown} if best else {})
