"""Reconciliation: our Qlib-mode replay of a loop vs the KPIs RD-Agent recorded for it.

Recorded figures come from ``qlib_res.csv`` (contract §4.7: ``pd.Series(recorder.list_metrics()).to_csv()``)
or from the catalog's ``research_loop_kpis`` table (one row per cost basis). Keys are Qlib's
``1day.excess_return_{without,with}_cost.{mean,std,annualized_return,information_ratio,max_drawdown}``;
max_drawdown is negative on both sides (§14.8), so signs are compared as they are, never abs()'d.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from aistock_core.errors import CatalogError, StrategyError
from aistock_core.strategy.backtest.risk import QLIB_METRICS

BASES = ("excess_return_without_cost", "excess_return_with_cost")
QLIB_KEYS = tuple(f"1day.{b}.{m}" for b in BASES for m in QLIB_METRICS)
#: Per-metric (relative, absolute) tolerance: a faithful replay on the same data agrees to float noise.
DEFAULT_TOLERANCE = (1e-6, 1e-9)
_DB_COLUMNS = {"mean": "mean_return", "std": "std_return", "annualized_return": "annualized_return",
               "information_ratio": "information_ratio", "max_drawdown": "max_drawdown"}


@dataclass(frozen=True)
class Reconciliation:
    """Deviation table (one row per compared metric) and the verdict."""

    table: pd.DataFrame
    passed: bool

    def failures(self) -> pd.DataFrame:
        return self.table[~self.table["ok"]]

    def to_markdown(self) -> str:
        lines = ["| metric | ours | recorded | abs diff | rel diff | tolerance | ok |", "|---|---|---|---|---|---|---|"]
        for key, r in self.table.iterrows():
            lines.append(
                f"| {key} | {r['ours']:.6g} | {r['recorded']:.6g} | {r['abs_diff']:.2e} | {r['rel_diff']:.2e} | "
                f"{r['rtol']:.0e}/{r['atol']:.0e} | {'✅' if r['ok'] else '❌'} |"
            )
        return "\n".join(lines)


def read_qlib_res(path: str | Path) -> dict[str, float]:
    """Metrics of a ``qlib_res.csv`` (keys stripped: one registry path writes a trailing space)."""
    path = Path(path)
    if not path.is_file():
        raise CatalogError(f"qlib_res.csv not found at {path}")
    try:
        frame = pd.read_csv(path, index_col=0)
    except (OSError, ValueError) as exc:
        raise CatalogError(f"cannot read {path} as qlib_res.csv: {exc}") from exc
    if frame.shape[1] < 1:
        raise CatalogError(f"{path} has no value column; expected a header ',0' then '<metric>,<value>' rows")
    series = pd.to_numeric(frame.iloc[:, 0], errors="coerce")
    return {str(k).strip(): float(v) for k, v in series.items() if pd.notna(v)}


def kpis_from_db(session: object, run_id: str, loop_id: int, scope: str = "task_run") -> dict[str, float]:
    """Qlib-keyed KPIs of one loop from the catalog's ``research_loop_kpis`` rows (both cost bases)."""
    try:
        from sqlalchemy import select

        from aistock_core.db.models.research import ResearchLoopKpi
    except ImportError as exc:  # the catalog box is not installed in this build
        raise CatalogError(f"catalog tables are not available ({exc}); reconcile from a qlib_res.csv file") from exc
    rows = session.execute(  # type: ignore[attr-defined]
        select(ResearchLoopKpi).where(
            ResearchLoopKpi.scope == scope, ResearchLoopKpi.run_id == run_id, ResearchLoopKpi.loop_id == loop_id
        )
    ).scalars().all()
    if not rows:
        raise CatalogError(f"no recorded KPIs for loop ({run_id}, {loop_id}) in scope {scope!r}; sync the catalog")
    out: dict[str, float] = {}
    for row in rows:
        basis = f"excess_return_{row.cost_basis}"
        for metric, column in _DB_COLUMNS.items():
            value = getattr(row, column)
            if value is not None:
                out[f"1day.{basis}.{metric}"] = float(value)
    return out


def reconcile(
    ours: Mapping[str, float],
    recorded: Mapping[str, float],
    tolerances: Mapping[str, tuple[float, float]] | None = None,
) -> Reconciliation:
    """Compare the Qlib metric keys both sides have; `StrategyError` if they share none."""
    tolerances = tolerances or {}
    keys = [k for k in QLIB_KEYS if k in recorded and k in ours]
    if not keys:
        raise StrategyError(
            f"nothing to reconcile: recorded KPIs have none of the Qlib keys {QLIB_KEYS[:2]}...; "
            f"got {sorted(recorded)[:8]}"
        )
    mine = np.array([ours[k] for k in keys], dtype=float)
    theirs = np.array([recorded[k] for k in keys], dtype=float)
    tol = np.array([tolerances.get(k, tolerances.get(k.rsplit(".", 1)[-1], DEFAULT_TOLERANCE)) for k in keys])
    diff = np.abs(mine - theirs)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(theirs != 0, diff / np.abs(theirs), np.where(diff == 0, 0.0, np.inf))
    ok = diff <= tol[:, 1] + tol[:, 0] * np.abs(theirs)
    table = pd.DataFrame(
        {"ours": mine, "recorded": theirs, "abs_diff": diff, "rel_diff": rel, "rtol": tol[:, 0], "atol": tol[:, 1],
         "ok": ok},
        index=pd.Index(keys, name="metric"),
    )
    return Reconciliation(table=table, passed=bool(ok.all()))
