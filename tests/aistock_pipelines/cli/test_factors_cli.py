"""``aistock factors compute`` end to end on a synthetic Qlib directory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from aistock_core.data.qlib_bin import QlibBinProvider, write_qlib_dir
from aistock_core.data.service import DataService
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.factors.alpha158 import alpha158_expressions
from aistock_core.factors.engine import compute_frame
from aistock_pipelines.cli.main import app

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
