"""nav.png drawn by a child process (`NavChartProcess`): the same picture as in-process, and all-or-nothing."""

from __future__ import annotations

import sys

import pytest
from PIL import Image

from aistock_core.data.qlib_bin import QlibBinProvider
from aistock_core.data.service import DataService
from aistock_core.errors import StrategyError
from aistock_core.strategy.backtest import outputs
from aistock_core.strategy.backtest.chart_process import NavChartProcess
from aistock_core.strategy.backtest.engine import run_backtest
from aistock_core.strategy.backtest.market import load_market
from aistock_core.strategy.backtest.plot import nav_curves, nav_png
from aistock_core.strategy.topk import TopkDropoutStrategy

START, END = "2020-01-10", "2020-08-20"


@pytest.fixture(scope="module")
def result(qlib_dir, scores_of):
    root, meta = qlib_dir
    market = load_market(DataService(QlibBinProvider(root)), "all", START, END, benchmark="000300.SH")
    return run_backtest(market, scores_of(meta), TopkDropoutStrategy(topk=5, n_drop=1), account=5e6)


def test_the_child_draws_the_in_process_picture(result, tmp_path):
    with NavChartProcess() as chart:
        out = outputs.write_outputs(result, tmp_path / "run", 5e6, title="qlib mode", chart=chart)
    png = (out / "nav.png").read_bytes()
    assert png == nav_png(result.report, 5e6, "qlib mode")  # one drawing function, the same bytes
    with Image.open(out / "nav.png") as image:
        assert image.format == "PNG" and image.size == (810, 540)
    assert sorted(p.name for p in out.iterdir()) == sorted([*outputs.OUTPUT_FILES, ".aistock-output"])


def test_a_failing_child_is_a_clear_error_and_writes_nothing(result, tmp_path, monkeypatch):
    fail = "import sys; sys.stderr.write('Traceback: no fonts here'); sys.exit(3)"
    monkeypatch.setattr(NavChartProcess, "command", (sys.executable, "-c", fail))
    with NavChartProcess() as chart, pytest.raises(StrategyError, match=r"nav.png failed \(exit status 3\): "
                                                                         r"Traceback: no fonts here"):
        outputs.write_outputs(result, tmp_path / "run", 5e6, chart=chart)
    assert list(tmp_path.iterdir()) == []


def test_an_error_while_it_draws_kills_the_child(result, tmp_path):
    """The block failing (here: Ctrl-C) stops the child before the folder it writes into is removed."""
    chart = NavChartProcess()
    with pytest.raises(KeyboardInterrupt), chart.drawing(nav_curves(result.report, 5e6), tmp_path / "nav.png", "x"):
        raise KeyboardInterrupt
    assert chart.process.returncode is not None


def test_a_child_given_nothing_exits_without_drawing(tmp_path):
    chart = NavChartProcess()
    chart.process.stdin.close()  # what the child sees when the command dies before the report exists
    assert chart.process.wait(timeout=60) == 0
    chart.close()
