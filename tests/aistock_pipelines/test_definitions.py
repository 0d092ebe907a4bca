"""The one `Definitions`: it validates with Dagster's own CLI and wires the market assets as intended."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from aistock_pipelines.definitions import defs
from aistock_pipelines.partitions import trading_days

ROOT = Path(__file__).resolve().parents[2]
MARKET = {"instruments", "market_bars", "index_bars"}


def test_dagster_definitions_validate(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "AISTOCK_HOME": str(tmp_path / "home")}
    proc = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "aistock_pipelines.definitions"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Validation successful" in proc.stdout + proc.stderr


def test_market_assets_are_wired():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.materializable_asset_keys}
    assert keys >= MARKET
    bars = graph.get(dg.AssetKey("market_bars"))
    assert bars.partitions_def == trading_days and bars.group_name == "data"
    assert graph.get(dg.AssetKey("index_bars")).partitions_def == trading_days
    assert graph.get(dg.AssetKey("instruments")).partitions_def is None
    assert dg.AssetKey("instruments") in bars.parent_keys, "bars follow the instrument table"
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert ("instruments", "calendar_horizon") in checks, "once a day, not once per bar partition"
    assert defs.resolve_schedule_def("market_eod_schedule").job_name == "market_eod"


def test_every_asset_resource_is_bound():
    bound = set(defs.resources or {})
    for assets_def in defs.resolve_asset_graph().assets_defs:
        missing = set(assets_def.required_resource_keys) - bound - {"io_manager"}
        assert not missing, f"{assets_def.keys} need unbound resources {missing}"
