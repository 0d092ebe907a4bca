"""Run Qlib 0.9.7's own TopkDropout backtest on a Qlib directory: the reference Qlib mode is checked against.

Meant to run in its own process (``python -m aistock_core.strategy.backtest.qlib_reference SPEC.json``):
``qlib.init`` is global and slow, so tests and the benchmark call it once in a subprocess. Writes
``report.parquet`` (Qlib's report_normal), ``positions.parquet`` (datetime, instrument, amount, price) and
``risk.json`` (Qlib's ``risk_analysis`` of the excess returns) plus ``timing.json`` under ``out_dir``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pandas as pd


def run(spec: dict) -> None:
    import qlib
    from qlib.backtest import backtest
    from qlib.backtest.executor import SimulatorExecutor
    from qlib.constant import REG_CN
    from qlib.contrib.evaluate import risk_analysis
    from qlib.contrib.strategy import TopkDropoutStrategy

    out = Path(spec["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    qlib.init(provider_uri=spec["provider_uri"], region=REG_CN, kernels=1)
    pred = pd.read_parquet(spec["score_path"])
    strategy = TopkDropoutStrategy(signal=pred, **spec["strategy_kwargs"])
    executor = SimulatorExecutor(time_per_step="day", generate_portfolio_metrics=True)
    began = time.perf_counter()
    metrics, _ = backtest(
        start_time=spec["start"],
        end_time=spec["end"],
        strategy=strategy,
        executor=executor,
        benchmark=spec["benchmark"],
        account=spec["account"],
        exchange_kwargs=spec["exchange_kwargs"],
    )
    elapsed = time.perf_counter() - began
    report, positions = metrics["1day"]
    report.to_parquet(out / "report.parquet")
    rows = [
        (day, code, pos.get_stock_amount(code), pos.get_stock_price(code))
        for day, pos in positions.items()
        for code in pos.get_stock_list()
    ]
    pd.DataFrame(rows, columns=["datetime", "instrument", "amount", "price"]).to_parquet(out / "positions.parquet")
    risk = {}
    for name, r in (
        ("excess_return_without_cost", report["return"] - report["bench"]),
        ("excess_return_with_cost", report["return"] - report["bench"] - report["cost"]),
    ):
        for key, value in risk_analysis(r, freq="day")["risk"].items():
            risk[f"1day.{name}.{key}"] = float(value)
    (out / "risk.json").write_text(json.dumps(risk, indent=1))
    (out / "timing.json").write_text(json.dumps({"backtest_s": elapsed}))


if __name__ == "__main__":
    run(json.loads(Path(sys.argv[1]).read_text()))
