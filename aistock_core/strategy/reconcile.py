"""Reconciliation: our Qlib-mode replay of a loop vs the KPIs RD-Agent recorded for it.

Recorded figures come from ``qlib_res.csv`` (rdagent.md §4.7: ``pd.Series(recorder.list_metrics()).to_csv()``)
or from the catalog's ``research_loop_kpis`` table (one row per cost basis). Keys are Qlib's
``1day.excess_return_{without,with}_cost.{mean,std,annualized_return,information_ratio,max_drawdown}``;
max_drawdown is negative on both sides (rdagent.md §14.8), so signs are compared as they are, never abs()'d.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aistock_core.codes import to_qlib
from aistock_core.data.service import DataService
from aistock_core.errors import CatalogError, StrategyError
from aistock_core.factors.references import qlib_available
from aistock_core.strategy.backtest.risk import QLIB_METRICS
from aistock_core.strategy.config import BacktestSettings

BASES = ("excess_return_without_cost", "excess_return_with_cost")
QLIB_KEYS = tuple(f"1day.{b}.{m}" for b in BASES for m in QLIB_METRICS)
#: Per-metric (relative, absolute) tolerance: a faithful replay on the same data agrees to float noise.
DEFAULT_TOLERANCE = (1e-6, 1e-9)
#: Per-metric (relative, absolute) tolerances when research read float32 Qlib bins and the replay the
#: provider's float64 bars. Same trades, but Qlib rounds every buy to 100-share lots (``trade_unit``), and a
#: price that differs in its 8th digit now and then flips a lot, moving a day's return by ~1e-6. Measured on
#: demo markets: |Δ daily mean| ≤ 1e-7 (the replay on the Qlib dump itself agrees to 1e-14, so the gap is
#: storage alone). Absolute terms follow from the daily-mean one (annualized = mean × 238; IR ≈ mean / std ×
#: √238 at a daily std ≥ 0.5%), because a relative tolerance means nothing for a mean near zero.
FLOAT32_TOLERANCES: dict[str, tuple[float, float]] = {
    "mean": (1e-3, 1e-6), "std": (1e-3, 1e-7), "annualized_return": (1e-3, 2.4e-4),
    "information_ratio": (1e-3, 3e-3), "max_drawdown": (1e-3, 1e-4),
}
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
                f"{r['rtol']:.2g}/{r['atol']:.2g} | {'✅' if r['ok'] else '❌'} |"
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


def reference_loop(session: object, tag: str) -> tuple[str, int, dict[str, Any]] | None:
    """The synced loop whose catalog entry carries ``replay_reference.tag == tag``: (run_id, loop_id, its
    ``replay_reference`` — what the recorded KPIs were computed on); None when no live loop has the tag.

    Two live loops with the same tag are a `CatalogError`: which one a replay answers to must not be a guess.
    """
    from sqlalchemy import select

    from aistock_core.db.models.research import ResearchLoop

    rows = session.execute(  # type: ignore[attr-defined]
        select(ResearchLoop.task_run_id, ResearchLoop.loop_id, ResearchLoop.payload)
        .where(ResearchLoop.removed_at.is_(None), ResearchLoop.in_catalog.is_(True))
    ).all()
    hits = [(run, loop, ref) for run, loop, payload in rows
            if isinstance(ref := ((payload or {}).get("catalog") or {}).get("replay_reference"), dict)
            and ref.get("tag") == tag]
    if len(hits) > 1:
        raise CatalogError(
            f"{len(hits)} synced loops carry replay tag {tag!r}: {[h[:2] for h in hits]}; name one with recorded_loop"
        )
    return hits[0] if hits else None


def input_mismatches(reference: Mapping[str, Any], replay: Mapping[str, Any]) -> list[str]:
    """What differs between the inputs of the reference run and of the replay (empty: same inputs).

    ``reference``: the loop's ``replay_reference`` (window, universe, signal, strategy and backtest blocks);
    ``replay``: the same keys from our run. KPIs of different inputs are not comparable, so any difference is
    reported before the figures are.
    """
    out = []
    ours_window = list(replay.get("window") or [])
    theirs_window = [reference.get("start_time"), reference.get("end_time")]
    if ours_window != theirs_window:
        out.append(f"window: recorded {theirs_window[0]}..{theirs_window[1]}, replay {'..'.join(ours_window)}")
    for key in ("universe", "signal"):
        if reference.get(key) != replay.get(key):
            out.append(f"{key}: recorded {reference.get(key)!r}, replay {replay.get(key)!r}")
    strategies = [dict(block or {}) for block in (reference.get("strategy"), replay.get("strategy"))]
    if strategies[0].get("class") != strategies[1].get("class") or _kwargs(strategies[0]) != _kwargs(strategies[1]):
        out.append(f"strategy: recorded {strategies[0]}, replay {strategies[1]}")
    blocks = [{k: v for k, v in dict(b or {}).items() if k not in ("start_time", "end_time")}
              for b in (reference.get("backtest"), replay.get("backtest"))]
    if BacktestSettings.from_qlib(blocks[0]) != BacktestSettings.from_qlib(blocks[1]):
        out.append(f"backtest: recorded {blocks[0]}, replay {blocks[1]}")
    return out


def _kwargs(block: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in dict(block.get("kwargs") or {}).items() if k != "signal"}


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


def replay_window(
    service: DataService, sessions: int, start: object = None, end: object = None
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The backtest window ``start..end`` (sessions): given bounds, else the last ``sessions`` sessions of the
    data (never before its second session: the first is the warm-up row). One rule shared by the replay and
    by the reference run it is reconciled with, so both cover the same days."""
    cal = service.calendar
    first, last = service.provider.data_range()
    stop = cal.last_session_on_or_before(end if end is not None else last)
    if start is not None:
        return pd.Timestamp(start), stop
    earliest = cal.next(cal.sessions_in_range(first, stop)[0])
    return max(cal.offset(stop, -(sessions - 1)), earliest), stop


