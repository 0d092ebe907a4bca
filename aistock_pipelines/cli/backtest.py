"""``aistock backtest``: replay a score file on a Qlib directory in Qlib-exact or A-share-real mode.

Writes ``report.parquet``, ``positions.parquet``, ``trades.parquet``, ``risk.json`` and ``nav.png`` into
``--out`` atomically (a temporary folder renamed into place: an error leaves no partial output).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from aistock_core.codes import to_internal
from aistock_core.data.qlib_bin import QlibBinProvider
from aistock_core.data.service import DataService
from aistock_core.data.store import check_output_target
from aistock_core.errors import DataError, InstrumentError, StrategyError
from aistock_core.strategy.backtest.ashare_mode import AshareConfig
from aistock_core.strategy.backtest.engine import run_backtest
from aistock_core.strategy.backtest.market import load_market
from aistock_core.strategy.backtest.outputs import write_outputs
from aistock_core.strategy.backtest.qlib_mode import QlibExchangeConfig
from aistock_core.strategy.backtest.risk import HEADLINE_KPIS
from aistock_core.strategy.config import strategy_by_name
from aistock_core.strategy.scores import read_score_file
from aistock_pipelines.cli.calendar import parse_day
from aistock_pipelines.cli.render import kv_table, make_console


class Mode(StrEnum):
    qlib = "qlib"
    ashare = "ashare"


def backtest(
    provider_uri: Annotated[Path, typer.Option("--provider-uri", help="Qlib data directory.")],
    score: Annotated[Path, typer.Option("--score", help="Scores (Parquet/CSV): datetime, instrument, score.")],
    out: Annotated[Path, typer.Option("--out", help="Output directory (new, empty, or an earlier backtest's).")],
    strategy: Annotated[str, typer.Option(help="topk-dropout | enhanced-topk-dropout | topk-equal | topk-score")] = (
        "topk-dropout"
    ),
    topk: Annotated[int, typer.Option(help="Names held.")] = 50,
    n_drop: Annotated[int, typer.Option("--n-drop", help="Names replaced per day (TopkDropout).")] = 5,
    mode: Annotated[Mode, typer.Option(help="qlib: Qlib 0.9.7-exact; ashare: real A-share rules.")] = Mode.qlib,
    benchmark: Annotated[str, typer.Option(help="Benchmark index code ('none' for no benchmark).")] = "000300.SH",
    start: Annotated[str | None, typer.Option(help="First trade day (default: the day after the first score).")] = None,
    end: Annotated[str | None, typer.Option(help="Last trade day (default: the data's last session).")] = None,
    account: Annotated[float, typer.Option(help="Initial cash.")] = 1e8,
    universe: Annotated[str, typer.Option(help="Market (instruments file) to trade.")] = "all",
    open_cost: Annotated[float, typer.Option(help="Qlib mode buy cost rate.")] = 0.0005,
    close_cost: Annotated[float, typer.Option(help="Qlib mode sell cost rate.")] = 0.0015,
    min_cost: Annotated[float, typer.Option(help="Qlib mode minimum cost per order.")] = 5.0,
    force: Annotated[bool, typer.Option(help="Replace --out even if aistock did not write it.")] = False,
) -> None:
    """Backtest a score file; print the KPIs and write the outputs."""
    out = out.expanduser().resolve()
    check_output_target(out, folder=True, force=force)  # before the work, not after it
    if n_drop > topk:
        raise StrategyError(f"--n-drop {n_drop} is larger than --topk {topk}: a day cannot replace more names than "
                            f"it holds; use --n-drop <= --topk")
    first_day = parse_day(start, "--start") if start else None
    last_day = parse_day(end, "--end") if end else None
    if not provider_uri.is_dir():
        raise DataError(f"--provider-uri {provider_uri} is not a directory (expected a Qlib data dir)")
    scores = read_score_file(score)
    try:
        bench = None if benchmark.lower() == "none" else to_internal(benchmark)
    except InstrumentError as exc:
        raise StrategyError(f"--benchmark: {exc}") from exc
    service = DataService(QlibBinProvider(provider_uri))
    cal = service.calendar
    if first_day is None:
        first_score = scores.index.get_level_values("datetime").min()
        first_day = cal.next(cal.last_session_on_or_before(first_score)) if first_score >= cal.first else cal.first
    last_day = last_day if last_day is not None else service.provider.data_range()[1]
    market = load_market(service, universe, first_day, last_day, benchmark=bench)
    strat = strategy_by_name(strategy, topk=topk, n_drop=n_drop)
    exchange = (
        QlibExchangeConfig(open_cost=open_cost, close_cost=close_cost, min_cost=min_cost)
        if mode is Mode.qlib else AshareConfig()
    )
    result = run_backtest(market, scores, strat, mode=mode.value, account=account, exchange=exchange)
    meta = {"strategy": strategy, "topk": topk, "n_drop": n_drop, "benchmark": bench,
            "start": str(pd.Timestamp(market.dates[market.first_trade_row]).date()),
            "end": str(pd.Timestamp(market.dates[-1]).date()), "account": account}
    written = write_outputs(result, out, account, meta=meta, force=force)
    console = make_console()
    figures = {k: result.risk.get(k) for _, k in HEADLINE_KPIS} | result.trade_counts()
    console.print(kv_table(figures, title=f"{strategy} ({mode.value} mode) {meta['start']}..{meta['end']}"))
    console.print(f"outputs: {written}")
