"""The daily evaluation (18:00): every instance's period performance, its signals, patterns and divergence.

`evaluate_signals` scores the day's executed signals (`aistock_core.signals.evaluate`); `analyse_day` builds
one report per instance with account rows — the period figures (`figures.instance_performance` over the
last ``window`` sessions), the day's signal summary (counts by state; for executed signals win rate, average
expected and realised return, average score, slippage and time to fill), the patterns (`patterns`) and the
expectation block (`divergence`) — and stores it in ``performance_reports`` (one row per instance and day,
overwritten by a re-run). `report_markdown` and `report_png` render the reports for the Dagster asset.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from aistock_core.data.service import DataService
from aistock_core.db import Database
from aistock_core.db.models.signals import PerformanceReportRow
from aistock_core.db.upsert import upsert
from aistock_core.errors import SignalError
from aistock_core.feedback.divergence import divergence, loop_kpis, replay_returns
from aistock_core.feedback.figures import instance_performance
from aistock_core.feedback.patterns import find_patterns
from aistock_core.feedback.periods import make_period
from aistock_core.instances import Instance, list_instances
from aistock_core.signals.evaluate import DEFAULT_COST_BPS, evaluate
from aistock_core.signals.generate import MarketView
from aistock_core.signals.store import SignalStore

#: Sessions behind a daily report's period figures.
DEFAULT_WINDOW = 20


def evaluate_signals(db: Database, service: DataService, day, cost_bps: float = DEFAULT_COST_BPS) -> int:
    """Score the executed signals of ``day`` at its raw closes; returns the signals scored."""
    store = SignalStore(db)
    frame = store.frame(day)
    if frame.empty:
        return 0
    market = MarketView.load(service, sorted(set(frame["symbol"])), pd.Timestamp(day))
    scored = evaluate(frame, market.close, market.vol, cost_bps)
    return store.set_fields(scored.replace({np.nan: None}).to_dict("records"))


def _mean(series: pd.Series) -> float | None:
    values = pd.to_numeric(series, errors="coerce").dropna()
    return float(values.mean()) if len(values) else None


def signal_summary(signals: pd.DataFrame) -> dict[str, Any]:
    """Counts by state and the executed signals' averages (None where there is nothing to average)."""
    counts = signals["state"].value_counts().to_dict() if not signals.empty else {}
    done = signals[signals["state"] == "executed"] if not signals.empty else signals
    actual = pd.to_numeric(done.get("actual_return", pd.Series(dtype=float)), errors="coerce").dropna()
    return {"total": len(signals), "by_state": {k: int(v) for k, v in counts.items()},
            "executed": len(done), "win_rate": float((actual > 0).mean()) if len(actual) else None,
            "avg_expected_return": _mean(done.get("expected_return", pd.Series(dtype=float))),
            "avg_actual_return": float(actual.mean()) if len(actual) else None,
            "avg_evaluation_score": _mean(done.get("evaluation_score", pd.Series(dtype=float))),
            "avg_slippage_bps": _mean(done.get("execution_slippage_bps", pd.Series(dtype=float))),
            "avg_fill_seconds": _mean(done.get("fill_seconds", pd.Series(dtype=float))),
            "pnl": float(pd.to_numeric(done.get("pnl", pd.Series(dtype=float)), errors="coerce").sum())}


def period_signals(db: Database, instance: str, start, end, cost_bps: float = DEFAULT_COST_BPS) -> dict[str, Any]:
    """The LiveFeedback ``signals`` block (contract v1) of ``instance`` over the days ``start..end``: signals
    generated, how many reached validated / rejected / expired / executed (from the recorded transitions, so a
    signal validated and later executed counts in both), the executed ones' mean score, and the patterns."""
    store = SignalStore(db)
    frame = store.frame(instance=instance)
    if not frame.empty:
        days = pd.to_datetime(frame["trading_day"])
        frame = frame[(days >= pd.Timestamp(start)) & (days <= pd.Timestamp(end))]
    reached = store.transitions(list(frame["signal_key"])).groupby("to_state")["signal_key"].nunique() \
        if len(frame) else pd.Series(dtype=int)
    found = find_patterns(frame, cost_bps)
    return {"generated": len(frame), **{s: int(reached.get(s, 0)) for s in ("validated", "rejected", "expired",
                                                                           "executed")},
            "avg_evaluation_score": signal_summary(frame)["avg_evaluation_score"],
            "overconfident": found["overconfident"], "patterns": found["patterns"]}


def _daily_returns(perf: dict[str, Any], base: float) -> pd.Series:
    nav = pd.Series({pd.Timestamp(p["date"]): p["nav"] for p in perf["nav"]}, dtype=float)
    return nav / nav.shift(1, fill_value=base) - 1.0


