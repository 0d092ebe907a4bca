"""``aistock backtest``: replay a score file on a Qlib directory in Qlib-exact or A-share-real mode.

Writes ``report.parquet``, ``positions.parquet``, ``trades.parquet``, ``risk.json`` and ``nav.png`` into
``--out`` atomically (a temporary folder renamed into place: an error leaves no partial output). nav.png is
drawn by the chart process the command line started before importing this module (`prepared`), so importing
matplotlib overlaps the backtest.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from aistock_core.data.qlib_bin import QlibBinProvider
from aistock_core.data.service import DataService
from aistock_core.data.store import check_output_target
from aistock_core.errors import DataError, StrategyError
from aistock_core.strategy.backtest.risk import HEADLINE_KPIS
from aistock_core.strategy.config import named_strategy_block
from aistock_core.strategy.spec import BacktestSpec, run_and_write
from aistock_core.trading.qlib_rules import RDAGENT_EXCHANGE
from aistock_pipelines.cli.calendar import parse_day
from aistock_pipelines.cli.main import prepared
from aistock_pipelines.cli.render import kv_table, make_console


class Mode(StrEnum):
    qlib = "qlib"
    ashare = "ashare"


def backtest(
    ctx: typer.Context,
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
    open_cost: Annotated[float, typer.Option(help="Qlib mode buy cost rate.")] = RDAGENT_EXCHANGE.open_cost,
    close_cost: Annotated[float, typer.Option(help="Qlib mode sell cost rate.")] = RDAGENT_EXCHANGE.close_cost,
    min_cost: Annotated[float, typer.Option(help="Qlib mode minimum cost per order.")] = RDAGENT_EXCHANGE.min_cost,
    force: Annotated[bool, typer.Option(help="Replace --out even if aistock did not write it.")] = False,
) -> None:
    """Backtest a score file; print the KPIs and write the outputs."""
    out = out.expanduser().resolve()
    check_output_target(out, folder=True, force=force)  # before the work, not after it
    if n_drop > topk:
        raise StrategyError(f"--n-drop {n_drop} is larger than --topk {topk}: a day cannot replace more names than "
                            f"it holds; use --n-drop <= --topk")
    for text, what in ((start, "--start"), (end, "--end")):
        if text:
            parse_day(text, what)  # a bad date is one line now, not a traceback from deep in the run
    if not provider_uri.is_dir():
        raise DataError(f"--provider-uri {provider_uri} is not a directory (expected a Qlib data dir)")
    costs = {"open_cost": open_cost, "close_cost": close_cost, "min_cost": min_cost} if mode is Mode.qlib else {}
    spec = BacktestSpec(
        name="cli", mode=mode.value, universe=universe, score_path=str(score), sessions=None,
        strategy=named_strategy_block(strategy, topk=topk, n_drop=n_drop),
        backtest={"account": account, "benchmark": None if benchmark.lower() == "none" else benchmark,
                  "start_time": start, "end_time": end, "exchange_kwargs": costs},
    )
    run, written = run_and_write(spec, DataService(QlibBinProvider(provider_uri)), universe, out,
                                 title=f"{mode.value} mode", force=force, chart=prepared(ctx, "backtest"))
    figures = {k: run.result.risk.get(k) for _, k in HEADLINE_KPIS} | run.result.trade_counts()
    console = make_console()
    console.print(kv_table(figures, title=f"{strategy} ({mode.value} mode) {run.window[0]}..{run.window[1]}"))
    console.print(f"outputs: {written}")
