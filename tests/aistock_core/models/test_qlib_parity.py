"""Processed datasets and LGBModel against pyqlib 0.9.7 itself, on the same Qlib directory and config.

Data: a synthetic market (late listings, a delisting, suspensions, limit days, ex-rights) written as a Qlib
dir by our own exporter. Qlib runs in a subprocess (``qlib.init`` and its recorder are global state) and
builds ``DatasetH`` from the very config dicts we parse; our `Dataset` reads the same directory. The frames
must be bit-identical (same values, NaN patterns, dtypes, index, columns); LGBModel predictions within 1e-6.
"""

from __future__ import annotations

import copy
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
from aistock_core.factors.references import qlib_available
from aistock_core.models.config import parse_dataset, parse_model
from aistock_core.models.dataset import Dataset
from aistock_core.models.lgb import LGBModel
from aistock_core.models.metrics import signal_metrics

pytestmark = [
    pytest.mark.qlib,
    pytest.mark.slow,
    pytest.mark.skipif(not qlib_available(), reason="pyqlib not installed (pip install -e '.[qlib]'): the reference"),
]

START, END = "2020-01-02", "2021-12-31"
SEGMENTS = {"train": ["2020-01-02", "2020-12-31"], "valid": ["2021-01-04", "2021-06-30"],
            "test": ["2021-07-01", "2021-12-31"]}
BASE = {"start_time": START, "end_time": END, "fit_start_time": "2020-01-02", "fit_end_time": "2020-12-31",
        "instruments": "all"}
KEEP = ["KMID", "KLEN", "ROC5", "MA10", "STD20", "RSQR10", "CORR20", "WVMA60", "VSTD5", "RANK5", "IMAX10"]
HANDLERS = {
    # Alpha158's own defaults: no infer processors, DropnaLabel + CSZScoreNorm(label)
    "alpha158_default": {},
    # RD-Agent's template (contract §9) with a custom label
    "rdagent": {
        "label": [["Ref($close, -3)/Ref($close, -1) - 1"], ["LABEL0"]],
        "infer_processors": [
            {"class": "FilterCol", "kwargs": {"fields_group": "feature", "col_list": KEEP}},
            {"class": "RobustZScoreNorm", "kwargs": {"fields_group": "feature", "clip_outlier": True}},
            {"class": "Fillna", "kwargs": {"fields_group": "feature"}},
        ],
        "learn_processors": [{"class": "DropnaLabel"}, {"class": "CSRankNorm", "kwargs": {"fields_group": "label"}}],
    },
    # every other processor, learn processors on the raw frame
    "others": {
        "process_type": "independent",
        "infer_processors": [
            {"class": "FilterCol", "kwargs": {"fields_group": "feature", "col_list": KEEP}},
            {"class": "ProcessInf", "kwargs": {}},
            {"class": "ZScoreNorm", "kwargs": {"fields_group": "feature"}},
            {"class": "TanhProcess", "kwargs": {}},
            {"class": "Fillna", "kwargs": {"fields_group": "feature", "fill_value": 0.5}},
        ],
        "learn_processors": [
            {"class": "FilterCol", "kwargs": {"fields_group": "feature", "col_list": KEEP[:6]}},
            {"class": "DropnaProcessor", "kwargs": {"fields_group": "feature"}},
            {"class": "MinMaxNorm", "kwargs": {"fields_group": "feature"}},
            {"class": "CSZScoreNorm", "kwargs": {"fields_group": "feature"}},
            {"class": "CSZScoreNorm", "kwargs": {"fields_group": "label", "method": "robust"}},
            {"class": "DropnaLabel"},
        ],
    },
}
MODEL = {"class": "LGBModel", "module_path": "qlib.contrib.model.gbdt",
         "kwargs": {"loss": "mse", "colsample_bytree": 0.8879, "learning_rate": 0.2, "subsample": 0.8789,
                    "lambda_l1": 1.0, "lambda_l2": 5.0, "max_depth": 8, "num_leaves": 31,
                    "num_threads": 2, "max_bin": 63, "num_boost_round": 60, "early_stopping_rounds": 10}}


def dataset_config(name: str) -> dict:
    handler = {"class": "Alpha158", "module_path": "qlib.contrib.data.handler", "kwargs": {**BASE, **HANDLERS[name]}}
    return {"class": "DatasetH", "module_path": "qlib.data.dataset",
            "kwargs": {"handler": handler, "segments": SEGMENTS}}


