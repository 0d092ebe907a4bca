"""The demo export ships a real exported model for its LightGBM loops (what `models select` runs first)."""

from __future__ import annotations

import json

import lightgbm as lgb
import numpy as np

from aistock_core.demo.export import LOOPS, _Ids
from aistock_core.demo.factors import ALPHA158_BASELINE
from aistock_core.factors.engine import compute_frame


def test_lightgbm_loops_carry_a_trained_text_model_with_its_feature_schema(demo_export_master, demo_service):
    ids = _Ids(11, demo_service.resolve_dates()[-1])
    day = demo_service.resolve_dates()[-1]
    features = compute_frame(demo_service, "all", ALPHA158_BASELINE, start=day, end=day)
    for loop in LOOPS:
        ws = ids.workspace_id(loop)
        workspace = demo_export_master / "git_ignore_folder" / "RD-Agent_workspace" / ws
        (bundle,) = (demo_export_master / "RDagentDB" / "production_bundles").glob(f"*/workspaces/{ws}")
        manifest = json.loads((bundle.parents[1] / "manifest.json").read_text())
        meta = json.loads((bundle / "model_meta.json").read_text())
        if loop.model != "LGBModel":
            assert not (workspace / "model.txt").exists() and meta["feature_schema"] is None
            assert manifest["primary_assets"]["model_weight_relpath"] == ""
            continue
        assert (bundle / "model.txt").read_bytes() == (workspace / "model.txt").read_bytes()
        assert manifest["primary_assets"]["model_weight_relpath"] == f"workspaces/{ws}/model.txt"
        assert meta["feature_schema"] == [list(ALPHA158_BASELINE.values()), list(ALPHA158_BASELINE)]
        booster = lgb.Booster(model_file=str(bundle / "model.txt"))
        assert booster.num_feature() == len(ALPHA158_BASELINE) and booster.num_trees() >= 1
        scores = booster.predict(np.nan_to_num(features.to_numpy()))
        assert np.unique(scores).size > 5  # it learned something: not one value for every name
