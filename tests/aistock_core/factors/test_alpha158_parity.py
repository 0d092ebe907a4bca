"""Alpha158 (+ label) and the wider operator set against pyqlib 0.9.7's own ``D.features``.

Data: a synthetic market (late listings, a delisting, suspensions, limit days, one-price bars, ex-rights)
written as a Qlib directory; pyqlib reads it in a subprocess (``qlib.init`` is global state), our engine reads
the same directory through `QlibBinProvider`. Tolerance rtol 1e-5 / atol 1e-6 with identical NaN and ±inf
patterns — in practice every column is bit-identical.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from aistock_core.codes import to_internal_many
from aistock_core.data.qlib_bin import QlibBinProvider, write_qlib_dir
from aistock_core.data.service import DataService
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.factors.alpha158 import ALPHA158_LABEL, alpha158_expressions
from aistock_core.factors.engine import compute_frame

pytestmark = [
    pytest.mark.qlib,
]

START, END = "2021-01-04", "2022-03-31"
SUB_START, SUB_END = "2021-07-01", "2021-12-31"

#: Operators beyond Alpha158, each with an edge its Qlib implementation has.
OPERATORS = {
    "STD": "Std($close, 10)", "VAR": "Var($volume, 7)", "SKEW": "Skew($close, 10)", "KURT": "Kurt($close, 10)",
    "MED": "Med($close, 9)", "MAD": "Mad($close, 8)", "COUNT": "Count($close, 5)", "DELTA": "Delta($close, 3)",
    "WMA": "WMA($close, 6)", "EMA": "EMA($close, 12)", "EMAA": "EMA($close, 0.3)", "COV": "Cov($close, $volume, 10)",
    "SIGN": "Sign($close - Ref($close, 1))", "POW": "Power($close, 2)", "SQRT": "$close ** 0.5",
    "IF": "If($close > $open, $high, $low)", "AND": "($close > $open) & ($volume > Ref($volume, 1))",
    "OR": "($close > $open) | ($high > Ref($high, 1))", "NOT": "Not($close > $open)", "FUT": "Ref($close, -1)",
    "RANKV": "Rank($volume, 15)", "SUMB": "Sum($close > $open, 4)", "MEAN0": "Mean($close, 0)",
    "MAX0": "Max($high, 0)", "REF0": "Ref($close, 0)", "DELTA0": "Delta($close, 0)",
    "NEG": "-1*$close + Abs(0 - $close)", "LOG": "Log($close - $open)", "DIV0": "$close / ($close - $close)",
    "IDX": "IdxMax($close, 7) + IdxMin($close, 3)", "SLOPEV": "Slope($volume, 20)", "RSQV": "Rsquare($volume, 10)",
    "RESIV": "Resi($volume, 10)", "CORRHL": "Corr($high, $low, 7)", "QMED": "Quantile($volume, 10, 0.5)",
    "NESTED": "Mean(Std($close, 5), 10) / Slope(Mean($close, 3), 6)", "REFBOOL": "Ref($close > $open, 2)",
    "CMP": "($close >= $open) + ($close <= $open) + ($close == $open) + ($close != $open)",
}

QLIB_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import qlib
    from qlib.data import D
    job = json.loads(sys.argv[1])
    qlib.init(provider_uri=job["uri"], region="cn", expression_cache=None, dataset_cache=None, kernels=1)
    for k, req in enumerate(job["requests"]):
        df = D.features(D.instruments(req["market"]), req["fields"], start_time=req["start"],
                        end_time=req["end"])
        df.columns = req["names"]
        df.to_pickle(f"{job['out']}/{k}.pkl")
    """
)


def _ours_index(df: pd.DataFrame) -> pd.DataFrame:
    df = df.swaplevel()
    codes = df.index.get_level_values("instrument")
    df.index = pd.MultiIndex.from_arrays(
        [df.index.get_level_values("datetime"), to_internal_many(codes)], names=["datetime", "instrument"]
    )
    return df.sort_index()


