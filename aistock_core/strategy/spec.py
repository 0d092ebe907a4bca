"""A backtest as data (`BacktestSpec`), the one function that runs it, and where its recorded KPIs come from.

The command line (``aistock backtest``) and the Dagster backtest assets both describe a backtest as a
`BacktestSpec` and call `run_and_write`: one flow from scores to outputs, so the two cannot drift apart. The
reconciliation of a replay with research picks its recorded KPIs with `recorded_kpis` (a file, a loop, or the
loop tagged as replay reference), also here rather than in the Dagster layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from aistock_core.data.service import DataService
from aistock_core.errors import StrategyError
from aistock_core.strategy.backtest.ashare_mode import AshareConfig
from aistock_core.strategy.backtest.engine import run_backtest
from aistock_core.strategy.backtest.market import load_market
from aistock_core.strategy.backtest.outputs import write_outputs
from aistock_core.strategy.backtest.report import BacktestResult
from aistock_core.strategy.config import BacktestSettings, strategy_from_config
from aistock_core.strategy.reconcile import input_mismatches, kpis_from_db, read_qlib_res, reference_loop, replay_window
from aistock_core.strategy.scores import read_score_file
from aistock_core.strategy.signals import DEFAULT_SIGNAL, signal_scores

if TYPE_CHECKING:
    from aistock_core.strategy.backtest.chart_process import NavChartProcess

MODES = ("qlib", "ashare")


@dataclass(frozen=True)
class BacktestSpec:
    """One strategy to backtest (and reconcile).

    ``strategy``: Qlib's strategy block (catalog ``portfolio_config``; the CLI's names such as ``topk-dropout``
    are accepted as ``class``); ``backtest``: Qlib's backtest block (``backtest_config``: account, benchmark,
    exchange_kwargs, optional start_time/end_time). The window: start_time..end_time where given; without a
    start, the last ``sessions`` sessions of the data, or with ``sessions=None`` from the session after the
    first score (the command line's rule). Scores: ``score_path`` if set, else the ``signal`` expression.
    ``recorded_qlib_res`` / ``recorded_loop`` (run_id, loop_id) / ``recorded_tag`` (the synced loop whose
    catalog entry carries ``replay_reference.tag``) name the KPIs the reconciliation compares with, first set
    first; ``tolerances`` override the per-metric (rtol, atol) there.
    """

    name: str
    strategy: dict[str, Any]
    backtest: dict[str, Any] = field(default_factory=dict)
    mode: str = "qlib"
    sessions: int | None = 250
    universe: str | None = None
    score_path: str | None = None
    signal: str = DEFAULT_SIGNAL
    recorded_qlib_res: str | None = None
    recorded_loop: tuple[str, int] | None = None
    recorded_tag: str | None = None
    tolerances: dict[str, tuple[float, float]] = field(default_factory=dict)

    def settings(self) -> BacktestSettings:
        return BacktestSettings.from_qlib(self.backtest)

    def output_dir(self, store_root: str | Path) -> Path:
        """Where the pipelines keep this spec's outputs under a store root: ``<root>/backtests/<name>``."""
        return Path(store_root) / "backtests" / self.name


@dataclass(frozen=True)
class SpecRun:
    """A spec's backtest result with what it ran on: the validated settings and the universe."""

    result: BacktestResult
    settings: BacktestSettings
    universe: str

    @property
    def window(self) -> list[str]:
        index = self.result.report.index
        return [f"{index[0]:%Y-%m-%d}", f"{index[-1]:%Y-%m-%d}"]


def spec_scores(spec: BacktestSpec, service: DataService, universe: str, start, end) -> pd.Series:
    """The spec's scores: its score file, else its signal expression over [start, end]."""
    if spec.score_path:
        return read_score_file(spec.score_path)
    return signal_scores(service, universe, start, end, spec.signal)


def _window(spec: BacktestSpec, service: DataService, settings: BacktestSettings, scores) -> tuple:
    start = settings.start
    if start is None and spec.sessions is None:
        if scores is None:
            raise StrategyError(f"backtest spec {spec.name!r}: sessions=None needs a score file (score_path)")
        cal = service.calendar
        first_score = scores.index.get_level_values("datetime").min()
        start = cal.next(cal.last_session_on_or_before(first_score)) if first_score >= cal.first else cal.first
    return replay_window(service, spec.sessions or 0, start, settings.end)


def run_spec(spec: BacktestSpec, service: DataService, default_universe: str) -> SpecRun:
    """Backtest ``spec`` on ``service`` (universe: the spec's, else ``default_universe``)."""
    if spec.mode not in MODES:
        raise StrategyError(f"backtest spec {spec.name!r}: mode {spec.mode!r} is not one of {MODES}")
    settings = spec.settings()
    strategy = strategy_from_config(spec.strategy)  # before any data is read: a bad block writes nothing
    universe = spec.universe or default_universe
    scores = read_score_file(spec.score_path) if spec.score_path else None
    start, end = _window(spec, service, settings, scores)
    market = load_market(service, universe, start, end, benchmark=settings.benchmark)
    if scores is None:
        last = market.dates[-2] if len(market.dates) > 1 else end
        scores = signal_scores(service, universe, market.dates[0], last, spec.signal)
    exchange = settings.exchange if spec.mode == "qlib" else AshareConfig()
    result = run_backtest(market, scores, strategy, mode=spec.mode, account=settings.account, exchange=exchange)
    return SpecRun(result, settings, universe)


def run_and_write(spec: BacktestSpec, service: DataService, default_universe: str, out_dir: str | Path,
                  title: str | None = None, force: bool = False,
                  chart: NavChartProcess | None = None) -> tuple[SpecRun, Path]:
    """`run_spec`, then the outputs (`write_outputs`, nav.png by ``chart`` when given) with the inputs in
    risk.json: spec, strategy block, benchmark, window, universe and signal — what `input_mismatches` compares
    with a recorded run."""
    run = run_spec(spec, service, default_universe)
    meta = {"spec": spec.name, "strategy": spec.strategy, "benchmark": run.settings.benchmark,
            "window": run.window, "universe": run.universe, "account": run.settings.account,
            "signal": None if spec.score_path else spec.signal,
            "score_path": str(spec.score_path) if spec.score_path else None}
    out = write_outputs(run.result, out_dir, run.settings.account, meta=meta,
                        title=title or f"{spec.name} ({spec.mode})", force=force, chart=chart)
    return run, out


@dataclass(frozen=True)
class RecordedKpis:
    """What a replay is reconciled with: the KPIs, where they came from, and — for a tagged reference loop —
    how the inputs differ (a mismatch makes the figures incomparable) and the reference's own description."""

    kpis: dict[str, float]
    source: str
    mismatches: list[str] = field(default_factory=list)
    reference: dict[str, Any] | None = None


class NoReference(StrategyError):
    """Nothing to reconcile with (no source configured, or no synced loop carries the tag): a warning, not a
    pass — the caller reports that nothing was reconciled and why."""


def recorded_kpis(spec: BacktestSpec, replay: dict[str, Any], session_scope=None) -> RecordedKpis:
    """The recorded KPIs of ``spec`` (first configured source of qlib_res.csv, loop, tag).

    ``replay``: the replay's risk.json (its inputs are compared with a tagged reference's); ``session_scope``:
    a callable returning a context-managed DB session (``Database.session``), needed for loops and tags.
    Raises `NoReference` when there is nothing to compare with.
    """
    if spec.recorded_qlib_res:
        return RecordedKpis(read_qlib_res(spec.recorded_qlib_res), spec.recorded_qlib_res)
    if spec.recorded_loop:
        run_id, loop_id = spec.recorded_loop
        with session_scope() as session:
            kpis = kpis_from_db(session, run_id, loop_id)
        return RecordedKpis(kpis, f"research_loop_kpis ({run_id}, {loop_id})")
    if spec.recorded_tag:
        with session_scope() as session:
            found = reference_loop(session, spec.recorded_tag)
            if found is None:
                raise NoReference(
                    f"no synced research loop is tagged {spec.recorded_tag!r} (the demo export designates one only "
                    f"when Qlib is installed: install the 'qlib' extra, regenerate the export, resync)")
            run_id, loop_id, reference = found
            kpis = kpis_from_db(session, run_id, loop_id)
        return RecordedKpis(kpis, f"research_loop_kpis ({run_id}, {loop_id}), tagged {spec.recorded_tag!r}",
                            mismatches=input_mismatches(reference, {**replay, "backtest": spec.backtest}),
                            reference=reference)
    raise NoReference("no recorded KPIs configured for this spec (set recorded_qlib_res, recorded_loop or "
                      "recorded_tag)")
