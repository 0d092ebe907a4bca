"""Give a demo export's loops a workflow and an exported model of the test's choosing, then sync it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from aistock_core.demo.export import DemoLoop, _Ids
from aistock_core.factors.alpha158 import alpha158_expressions


def alpha158_schema(names: list[str] | None = None) -> list[list[str]]:
    """model_meta.json's ``feature_schema`` of an Alpha158 model (``names``: another order, to break it)."""
    exprs = alpha158_expressions()
    names = list(exprs) if names is None else names
    return [[exprs[n] for n in names], names]


def patch_loop(export: Path, seed: int, last_day: pd.Timestamp, loop: DemoLoop, workflow: dict,
               files: dict[str, bytes], meta: dict) -> str:
    """Set ``loop``'s model_config/dataset_config to ``workflow``'s and put ``files`` (model.txt, params.pkl…)
    with ``meta`` as model_meta.json in its workspace and bundle, replacing the demo's model; its key."""
    ids = _Ids(seed, last_day)
    trid, ws = ids.task_run_id(loop.task), ids.workspace_id(loop)
    catalog_path = export / "RDagentDB" / "aistock" / "model_catalog.json"
    catalog = json.loads(catalog_path.read_text())
    for entry in catalog["models"]:
        if entry["task_run_id"] == trid and entry["loop_id"] == loop.loop_id:
            entry.update(workflow)
    catalog_path.write_text(json.dumps(catalog))
    folders = [export / "git_ignore_folder" / "RD-Agent_workspace" / ws,
               *(export / "RDagentDB" / "production_bundles").glob(f"*/workspaces/{ws}")]
    for folder in folders:
        (folder / "model.txt").unlink(missing_ok=True)
        (folder / "model_meta.json").write_text(json.dumps(meta))
        for name, data in files.items():
            (folder / name).write_bytes(data)
    return f"{trid}/{loop.loop_id}"


def set_strategy(export: Path, block: dict) -> None:
    """Every strategy catalog entry's ``portfolio_config`` becomes ``block``."""
    path = export / "RDagentDB" / "aistock" / "strategy_catalog.json"
    strategies = json.loads(path.read_text())
    for entry in strategies["strategies"]:
        entry["portfolio_config"] = block
    path.write_text(json.dumps(strategies))