@pytest.fixture(scope="module")
def qlib_dir(tmp_path_factory):
    market = SyntheticMarket(seed=12, n_instruments=40, start=START, end=END)
    return write_qlib_dir(DataService(market), tmp_path_factory.mktemp("qlib") / "cn_data", markets=("all", "csi300"))


REQUESTS = [  # (name, expressions, start, end, market)
    ("alpha158", {**alpha158_expressions(), "LABEL0": ALPHA158_LABEL}, None, None, "all"),
    ("alpha158_window", {**alpha158_expressions(), "LABEL0": ALPHA158_LABEL}, SUB_START, SUB_END, "all"),
    ("operators", OPERATORS, None, None, "all"),
    # a market whose members leave it mid-window: rows follow the membership spans, values the full series
    ("csi300", {k: alpha158_expressions()[k] for k in ("KMID", "MA60", "RSQR20", "CORD30")}, SUB_START, None,
     "csi300"),
]


@pytest.fixture(scope="module")
def qlib_frames(qlib_dir, tmp_path_factory) -> dict[str, pd.DataFrame]:
    out = tmp_path_factory.mktemp("qlib_out")
    job = {"uri": str(qlib_dir), "out": str(out), "requests": [
        {"names": list(exprs), "fields": list(exprs.values()), "start": s, "end": e, "market": m}
        for _, exprs, s, e, m in REQUESTS
    ]}
    proc = subprocess.run([sys.executable, "-c", QLIB_SCRIPT, json.dumps(job)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {name: _ours_index(pd.read_pickle(out / f"{k}.pkl")) for k, (name, *_) in enumerate(REQUESTS)}


def mismatches(ours: pd.DataFrame, theirs: pd.DataFrame) -> dict[str, str]:
    """column → what differs (NaN pattern, ±inf pattern, values beyond rtol 1e-5 / atol 1e-6)."""
    bad = {}
    for col in theirs.columns:
        a = theirs[col].to_numpy(np.float64)
        b = ours[col].to_numpy(np.float64)
        if (np.isnan(a) != np.isnan(b)).any():
            bad[col] = f"NaN pattern differs in {(np.isnan(a) != np.isnan(b)).sum()} rows"
        elif (np.isposinf(a) != np.isposinf(b)).any() or (np.isneginf(a) != np.isneginf(b)).any():
            bad[col] = "inf pattern differs"
        else:
            fin = np.isfinite(a)
            off = ~np.isclose(b[fin], a[fin], rtol=1e-5, atol=1e-6)
            if off.any():
                bad[col] = f"{off.sum()} values off, max abs err {np.abs(b[fin] - a[fin]).max():.3g}"
    return bad


@pytest.mark.parametrize(("name", "exprs", "start", "end", "market"), REQUESTS, ids=[r[0] for r in REQUESTS])
def test_matches_qlib_d_features(qlib_dir, qlib_frames, name, exprs, start, end, market):
    theirs = qlib_frames[name]
    ours = compute_frame(DataService(QlibBinProvider(qlib_dir)), market, exprs, start=start, end=end)
    assert list(ours.columns) == list(exprs)
    assert (ours.dtypes == np.float32).all()
    pd.testing.assert_index_equal(ours.index, theirs.index)
    assert mismatches(ours, theirs) == {}


def test_data_has_the_edge_cases(qlib_dir):
    """Guard: the parity above means little unless the data exercises what breaks naive engines."""
    provider = QlibBinProvider(qlib_dir)
    service = DataService(provider)
    panel = service.get_panel("all", fields=["close", "high", "low"])
    listed = panel.listed
    assert (~listed[0] & listed.any(axis=0)).sum() >= 2, "late listings"
    assert (~listed[-1] & listed.any(axis=0)).sum() >= 1, "delistings"
    assert np.isnan(panel["close"][listed]).sum() >= 30, "suspended days"
    assert ((panel["high"] == panel["low"]) & listed).sum() >= 10, "one-price bars"
    if "factor" in provider.fields():
        factor = service.get_panel("all", fields=["factor"])["factor"]
        steps = (np.diff(factor, axis=0) != 0) & listed[1:] & listed[:-1] & ~np.isnan(np.diff(factor, axis=0))
        assert steps.sum() >= 5, "ex-rights"