def analyse_instance(db: Database, service: DataService, instance: Instance, day, *,
                     window: int = DEFAULT_WINDOW, replay: pd.Series | None = None,
                     cost_bps: float = DEFAULT_COST_BPS) -> dict[str, Any]:
    """One instance's report for ``day`` (see the module docstring); `SignalError` without account rows."""
    day = pd.Timestamp(day).normalize()
    period = make_period(service.calendar, service.calendar.offset(day, -(window - 1)), day)
    history, figures = instance_performance(db, service, instance, period)
    perf = {"sessions": len(history.value), **figures}
    # The NAV before the period: total_return = nav_end / base − 1.
    base = perf["nav"][-1]["nav"] / (1.0 + perf["total_return"]) if perf["total_return"] is not None else 1.0
    signals = SignalStore(db).frame(day, instance.id)
    with db.session() as session:
        kpis = loop_kpis(session, instance.loop)
    return {"instance": instance.id, "name": instance.name, "env": instance.env, "day": f"{day:%Y-%m-%d}",
            "performance": perf, "signals": signal_summary(signals),
            "patterns": find_patterns(signals, cost_bps),
            "expectation": divergence(perf, _daily_returns(perf, base), replay, kpis)}


def analyse_day(db: Database, service: DataService, day, *, window: int = DEFAULT_WINDOW,
                replay_report: Path | None = None, cost_bps: float = DEFAULT_COST_BPS) -> tuple[list[dict], list[str]]:
    """Reports of every instance with account rows, stored; returns (reports, instances skipped and why)."""
    day = pd.Timestamp(day).normalize()
    if not service.calendar.is_session(day):
        raise SignalError(f"{day:%Y-%m-%d} is not an XSHG session; evaluations run on trading days only")
    replay = replay_returns(replay_report) if replay_report is not None else None
    reports, skipped = [], []
    for inst in list_instances(db):
        try:
            reports.append(analyse_instance(db, service, inst, day, window=window, replay=replay, cost_bps=cost_bps))
        except SignalError as exc:
            skipped.append(f"{inst.id}: {exc}")
    with db.session() as s:
        upsert(s, PerformanceReportRow, [_row(r, day) for r in reports])
    return reports, skipped


def _row(report: dict[str, Any], day: pd.Timestamp) -> dict[str, Any]:
    perf, exp = report["performance"], report["expectation"]
    return {"instance": report["instance"], "trading_day": day.date(), "env": report["env"],
            "sessions": perf["sessions"], "total_return": perf["total_return"], "sharpe": perf["sharpe"],
            "max_drawdown": perf["max_drawdown"], "win_rate": perf["win_rate"],
            "avg_evaluation_score": report["signals"]["avg_evaluation_score"],
            "tracking_error": exp["tracking_error"], "verdict": exp["divergence"], "figures": report}


def _fmt(x: float | None, spec: str) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def report_markdown(reports: list[dict]) -> str:
    """One table row per instance: period figures, signal outcome, the verdict."""
    lines = ["| instance | env | sessions | return | sharpe | max DD | win rate | signals | executed | "
             "avg score | slippage bps | verdict |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in reports:
        p, s = r["performance"], r["signals"]
        lines.append(f"| {r['instance']} ({r['name']}) | {r['env']} | {p['sessions']} "
                     f"| {_fmt(p['total_return'], '.2%')} | {_fmt(p['sharpe'], '.2f')} "
                     f"| {_fmt(p['max_drawdown'], '.2%')} | {_fmt(p['win_rate'], '.0%')} "
                     f"| {s['total']} | {s['executed']} | {_fmt(s['avg_evaluation_score'], '.1f')} "
                     f"| {_fmt(s['avg_slippage_bps'], '.1f')} | {r['expectation']['divergence']} |")
    return "\n".join(lines)


def report_png(reports: list[dict], title: str) -> bytes:
    """NAV of every instance over its period against its benchmark (matplotlib's object API, no pyplot)."""
    fig = Figure(figsize=(9, 4.5))
    ax = fig.add_subplot()
    for r in reports:
        nav = pd.Series({pd.Timestamp(p["date"]): p["nav"] for p in r["performance"]["nav"]}, dtype=float)
        ax.plot(nav.index, nav.to_numpy(), lw=1.3, label=r["instance"])
    if reports:
        bench = pd.Series({pd.Timestamp(p["date"]): p["benchmark_nav"] for p in reports[0]["performance"]["nav"]},
                          dtype=float)
        ax.plot(bench.index, bench.to_numpy(), color="grey", ls=":", label=reports[0]["performance"]["benchmark"])
    ax.set_title(title)
    ax.set_ylabel("NAV")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=7)
    fig.autofmt_xdate()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return buf.getvalue()
