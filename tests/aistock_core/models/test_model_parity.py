"""GeneralPTNN, XGBModel and LinearModel against pyqlib 0.9.7's own classes, same Qlib dir, same config.

Qlib runs in a subprocess (its ``qlib.init`` is global state) on a synthetic Qlib directory written by our
exporter, with RD-Agent's processors (FilterCol, RobustZScoreNorm, Fillna / DropnaLabel, CSZScoreNorm). Qlib
seeds GeneralPTNN only after building the network, so the reference process seeds torch once more before
constructing it: then both start from the same weights and draw the same shuffles. The loop's network is the
test's own ``loop/model.py`` (imported by Qlib as ``model.model_cls``, audited and loaded by us).
"""

from __future__ import annotations

import copy
import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aistock_core.data.qlib_bin import QlibBinProvider
from aistock_core.data.service import DataService
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.factors.references import qlib_available
from aistock_core.models.config import parse_dataset, parse_model
from aistock_core.models.dataset import Dataset
from aistock_core.models.metrics import signal_metrics
from aistock_core.models.zoo import build
from tests.aistock_core.models.test_combined_factors import NESTED, TABLE, write_table
from tests.aistock_core.models.test_qlib_parity import (
    KEEP,
    _ours_index,
    assert_bit_identical,
    run_reference,
    synthetic_qlib_dir,
)

pytestmark = [
    pytest.mark.qlib,
    pytest.mark.slow,
    pytest.mark.skipif(not qlib_available(), reason="pyqlib not installed (pip install -e '.[qlib]'): the reference"),
]

LOOP = Path(__file__).parent / "loop"
START, END = "2020-01-02", "2021-06-30"
DATASET = {"class": "DatasetH", "module_path": "qlib.data.dataset", "kwargs": {
    "handler": {"class": "Alpha158", "module_path": "qlib.contrib.data.handler", "kwargs": {
        "start_time": START, "end_time": END, "fit_start_time": "2020-01-02", "fit_end_time": "2020-09-30",
        "instruments": "all",
        "infer_processors": [
            {"class": "FilterCol", "kwargs": {"fields_group": "feature", "col_list": KEEP}},
            {"class": "RobustZScoreNorm", "kwargs": {"fields_group": "feature", "clip_outlier": True}},
            {"class": "Fillna", "kwargs": {"fields_group": "feature"}}],
        "learn_processors": [{"class": "DropnaLabel"}, {"class": "CSZScoreNorm", "kwargs": {"fields_group": "label"}}],
    }},
    "segments": {"train": ["2020-01-02", "2020-09-30"], "valid": ["2020-10-09", "2020-12-31"],
                 "test": ["2021-01-04", "2021-06-30"]},
}}
SEED = 7
MODELS = {
    "ptnn": {"class": "GeneralPTNN", "module_path": "qlib.contrib.model.pytorch_general_nn", "kwargs": {
        "n_epochs": 8, "lr": 0.01, "early_stop": 3, "batch_size": 200, "weight_decay": 0.0001, "metric": "loss",
        "loss": "mse", "n_jobs": 0, "GPU": 0, "seed": SEED, "pt_model_uri": "model.model_cls",
        "pt_model_kwargs": {"num_features": len(KEEP)}}},
    "ptnn_gd": {"class": "GeneralPTNN", "module_path": "qlib.contrib.model.pytorch_general_nn", "kwargs": {
        "n_epochs": 4, "lr": 0.05, "early_stop": 2, "batch_size": 500, "optimizer": "gd", "n_jobs": 0,
        "seed": SEED + 1, "pt_model_uri": "model.model_cls", "pt_model_kwargs": {"num_features": len(KEEP)}}},
    "xgb": {"class": "XGBModel", "module_path": "qlib.contrib.model.xgboost", "kwargs": {
        "eval_metric": "rmse", "eta": 0.1, "max_depth": 4, "subsample": 0.8, "colsample_bytree": 0.8,
        "nthread": 1}},
    "ols": {"class": "LinearModel", "module_path": "qlib.contrib.model.linear",
            "kwargs": {"estimator": "ols", "fit_intercept": True}},
    "nnls": {"class": "LinearModel", "module_path": "qlib.contrib.model.linear",
             "kwargs": {"estimator": "nnls", "fit_intercept": True, "include_valid": True}},
    "ridge": {"class": "LinearModel", "module_path": "qlib.contrib.model.linear",
              "kwargs": {"estimator": "ridge", "alpha": 10.0}},
    "lasso": {"class": "LinearModel", "module_path": "qlib.contrib.model.linear",
              "kwargs": {"estimator": "lasso", "alpha": 0.001, "fit_intercept": True}},
}
TOLERANCE = {"ptnn": 1e-5, "ptnn_gd": 1e-5}  # float32 networks; the rest 1e-6

