"""``aistock factors check``: the alignment table, exit codes 0 / 1 / 2, and what it records."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from aistock_core.config import get_settings
from aistock_core.data.service import DataService
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.db import Database
from aistock_core.demo.factors import FACTORS_BY_NAME
from aistock_core.factors.registry import alignment_results, factor_status
from aistock_pipelines.cli.main import app

START, END = "2023-03-01", "2023-03-10"
MOM = "mom_5d=$close/Ref($close, 5) - 1"
REV = "rev_1d=-($close/Ref($close, 1) - 1)"


@pytest.fixture
def synthetic_env(aistock_home, monkeypatch):
    monkeypatch.setenv("AISTOCK_DATA_SOURCE", "synthetic")
    monkeypatch.setenv("AISTOCK_SYNTHETIC_INSTRUMENTS", "6")
    monkeypatch.setenv("AISTOCK_SYNTHETIC_SEED", "5")
    monkeypatch.setenv("AISTOCK_SYNTHETIC_START", "2022-10-10")
    monkeypatch.setenv("AISTOCK_SYNTHETIC_END", "2023-04-28")
    get_settings.cache_clear()
    yield aistock_home
    get_settings.cache_clear()


@pytest.fixture
def code_dir(tmp_path):
    """RD-Agent-style factor files as the demo export ships them (``calculate_<name>()`` scripts)."""
    folder = tmp_path / "code"
    folder.mkdir()
    for name in ("mom_5d", "rev_1d"):
        (folder / f"{name}_factor.py").write_text(FACTORS_BY_NAME[name].source)
    return folder


def _invoke(*args: str):
    return CliRunner().invoke(app, ["factors", "check", *args])


@pytest.mark.usefixtures("os_sandbox")
def test_code_reference_verifies_and_records(synthetic_env, code_dir):
    result = _invoke("--factors", f"{MOM};{REV}", "--reference", "code", "--code-dir", str(code_dir),
                     "--start", START, "--end", END)
    assert result.exit_code == 0, result.output
    assert "Factor alignment vs code" in result.output and "verified" in result.output
    assert "failed" in result.output  # the summary's "failed  0" line
    db = Database(get_settings().sqlalchemy_url)
    status = factor_status(db).set_index("name")
    assert status["status"].tolist() == ["verified", "verified"] and (status["source"] == "rdagent_generated").all()
    assert status.loc["mom_5d", "code_sha256"] and status.loc["mom_5d", "expression"].startswith("$close")
    rows = alignment_results(db)
    assert (rows["rows_compared"] > 0).all() and (rows["max_abs_err"] <= 1e-6).all()
    db.dispose()


@pytest.mark.usefixtures("os_sandbox")
def test_wrong_expression_exits_1_with_the_failure_in_the_table(synthetic_env, code_dir):
    result = _invoke("--factors", "mom_5d=$close/Ref($close, 4) - 1", "--reference", "code",
                     "--code-dir", str(code_dir), "--start", START, "--end", END, "--no-record")
    assert result.exit_code == 1, result.output
    assert "mom_5d" in result.output and "failed" in result.output
    db = Database(get_settings().sqlalchemy_url)
    assert factor_status(db).empty  # --no-record
    db.dispose()


def test_parquet_reference(synthetic_env, tmp_path):
    """A bundle parquet computed independently (pandas on wide frames, the demo's own formula)."""
    service = DataService(SyntheticMarket(seed=5, n_instruments=6, start="2022-10-10", end="2023-04-28"))
    panel = service.get_panel("all", start="2023-01-03", end=END, fields=["close"], adjust="qlib")
    wide = {"close": panel.wide("close").where(panel.listed)}
    mom = FACTORS_BY_NAME["mom_5d"].wide(wide).stack(future_stack=True)
    mom.index.names = ["datetime", "instrument"]
    frame = mom.rename("('feature', 'mom_5d')").to_frame().dropna(how="all")
    frame = frame[frame.index.get_level_values(0) >= pd.Timestamp(START)]
    frame = frame[panel.to_frame().reindex(frame.index).index.isin(panel.to_frame().index)]
    path = tmp_path / "combined_factors_df.parquet"
    frame.astype(np.float32).to_parquet(path)
    listed = panel.select(dates=panel.dates[panel.dates >= pd.Timestamp(START)]).to_frame()
    assert len(frame) == len(listed)

    ok = _invoke("--factors", MOM, "--reference", "parquet", "--parquet", str(path), "--start", START,
                 "--end", END, "--no-record")
    assert ok.exit_code == 0, ok.output
    frame.iloc[3, 0] += 0.01
    frame.astype(np.float32).to_parquet(path)
    bad = _invoke("--factors", MOM, "--reference", "parquet", "--parquet", str(path), "--start", START,
                  "--end", END, "--no-record")
    assert bad.exit_code == 1 and "0.01" in bad.output


@pytest.mark.qlib
def test_qlib_reference_on_a_qlib_directory(synthetic_env, tmp_path):
    from aistock_core.data.qlib_bin import write_qlib_dir

    service = DataService(SyntheticMarket(seed=5, n_instruments=6, start="2022-10-10", end="2023-04-28"))
    qlib_dir = write_qlib_dir(service, tmp_path / "qlib", markets=("all",))
    result = _invoke("--provider-uri", str(qlib_dir), "--factors", "KMID,ROC10,STD5,RSQR10,CNTP5", "--reference",
                     "qlib", "--start", START, "--end", END, "--no-record")
    assert result.exit_code == 0, result.output
    assert result.output.count("verified") >= 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--factors", MOM, "--reference", "magic"], "not one of"),
        (["--factors", "NOPE_X", "--reference", "qlib"], "no expression for factor"),
        (["--factors", MOM, "--reference", "code"], "needs --code-dir"),
        (["--factors", MOM, "--reference", "parquet"], "needs --parquet"),
        (["--factors", "mom_5d=Mean($close,", "--reference", "parquet", "--parquet", "x.parquet"], "expected a field"),
        (["--factors", MOM, "--reference", "code", "--code-dir", "/nonexistent/dir"], "not a directory"),
        (["--factors", MOM, "--reference", "qlib", "--start", "yesterday-ish"], "cannot read --start"),
    ],
)
def test_bad_input_exits_2(synthetic_env, args, message):
    result = _invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
