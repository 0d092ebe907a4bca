"""``aistock backtest`` end to end on a small Qlib directory written by `write_qlib_dir`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from aistock_core.calendar import xshg_calendar
from aistock_core.codes import to_qlib
from aistock_core.data.qlib_bin import QlibBinProvider
from aistock_core.data.service import DataService
from aistock_core.data.tabular import FrameProvider
from aistock_core.strategy.backtest.chart_process import NavChartProcess
from aistock_pipelines.cli.main import app

runner = CliRunner()


def _bars() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    days = xshg_calendar().sessions_in_range("2023-08-01", "2023-10-31")
    codes = ["600000.SH", "600004.SH", "000001.SZ", "000002.SZ", "300750.SZ", "688001.SH", "000300.SH"]
    t, n = len(days), len(codes)
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (t, n)), axis=0))
    idx = pd.MultiIndex.from_product([days, codes], names=["datetime", "instrument"])
    flat = close.reshape(-1)
    prev = np.vstack([np.full((1, n), np.nan), close[:-1]]).reshape(-1)
    return pd.DataFrame({"open": flat, "high": flat, "low": flat, "close": flat, "volume": 1e6, "amount": 1e7,
                         "vwap": flat, "factor": 1.0, "change": flat / prev - 1}, index=idx)


@pytest.fixture(scope="module")
def qlib_env(tmp_path_factory):
    from aistock_core.data.qlib_bin import write_qlib_dir

    root = tmp_path_factory.mktemp("cli")
    qdir = write_qlib_dir(DataService(FrameProvider(_bars(), name="cli-bars")), root / "qlib", markets=("all",))
    panel = DataService(QlibBinProvider(qdir)).get_panel("all", fields=["close"])
    stocks = [c for c in panel.instruments if c != "000300.SH"]
    rng = np.random.default_rng(2)
    rows = [(d, c, rng.normal()) for d in panel.dates for c in stocks]
    frame = pd.DataFrame(rows, columns=["datetime", "instrument", "score"])
    frame.to_parquet(root / "scores_internal.parquet")
    frame.assign(instrument=[to_qlib(c) for c in frame["instrument"]]).to_parquet(root / "scores_qlib.parquet")
    return root, qdir


@pytest.mark.parametrize("mode", ["qlib", "ashare"])
def test_backtest_writes_all_outputs(qlib_env, mode):
    root, qdir = qlib_env
    out = root / f"out_{mode}"
    res = runner.invoke(app, ["backtest", "--provider-uri", str(qdir), "--score", str(root / "scores_qlib.parquet"),
                              "--topk", "3", "--n-drop", "1", "--mode", mode, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [".aistock-output", "events.parquet", "nav.png",
                                                     "positions.parquet", "report.parquet", "risk.json",
                                                     "trades.parquet"]
    risk = json.loads((out / "risk.json").read_text())
    assert risk["mode"] == mode and risk["trade_counts"]["buys"] > 0
    # A Qlib directory has only the factor: A-share mode says it credited actions by the factor convention.
    assert risk.get("corporate_actions", "").startswith("factor convention") == (mode == "ashare")
    report = pd.read_parquet(out / "report.parquet")
    assert report.index[0] == pd.Timestamp("2023-08-02") and len(report) > 50


def test_both_code_spellings_give_the_same_backtest(qlib_env):
    root, qdir = qlib_env
    outs = []
    for name in ("scores_qlib", "scores_internal"):
        res = runner.invoke(app, ["backtest", "--provider-uri", str(qdir), "--score", str(root / f"{name}.parquet"),
                                  "--topk", "3", "--n-drop", "1", "--out", str(root / name)])
        assert res.exit_code == 0, res.output
        outs.append(pd.read_parquet(root / name / "report.parquet"))
    pd.testing.assert_frame_equal(outs[0], outs[1])


def test_bad_score_file_fails_cleanly_without_output(qlib_env, tmp_path):
    _, qdir = qlib_env
    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"datetime": [pd.Timestamp("2023-08-02")] * 2, "instrument": ["SH600000", "600000.SH"],
                  "score": [1.0, 2.0]}).to_parquet(bad)
    res = runner.invoke(app, ["backtest", "--provider-uri", str(qdir), "--score", str(bad), "--out",
                              str(tmp_path / "out")])
    assert res.exit_code == 2 and "duplicate" in res.output
    assert not (tmp_path / "out").exists()


def test_the_chart_is_drawn_by_the_started_child_and_its_failure_is_one_line(qlib_env, tmp_path, monkeypatch):
    """The command draws nav.png in the process started before its imports: a child that fails is the
    command's error (exit 2, its stderr in the message) and leaves no output folder."""
    root, qdir = qlib_env
    fail = "import sys; sys.stderr.write('chart child broke'); sys.exit(1)"
    monkeypatch.setattr(NavChartProcess, "command", (sys.executable, "-c", fail))
    res = runner.invoke(app, ["backtest", "--provider-uri", str(qdir), "--score", str(root / "scores_qlib.parquet"),
                              "--topk", "3", "--n-drop", "1", "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and "chart child broke" in res.output and "Traceback" not in res.output
    assert list(tmp_path.iterdir()) == []


def test_a_chart_process_that_cannot_start_leaves_the_chart_to_the_command(qlib_env, tmp_path, monkeypatch):
    root, qdir = qlib_env
    monkeypatch.setattr(NavChartProcess, "command", (str(tmp_path / "no-such-python"),))
    res = runner.invoke(app, ["backtest", "--provider-uri", str(qdir), "--score", str(root / "scores_qlib.parquet"),
                              "--topk", "3", "--n-drop", "1", "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "nav.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_help_starts_no_chart_process(monkeypatch):
    def refuse(self):
        raise AssertionError("a chart process was started for --help")

    monkeypatch.setattr(NavChartProcess, "__init__", refuse)
    res = runner.invoke(app, ["backtest", "--help"])
    assert res.exit_code == 0 and "--provider-uri" in res.output


def test_as_a_process_the_backtest_ends_fast_with_its_output_and_exit_handlers(qlib_env, tmp_path):
    """Run as the entry point, the backtest skips the interpreter's teardown (`AistockTyper`): its stdout, its
    exit handlers and its exit status are still all there, for a success and for a user error."""
    root, qdir = qlib_env
    script = ("import atexit, sys\natexit.register(lambda: print('exit handlers ran'))\n"
              "from aistock_pipelines.cli.main import app\napp(sys.argv[1:])\n")
    base = [sys.executable, "-c", script, "backtest", "--provider-uri", str(qdir), "--score",
            str(root / "scores_qlib.parquet"), "--topk", "3"]
    done = subprocess.run([*base, "--n-drop", "1", "--out", str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "outputs:" in done.stdout and done.stdout.rstrip().endswith("exit handlers ran")
    assert (tmp_path / "out" / "nav.png").is_file()
    bad = subprocess.run([*base, "--n-drop", "9", "--out", str(tmp_path / "bad")], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and "--n-drop 9 is larger than --topk 3" in bad.stderr
    assert "exit handlers ran" in bad.stdout and not (tmp_path / "bad").exists()