def _extend_calendar(qdir: Path, day: pd.Timestamp) -> None:
    """Append the session after the window to the dump's calendar: Qlib's ``get_step_time`` reads the next
    calendar entry of every step, the last one included (``qlib/backtest/utils.py``), so a calendar ending on
    ``end_time`` fails with an IndexError. Real Qlib directories run past any research window."""
    path = qdir / "calendars" / "day.txt"
    days = path.read_text().split()
    if days and pd.Timestamp(days[-1]) < day:
        path.write_text("\n".join([*days, f"{day:%Y-%m-%d}"]) + "\n")


def qlib_backtest_kpis(
    service: DataService,
    universe: str,
    scores: pd.Series,
    start: pd.Timestamp,
    end: pd.Timestamp,
    strategy_kwargs: Mapping[str, Any],
    backtest: Mapping[str, Any],
    *,
    warmup: int = 20,
    timeout: float = 300.0,
    hash_seed: int = 0,
) -> dict[str, float]:
    """Qlib-keyed KPIs of Qlib 0.9.7's *own* TopkDropout backtest of ``scores`` over ``start..end``.

    This is how research produces ``qlib_res.csv``: the service's bars are dumped as a Qlib directory
    (``warmup`` sessions before ``start`` included, so the first day's benchmark return and ``$change`` have a
    previous close), and `qlib_reference` runs Qlib's backtest on it in a subprocess (``qlib.init`` is global
    state). Nothing of our engine is involved, so a reconciliation against these figures is a real check.
    ``backtest`` is Qlib's backtest block (account, benchmark, exchange_kwargs). `StrategyError` if Qlib is
    missing or its run fails (with the tail of its stderr).

    ``hash_seed`` fixes the subprocess's ``PYTHONHASHSEED``: Qlib's ``Position.get_stock_list`` is
    ``list(set(...))``, and on a day when TopkDropout buys nothing (holdings ≥ topk + n_drop, so ``today`` is
    empty and ``last.union([])`` keeps the set's order) while more than ``n_drop`` holdings have no score, which
    of them it sells follows string hashing. Qlib's own result then varies from run to run: a fixed seed
    makes the recorded figures reproducible, and scores covering every listed cell (`signals.signal_scores`)
    keep such days from arising (what is left unscored is delisted, hence unsellable whatever the order).
    """
    if not qlib_available():
        raise StrategyError("Qlib is not installed: install the 'qlib' extra (pyqlib 0.9.7) to run its backtest")
    if scores.empty:
        raise StrategyError(f"no scores to backtest over {start:%Y-%m-%d}..{end:%Y-%m-%d}")
    from aistock_core.data.qlib_bin import write_qlib_dir

    cal = service.calendar
    with tempfile.TemporaryDirectory(prefix="aistock_qlib_ref_") as tmp:
        work = Path(tmp)
        first = cal.offset(start, -warmup) if cal.offset(cal.first, warmup) <= start else cal.first
        qdir = write_qlib_dir(service, work / "qlib", start=first, end=end, markets=(universe,))
        _extend_calendar(qdir, cal.next(end))
        pred = scores.rename("score").to_frame()
        codes = pred.index.get_level_values("instrument")
        pred.index = pd.MultiIndex.from_arrays(
            [pred.index.get_level_values("datetime"), [to_qlib(c) for c in codes]], names=["datetime", "instrument"]
        )
        pred.sort_index().to_parquet(work / "scores.parquet")
        bench = backtest.get("benchmark")
        spec = {
            "provider_uri": str(work / "qlib"), "score_path": str(work / "scores.parquet"),
            "out_dir": str(work / "out"), "strategy_kwargs": dict(strategy_kwargs),
            "start": f"{start:%Y-%m-%d}", "end": f"{end:%Y-%m-%d}", "benchmark": to_qlib(bench) if bench else None,
            "account": float(backtest.get("account", 1e8)),
            "exchange_kwargs": dict(backtest.get("exchange_kwargs") or {}),
        }
        (work / "spec.json").write_text(json.dumps(spec))
        done = subprocess.run(
            [sys.executable, "-m", "aistock_core.strategy.backtest.qlib_reference", str(work / "spec.json")],
            capture_output=True, text=True, timeout=timeout, env={**os.environ, "PYTHONHASHSEED": str(hash_seed)},
        )
        if done.returncode != 0:
            raise StrategyError(f"Qlib's backtest failed (exit {done.returncode}): {done.stderr[-2000:]}")
        return {k: float(v) for k, v in json.loads((work / "out" / "risk.json").read_text()).items()}
