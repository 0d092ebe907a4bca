"""Workflow configs: Qlib's shapes accepted as they are, anything we do not run refused with what is supported."""

from __future__ import annotations

import pytest

from aistock_core.errors import ModelError
from aistock_core.models.config import load_workflow, parse_workflow

YAML = """
qlib_init: {provider_uri: "~/.qlib/qlib_data/cn_data", region: cn}
data_handler_config: &dhc
  start_time: 2020-01-02
  end_time: 2021-12-31
  fit_start_time: 2020-01-02
  fit_end_time: 2020-12-31
  instruments: csi300
  infer_processors:
    - {class: RobustZScoreNorm, kwargs: {fields_group: feature, clip_outlier: true}}
    - {class: Fillna, kwargs: {fields_group: feature}}
  learn_processors: [DropnaLabel, {class: CSRankNorm, kwargs: {fields_group: label}}]
  label: [["Ref($close, -5)/$close - 1"], ["LABEL0"]]
task:
  model: {class: LGBModel, module_path: qlib.contrib.model.gbdt, kwargs: {loss: mse, num_leaves: 210, max_bin: 63}}
  dataset:
    class: DatasetH
    module_path: qlib.data.dataset
    kwargs:
      handler: {class: Alpha158, module_path: qlib.contrib.data.handler, kwargs: *dhc}
      segments: {train: [2020-01-02, 2020-12-31], valid: [2021-01-04, 2021-06-30], test: [2021-07-01, 2021-12-31]}
"""


def workflow(**changes) -> dict:
    import yaml

    data = yaml.safe_load(YAML)
    for path, value in changes.items():
        node = data
        *parents, leaf = path.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return data


def test_qlib_yaml_with_anchors(tmp_path):
    path = tmp_path / "workflow.yaml"
    path.write_text(YAML)
    spec = load_workflow(path)
    handler = spec.dataset.handler
    assert spec.model.kwargs == {"loss": "mse", "num_leaves": 210, "max_bin": 63}
    assert handler.instruments == "csi300" and len(handler.features) == 158
    assert handler.labels == {"LABEL0": "Ref($close, -5)/$close - 1"}
    # Qlib's check_transform_proc injects the handler's fit window into the fitted norms only
    assert handler.infer_processors[0].kwargs["fit_end_time"].strftime("%F") == "2020-12-31"
    assert "fit_start_time" not in handler.infer_processors[1].kwargs
    assert [p.name for p in handler.learn_processors] == ["DropnaLabel", "CSRankNorm"]
    assert spec.dataset.segment("test")[0].strftime("%F") == "2021-07-01"
    assert spec.provider_uri == "~/.qlib/qlib_data/cn_data"


def test_alpha158_defaults_are_qlibs():
    data = workflow()
    kwargs = data["task"]["dataset"]["kwargs"]["handler"]["kwargs"]
    for key in ("infer_processors", "learn_processors", "label"):
        del kwargs[key]
    handler = parse_workflow(data).dataset.handler
    assert handler.infer_processors == ()
    assert [(p.name, p.kwargs) for p in handler.learn_processors] == [
        ("DropnaLabel", {}), ("CSZScoreNorm", {"fields_group": "label"})]
    assert handler.labels == {"LABEL0": "Ref($close, -2)/Ref($close, -1) - 1"}


def test_catalog_blocks():
    data = workflow()
    spec = parse_workflow({"model_config": data["task"]["model"], "dataset_config": data["task"]["dataset"]})
    assert spec.model.name == "LGBModel" and spec.provider_uri is None


@pytest.mark.parametrize(("changes", "message"), [
    ({"task.model.class": "TabnetModel"}, "supported: LGBModel"),
    ({"task.model.kwargs": {"num_leavez": 3}}, "unknown kwarg(s) ['num_leavez']"),
    ({"task.model.kwargs": {"loss": "huber"}}, "loss 'huber' is not supported"),
    ({"task.dataset.class": "TSDatasetH"}, "supported: DatasetH"),
    ({"task.dataset.kwargs.handler.class": "Alpha101"}, "supported: Alpha158, Alpha360"),
    ({"task.dataset.kwargs.handler.kwargs.infer_processors": [{"class": "Magic"}]}, "supported: CSRankNorm"),
    ({"task.dataset.kwargs.handler.kwargs.freq": "1min"}, "only 'day'"),
    ({"task.dataset.kwargs.handler.kwargs.fit_end_time": None}, "set both in data_handler_config"),
    ({"task.dataset.kwargs.handler.kwargs.colour": "red"}, "unknown data_handler_config key(s) ['colour']"),
    ({"task.dataset.kwargs.segments": {"valid": ["2021-01-04", "2021-06-30"]}}, "at least 'train'"),
    ({"task.dataset.kwargs.segments": {"train": ["2021-01-04", "2020-06-30"]}}, "is not a window"),
    ({"task.dataset.kwargs.handler.kwargs.label": [["a", "b"], ["L"]]}, "2 expressions but 1 names"),
])
def test_bad_configs_name_what_is_supported(changes, message):
    with pytest.raises(ModelError) as err:
        parse_workflow(workflow(**changes))
    assert message in str(err.value)


def test_missing_segment_and_file(tmp_path):
    spec = parse_workflow(workflow(**{"task.dataset.kwargs.segments": {"train": ["2020-01-02", "2020-12-31"]}}))
    with pytest.raises(ModelError, match="no 'test' segment"):
        spec.dataset.segment("test")
    with pytest.raises(ModelError, match="does not exist"):
        load_workflow(tmp_path / "nope.yaml")
