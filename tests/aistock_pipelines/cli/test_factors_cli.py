"""``aistock factors compute`` end to end on a synthetic Qlib directory."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from aistock_core.data.qlib_bin import QlibBinProvider, write_qlib_dir
from aistock_core.data.service import DataService
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.factors.alpha158 import alpha158_expressions
from aistock_core.factors.engine import compute_frame
from aistock_pipelines.cli.main import app, exits_fast

runner = CliRunner()


@pytest.fixture(scope="module")
def qlib_dir(tmp_path_factory):
    market = SyntheticMarket(seed=5, n_instruments=12, start="2022-01-04", end="2022-06-30")
    return write_qlib_dir(DataService(market), tmp_path_factory.mktemp("fcli") / "qlib", markets=("all",))


def _run(*args: str):
    return runner.invoke(app, ["factors", "compute", *args])


def test_alpha158_to_parquet(qlib_dir, tmp_path):
    out = tmp_path / "f" / "alpha.parquet"
    result = _run("--provider-uri", str(qlib_dir), "--factors", "alpha158", "--start", "2022-03-01",
                  "--end", "2022-05-31", "--out", str(out))
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out)
    assert list(frame.columns) == list(alpha158_expressions())
    assert (frame.dtypes == np.float32).all()
    assert frame.index.names == ["datetime", "instrument"]
    days = frame.index.get_level_values("datetime")
    assert days.min() >= pd.Timestamp("2022-03-01") and days.max() <= pd.Timestamp("2022-05-31")
    expected = compute_frame(DataService(QlibBinProvider(qlib_dir)), "all", alpha158_expressions(),
                             start="2022-03-01", end="2022-05-31")
    pd.testing.assert_frame_equal(frame, expected)


def test_names_and_custom_expressions(qlib_dir, tmp_path):
    out = tmp_path / "mixed.parquet"
    result = _run("--provider-uri", str(qlib_dir), "--factors", "KMID,MA5,MOM=Ref($close, 3)/$close - 1",
                  "--out", str(out))
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out)
    assert list(frame.columns) == ["KMID", "MA5", "MOM"]
    assert frame["MOM"].notna().any()


@pytest.mark.parametrize(
    ("factors", "fragment"),
    [
        ("KMID,BAD=Mean($close, 5", "factor 'BAD'"),
        ("X=Foo($close)", "unknown operator 'Foo'"),
        ("X=$closes/$open", "unknown field '$closes'"),
        ("NOPE", "no expression for factor(s) ['NOPE']"),
    ],
)
def test_bad_factor_exits_2_and_writes_nothing(qlib_dir, tmp_path, factors, fragment):
    out = tmp_path / "never.parquet"
    result = _run("--provider-uri", str(qlib_dir), "--factors", factors, "--out", str(out))
    assert result.exit_code == 2
    assert fragment in result.output
    assert "Traceback" not in result.output
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_unknown_market_exits_2(qlib_dir, tmp_path):
    result = _run("--provider-uri", str(qlib_dir), "--factors", "KMID", "--market", "csi300",
                  "--out", str(tmp_path / "x.parquet"))
    assert result.exit_code == 2
    assert "csi300" in result.output


def test_only_compute_of_the_factors_group_ends_fast():
    """`LazyCommand.exit_fast` names sub-commands of a group: ``factors compute`` (a file written, nothing left
    open) skips the teardown, ``factors check`` (database sessions, sandboxes) does not."""
    assert exits_fast(["factors", "compute"]) and exits_fast(["backtest"])
    assert not exits_fast(["factors", "check"]) and not exits_fast(["factors"])
    assert not exits_fast(["catalog", "sync"]) and not exits_fast([]) and not exits_fast(["nope"])


def test_as_a_process_compute_writes_its_file_and_runs_exit_handlers(qlib_dir, tmp_path):
    """Run as the entry point, ``factors compute`` ends without the interpreter's teardown: the file is complete
    (pandas reads every row back), stdout and the exit handlers are all there."""
    script = ("import atexit, sys\natexit.register(lambda: print('exit handlers ran'))\n"
              "from aistock_pipelines.cli.main import app\napp(sys.argv[1:])\n")
    out = tmp_path / "k.parquet"
    done = subprocess.run([sys.executable, "-c", script, "factors", "compute", "--provider-uri", str(qlib_dir),
                           "--factors", "KMID,ROC5", "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "written" in done.stdout and done.stdout.rstrip().endswith("exit handlers ran")
    expected = compute_frame(DataService(QlibBinProvider(qlib_dir)), "all",
                             {k: alpha158_expressions()[k] for k in ("KMID", "ROC5")})
    pd.testing.assert_frame_equal(pd.read_parquet(out), expected)