QLIB_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    import numpy as np, torch
    torch.set_num_threads(1)
    import qlib
    from qlib.contrib.eva.alpha import calc_ic
    from qlib.data.dataset.handler import DataHandlerLP
    from qlib.utils import init_instance_by_config
    job = json.loads(sys.argv[1])
    sys.path.insert(0, job["loop"])  # pt_model_uri "model.model_cls", as in the RD-Agent workspace
    qlib.init(provider_uri=job["uri"], region="cn", expression_cache=None, dataset_cache=None, kernels=1)
    combined = init_instance_by_config(job["combined"])  # NestedDataLoader[Alpha158DL, StaticDataLoader]
    for seg in ("train", "valid"):
        combined.prepare(seg, col_set=["feature", "label"], data_key=DataHandlerLP.DK_L).to_pickle(
            f"{job['out']}/combined.{seg}.learn.pkl")
    combined.prepare("test", col_set="feature", data_key=DataHandlerLP.DK_I).to_pickle(
        f"{job['out']}/combined.test.infer.pkl")
    ds = init_instance_by_config(job["dataset"])
    label = ds.prepare("test", col_set="label", data_key=DataHandlerLP.DK_R)
    label.to_pickle(f"{job['out']}/label.pkl")
    ic = {}
    for name, cfg in job["models"].items():
        seed = cfg["kwargs"].get("seed")
        if seed is not None:  # Qlib seeds after building the network; seed the build too
            torch.manual_seed(seed)
            np.random.seed(seed)
        model = init_instance_by_config(cfg)
        model.fit(ds)
        pred = model.predict(ds)
        pred.to_pickle(f"{job['out']}/{name}.pkl")
        a, r = calc_ic(pred, label.iloc[:, 0])
        ic[name] = {"IC": a.mean(), "ICIR": a.mean() / a.std(), "Rank IC": r.mean(), "Rank ICIR": r.mean() / r.std()}
    with open(f"{job['out']}/ic.json", "w") as f:
        json.dump(ic, f)
    """
)


@pytest.fixture(scope="module")
def qlib_dir(tmp_path_factory):
    return synthetic_qlib_dir(tmp_path_factory, 33, START, END)


@pytest.fixture(scope="module")
def table_dir(tmp_path_factory):
    """combined_factors_df.parquet as RD-Agent writes it, float32 (Qlib keeps a float32 feature block then)."""
    service = DataService(SyntheticMarket(seed=33, n_instruments=30, start=START, end=END))
    out = tmp_path_factory.mktemp("loop")
    table = write_table(service, out / "combined_factors_df.parquet")
    table.astype(np.float32).to_parquet(out / "combined_factors_df.parquet", engine="pyarrow")
    return out


def combined_dataset(table_dir: Path) -> dict:
    loader = copy.deepcopy(NESTED)
    loader["kwargs"]["dataloader_l"][1]["kwargs"]["config"] = str(table_dir / "combined_factors_df.parquet")
    handler = copy.deepcopy(DATASET["kwargs"]["handler"])
    handler["class"] = "DataHandlerLP"
    kwargs = handler["kwargs"]
    fit = {key: kwargs.pop(key) for key in ("fit_start_time", "fit_end_time")}  # the processor's, not the handler's
    kwargs["data_loader"] = loader
    kwargs["infer_processors"] = kwargs["infer_processors"][1:]  # keep every column
    kwargs["infer_processors"][0]["kwargs"].update(fit)
    return {**DATASET, "kwargs": {**DATASET["kwargs"], "handler": handler}}


@pytest.fixture(scope="module")
def qlib_out(qlib_dir, table_dir, tmp_path_factory):
    return run_reference(tmp_path_factory, QLIB_SCRIPT, {"uri": str(qlib_dir), "loop": str(LOOP), "dataset": DATASET,
                                                         "models": MODELS, "combined": combined_dataset(table_dir)})


def test_combined_factor_frames_are_bit_identical(qlib_dir, table_dir, qlib_out):
    """RD-Agent's NestedDataLoader handler: Qlib's column order (sorted), join and processors, bit for bit."""
    spec = parse_dataset(combined_dataset(table_dir))
    ds = Dataset.load(DataService(QlibBinProvider(qlib_dir)), spec)
    assert set(TABLE) <= set(ds.feature_names)
    for seg in ("train", "valid"):
        assert_bit_identical(ds.prepare(seg, ["feature", "label"], "learn"),
                             pd.read_pickle(qlib_out / f"combined.{seg}.learn.pkl"))
    assert_bit_identical(ds.prepare("test", "feature", "infer"), pd.read_pickle(qlib_out / "combined.test.infer.pkl"))


@pytest.fixture(scope="module")
def dataset(qlib_dir) -> Dataset:
    return Dataset.load(DataService(QlibBinProvider(qlib_dir)), parse_dataset(json.loads(json.dumps(DATASET))))


@pytest.mark.parametrize("name", list(MODELS))
def test_predictions_match_qlib(name, dataset, qlib_out, capsys):
    import torch

    torch.set_num_threads(1)
    spec = parse_model(json.loads(json.dumps(MODELS[name])))
    mine = build(spec.name, spec.kwargs, LOOP).fit(dataset).predict(dataset)
    theirs = _ours_index(pd.read_pickle(qlib_out / f"{name}.pkl"))
    pd.testing.assert_index_equal(mine.index, theirs.index)
    diff = float(np.max(np.abs(mine.to_numpy(np.float64) - theirs.to_numpy(np.float64))))
    label = _ours_index(pd.read_pickle(qlib_out / "label.pkl"))["LABEL0"]
    m_ours, m_qlib = signal_metrics(mine, label), signal_metrics(theirs, label)
    with capsys.disabled():
        print(f"\n{name}: max |ours - qlib| = {diff:.3g}\n  ours: {m_ours}\n  qlib: {m_qlib}")
    assert mine.std() > 0, "a constant prediction would match trivially"
    assert diff <= TOLERANCE.get(name, 1e-6)
    assert m_qlib == pytest.approx(json.loads((qlib_out / "ic.json").read_text())[name], abs=1e-12)
    assert m_ours == pytest.approx(m_qlib, abs=1e-5)
