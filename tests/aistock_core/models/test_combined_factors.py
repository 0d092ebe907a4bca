"""RD-Agent's combined-factor handler: Alpha158 expressions joined with ``combined_factors_df.parquet``.

The table is written the way RD-Agent writes it (pyarrow, index (datetime, instrument) in Qlib codes, columns
``('feature', NAME)``, contract §4.7). Expected values come from the table itself, looked up per cell with
plain pandas, not from the join under test.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from aistock_core.codes import to_qlib
from aistock_core.errors import ModelError
from aistock_core.models.config import parse_workflow
from aistock_core.models.dataset import Dataset
from aistock_core.models.train import train
from tests.aistock_core.models.workflows import SEGMENTS, workflow

ALPHA = {"label": [["Ref($close, -2)/Ref($close, -1) - 1"], ["LABEL0"]],
         "feature": [["Rsquare($close, 5)", "($high-$low)/$open", "Std($close, 5)/$close"], ["RSQR5", "KLEN", "STD5"]]}
TABLE = ["zeta_mom", "alpha_rev"]  # not in sorted order: Qlib's NestedDataLoader sorts, RD-Agent's loaders keep it


def _handler(data_loader: dict) -> dict:
    base = workflow()["task"]["dataset"]["kwargs"]["handler"]["kwargs"]
    kwargs = {k: base[k] for k in ("start_time", "end_time", "instruments")}
    fit = {"fit_start_time": base["fit_start_time"], "fit_end_time": base["fit_end_time"]}  # RD-Agent's template
    kwargs |= {"data_loader": data_loader,
               "infer_processors": [{"class": "RobustZScoreNorm",
                                     "kwargs": {"fields_group": "feature", "clip_outlier": True, **fit}},
                                    {"class": "Fillna", "kwargs": {"fields_group": "feature"}}],
               "learn_processors": [{"class": "DropnaLabel"},
                                    {"class": "CSZScoreNorm", "kwargs": {"fields_group": "label"}}]}
    return {"class": "DataHandlerLP", "module_path": "qlib.contrib.data.handler", "kwargs": kwargs}


NESTED = {"class": "NestedDataLoader", "kwargs": {"dataloader_l": [
    {"class": "qlib.contrib.data.loader.Alpha158DL", "kwargs": {"config": ALPHA}},
    {"class": "qlib.data.dataset.loader.StaticDataLoader", "kwargs": {"config": "combined_factors_df.parquet"}}]}}
DYNAMIC = {"class": "CombinedAlpha158DynamicFactorsLoader",
           "module_path": "rdagent.scenarios.qlib.experiment.custom_loaders",
           "kwargs": {"alpha158_config": ALPHA, "dynamic_path": "combined_factors_df.parquet", "join": "left",
                      "min_dynamic_non_nan_ratio": 0.01, "min_instrument_overlap_ratio": 0.8,
                      "enforce_instrument_format": True}}


def combined_workflow(data_loader: dict) -> dict:
    out = workflow()
    out["task"]["dataset"]["kwargs"]["handler"] = _handler(copy.deepcopy(data_loader))
    return out


def write_table(market_service, path, codes=None, seed=0) -> pd.DataFrame:
    """Random factor values on 80% of the (day, instrument) cells, as RD-Agent writes the table."""
    rng = np.random.default_rng(seed)
    days = market_service.resolve_dates()
    codes = codes or [to_qlib(c) for c in market_service.resolve_universe("all")]
    index = pd.MultiIndex.from_product([days, codes], names=["datetime", "instrument"])
    index = index[rng.random(len(index)) < 0.8]
    table = pd.DataFrame(rng.normal(size=(len(index), len(TABLE))), index=index,
                         columns=pd.MultiIndex.from_product([["feature"], TABLE]))
    table.to_parquet(path, engine="pyarrow")
    return table


@pytest.fixture
def loop_dir(tmp_path, market_service):
    write_table(market_service, tmp_path / "combined_factors_df.parquet")
    return tmp_path


@pytest.mark.parametrize(("loader", "order"), [
    (NESTED, sorted(["RSQR5", "KLEN", "STD5", *TABLE])),
    (DYNAMIC, ["RSQR5", "KLEN", "STD5", *TABLE]),
])
def test_table_columns_join_the_expressions(loader, order, loop_dir, market_service):
    spec = parse_workflow(combined_workflow(loader), base_dir=loop_dir)
    ds = Dataset.load(market_service, spec.dataset)
    raw = ds.prepare(slice(None, None), "feature", "raw")
    assert list(raw.columns) == order and ds.feature_names == order
    table = pd.read_parquet(loop_dir / "combined_factors_df.parquet")["feature"]
    keys = [(d, to_qlib(c)) for d, c in raw.index]
    for name in TABLE:  # every cell is the table's value at that (day, code), NaN where the table has none
        expected = table[name].reindex(pd.MultiIndex.from_tuples(keys)).to_numpy(np.float32)
        assert np.array_equal(raw[name].to_numpy(), expected, equal_nan=True)
    assert raw[TABLE[0]].isna().mean() == pytest.approx(0.2, abs=0.03)
    alpha_only = Dataset.load(market_service, parse_workflow(workflow()).dataset).prepare(
        slice(None, None), "feature", "raw")
    assert raw.index.equals(alpha_only.index)  # a left join keeps the expression rows
    assert np.array_equal(raw["KLEN"].to_numpy(), alpha_only["KLEN"].to_numpy(), equal_nan=True)


def test_trains_and_records_the_table_columns(loop_dir, market_service):
    result = train(parse_workflow(combined_workflow(DYNAMIC), base_dir=loop_dir), market_service)
    assert result.dataset.feature_names[-2:] == TABLE
    assert set(result.predictions) == set(SEGMENTS) and result.predictions["test"].std() > 0


def test_bad_tables_and_loaders(tmp_path, market_service):
    with pytest.raises(ModelError, match=r"combined_factors_df\.parquet does not exist"):
        train(parse_workflow(combined_workflow(NESTED), base_dir=tmp_path), market_service)
    write_table(market_service, tmp_path / "combined_factors_df.parquet", codes=["SZ999998", "SZ999999"])
    with pytest.raises(ModelError, match=r"only 0\.0% of its instruments are in the data"):
        train(parse_workflow(combined_workflow(DYNAMIC), base_dir=tmp_path), market_service)
    other = copy.deepcopy(NESTED)
    other["kwargs"]["dataloader_l"] = other["kwargs"]["dataloader_l"][:1]
    with pytest.raises(ModelError, match=r"supported: \[Alpha158DL, StaticDataLoader\]"):
        parse_workflow(combined_workflow(other))
    with pytest.raises(ModelError, match="supported: NestedDataLoader, CombinedAlpha158DynamicFactorsLoader"):
        parse_workflow(combined_workflow({"class": "MyLoader"}))
    unfitted = combined_workflow(NESTED)
    handler = unfitted["task"]["dataset"]["kwargs"]["handler"]["kwargs"]
    del handler["infer_processors"][0]["kwargs"]["fit_end_time"]
    with pytest.raises(ModelError, match="DataHandlerLP does not inject one"):
        parse_workflow(unfitted)
    handler["fit_end_time"] = "2020-09-30"
    with pytest.raises(ModelError, match="DataHandlerLP takes no fit_end_time"):
        parse_workflow(unfitted)
    no_label = copy.deepcopy(DYNAMIC)
    del no_label["kwargs"]["alpha158_config"]["label"]
    with pytest.raises(ModelError, match="Alpha158DL config has no 'label'"):
        parse_workflow(combined_workflow(no_label))


def test_walk_forward_moves_the_processors_fit_window(loop_dir, market_service):
    from aistock_core.models.walkforward import retrain_window, retrain_workflow

    window = retrain_window(market_service.resolve_dates(), "2020-11-02", train_sessions=100, valid_sessions=20)
    spec = parse_workflow(retrain_workflow(combined_workflow(NESTED), window), base_dir=loop_dir)
    norm = spec.dataset.handler.infer_processors[0]
    assert (norm.kwargs["fit_start_time"], norm.kwargs["fit_end_time"]) == window.train
    assert (spec.dataset.handler.start_time, spec.dataset.handler.end_time) == (window.train[0], window.valid[1])


@pytest.mark.parametrize("loader", [NESTED, DYNAMIC])
def test_exported_model_meta_lists_the_table_columns(loader, loop_dir, market_service):
    from aistock_core.models.exported import expected_features

    task = combined_workflow(loader)["task"]
    spec = parse_workflow({"task": task}, base_dir=loop_dir)
    meta = {"model_conf": task["model"], "dataset_conf": task["dataset"], "feature_schema": None}
    assert expected_features(meta, loop_dir) == Dataset.load(market_service, spec.dataset).feature_names