QLIB_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # Qlib's recorder is an MLflow file store
    import qlib
    from qlib.data.dataset.handler import DataHandlerLP
    from qlib.utils import init_instance_by_config
    from qlib.workflow import R
    job = json.loads(sys.argv[1])
    qlib.init(provider_uri=job["uri"], region="cn", expression_cache=None, dataset_cache=None, kernels=1,
              exp_manager={"class": "MLflowExpManager", "module_path": "qlib.workflow.expm",
                           "kwargs": {"uri": "file:" + job["out"] + "/mlruns", "default_exp_name": "parity"}})
    for name, cfg in job["datasets"].items():
        ds = init_instance_by_config(cfg)
        for seg in ("train", "valid"):
            ds.prepare(seg, col_set=["feature", "label"], data_key=DataHandlerLP.DK_L).to_pickle(
                f"{job['out']}/{name}.{seg}.learn.pkl")
        ds.prepare("test", col_set="feature", data_key=DataHandlerLP.DK_I).to_pickle(
            f"{job['out']}/{name}.test.infer.pkl")
        if name == job["train_on"]:
            model = init_instance_by_config(job["model"])
            with R.start(experiment_name="parity"):
                model.fit(ds)
            pred = model.predict(ds)
            pred.to_pickle(f"{job['out']}/pred.pkl")
            label = ds.prepare("test", col_set="label", data_key=DataHandlerLP.DK_R)
            label.to_pickle(f"{job['out']}/label.pkl")
            from qlib.contrib.eva.alpha import calc_ic
            ic, ric = calc_ic(pred, label.iloc[:, 0])
            with open(f"{job['out']}/ic.json", "w") as f:
                json.dump({"IC": ic.mean(), "ICIR": ic.mean() / ic.std(), "Rank IC": ric.mean(),
                           "Rank ICIR": ric.mean() / ric.std()}, f)
    """
)


def _ours_index(obj):
    """Qlib's (datetime, SH600000) index in our codes."""
    idx = obj.index
    obj = obj.copy()
    obj.index = pd.MultiIndex.from_arrays(
        [idx.get_level_values("datetime"), to_internal_many(idx.get_level_values("instrument"))],
        names=["datetime", "instrument"])
    return obj


def synthetic_qlib_dir(tmp_path_factory, seed: int, start: str, end: str):
    """A 30-name synthetic market (listings, suspensions, limits, ex-rights) written as a Qlib directory."""
    market = SyntheticMarket(seed=seed, n_instruments=30, start=start, end=end)
    return write_qlib_dir(DataService(market), tmp_path_factory.mktemp("qlib") / "cn_data", markets=("all",))


def run_reference(tmp_path_factory, script: str, job: dict):
    """Run ``script`` (Qlib's side) in a fresh interpreter with ``job`` plus ``out``; returns ``out``."""
    out = tmp_path_factory.mktemp("qlib_out")
    proc = subprocess.run([sys.executable, "-c", script, json.dumps({**job, "out": str(out)})], capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out


@pytest.fixture(scope="module")
def qlib_dir(tmp_path_factory):
    return synthetic_qlib_dir(tmp_path_factory, 21, START, END)


@pytest.fixture(scope="module")
def qlib_out(qlib_dir, tmp_path_factory):
    return run_reference(tmp_path_factory, QLIB_SCRIPT, {
        "uri": str(qlib_dir), "model": MODEL, "train_on": "alpha158_default",
        "datasets": {name: dataset_config(name) for name in HANDLERS}})


@pytest.fixture(scope="module")
def ours(qlib_dir) -> dict[str, Dataset]:
    service = DataService(QlibBinProvider(qlib_dir))
    return {name: Dataset.load(service, parse_dataset(copy.deepcopy(dataset_config(name)))) for name in HANDLERS}


def assert_bit_identical(mine: pd.DataFrame, theirs: pd.DataFrame) -> None:
    theirs = _ours_index(theirs)
    pd.testing.assert_index_equal(mine.index, theirs.index)
    pd.testing.assert_index_equal(mine.columns, theirs.columns)
    assert list(mine.dtypes) == list(theirs.dtypes)
    a, b = mine.to_numpy(), theirs.to_numpy()
    assert np.array_equal(np.isnan(a), np.isnan(b))
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    assert same.all(), f"{(~same).sum()} cells differ, max abs {np.nanmax(np.abs(a - b)):.3g}"


@pytest.mark.parametrize("name", list(HANDLERS))
def test_prepared_frames_are_bit_identical(name, ours, qlib_out):
    ds = ours[name]
    for seg in ("train", "valid"):
        assert_bit_identical(ds.prepare(seg, ["feature", "label"], "learn"),
                             pd.read_pickle(qlib_out / f"{name}.{seg}.learn.pkl"))
    assert_bit_identical(ds.prepare("test", "feature", "infer"), pd.read_pickle(qlib_out / f"{name}.test.infer.pkl"))


def test_lgbmodel_predictions_match_qlib(ours, qlib_out, capsys):
    model = LGBModel(**parse_model(copy.deepcopy(MODEL)).kwargs).fit(ours["alpha158_default"])
    mine = model.predict(ours["alpha158_default"])
    theirs = _ours_index(pd.read_pickle(qlib_out / "pred.pkl"))
    pd.testing.assert_index_equal(mine.index, theirs.index)
    assert np.allclose(mine.to_numpy(), theirs.to_numpy(), rtol=0, atol=1e-6)
    assert mine.std() > 0, "a constant prediction would match trivially"
    label = _ours_index(pd.read_pickle(qlib_out / "label.pkl"))["LABEL0"]
    m_ours, m_qlib = signal_metrics(mine, label), signal_metrics(theirs, label)
    with capsys.disabled():
        print(f"\ntest segment  ours: {m_ours}\ntest segment  qlib: {m_qlib}")
    # our vectorised IC equals Qlib's own calc_ic (SigAnaRecord's numbers) on Qlib's predictions
    assert m_qlib == pytest.approx(json.loads((qlib_out / "ic.json").read_text()), abs=1e-12)
    assert m_ours == pytest.approx(m_qlib, abs=1e-6)
