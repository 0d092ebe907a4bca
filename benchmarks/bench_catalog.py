"""Catalog sync at scale: 10,000 factors and 1,000 loops (with bundles and artifacts) from the HTTP peer.

Targets (issue): full sync ≤ 5 s on SQLite and on PostgreSQL; incremental with nothing new ≤ 0.5 s.
Run: ``.venv/bin/python benchmarks/bench_catalog.py [--factors 10000] [--loops 1000]``. PostgreSQL is used when
``AISTOCK_TEST_PG_URL`` (default ``postgresql+psycopg2://postgres@127.0.0.1:5432/test``) answers.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing as mp
import os
import sqlite3
import sys
import tempfile
import uuid
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text
from timing import timed

from aistock_core.db import Database
from aistock_core.research.client import HttpSource
from aistock_core.research.sync import sync

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("AISTOCK_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


def load_peer():
    spec = importlib.util.spec_from_file_location("bench_peer", ROOT / "tests/aistock_core/research/peer.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_peer"] = module
    spec.loader.exec_module(module)
    return module.Peer


def _serve(root: str, urls: mp.Queue, stop: mp.Event) -> None:
    """The peer in its own process, as RD-Agent's server is: it must not share the client's GIL."""
    with load_peer()(Path(root)) as peer:
        urls.put(peer.url)
        stop.wait()


def build_export(root: Path, n_factors: int, n_loops: int, seed: int = 0) -> None:
    """A synthetic RD-Agent export of the given size, in the contract's shapes (catalogs, registry, bundles)."""
    rng = np.random.default_rng(seed)
    cat = root / "RDagentDB" / "aistock"
    cat.mkdir(parents=True)
    env = {"version": "v1", "generated_at_utc": "2026-01-01T00:00:00+00:00", "source": "rdagent_tools"}
    factors = [{"name": f"f{i:05d}", "source": "rdagent_generated", "expression": f"Mean($close, {i % 60 + 2})/$close",
                "description_cn": "generated", "tags": ["rdagent"], "region": "cn",
                "input_schema": {"required_fields": ["$close"], "lookback_days": i % 60 + 2},
                "best_performance": f"Sharpe: {rng.normal():.2f}, Ann.Ret: {rng.normal() * 10:.2f}%"}
               for i in range(n_factors)]
    (cat / "factor_catalog.json").write_text(json.dumps({**env, "factors": factors}))
    runs = [uuid.UUID(int=int(rng.integers(1 << 62))).hex for _ in range(max(1, n_loops // 20))]
    loops, models, strategies = [], [], {}
    conn = sqlite3.connect(root / "RDagentDB" / "registry.sqlite")
    conn.executescript(
        "CREATE TABLE loops(task_run_id TEXT, loop_id INT, action TEXT, status TEXT, has_result INT, "
        "best_workspace_id TEXT, metrics_json TEXT, asset_bundle_id TEXT, is_solidified INT, sync_status TEXT, "
        "updated_at_utc TEXT, PRIMARY KEY(task_run_id, loop_id));"
        "CREATE TABLE artifacts(artifact_id TEXT PRIMARY KEY, task_run_id TEXT, loop_id INT, workspace_id TEXT, "
        "artifact_type TEXT, name TEXT, status TEXT, primary_flag INT, summary_json TEXT, entry_path TEXT);"
        "CREATE TABLE artifact_files(file_id TEXT PRIMARY KEY, artifact_id TEXT, workspace_id TEXT, path TEXT, "
        "sha256 TEXT, size_bytes INT, mtime_utc TEXT, kind TEXT);"
        "CREATE INDEX ix_art_loop ON artifacts(task_run_id, loop_id);"
        "CREATE INDEX ix_file_art ON artifact_files(artifact_id);"
        "CREATE TABLE factor_registry(factor_name TEXT, expression TEXT, performance_json TEXT, asset_bundle_id TEXT,"
        " workspace_id TEXT, task_run_id TEXT, loop_id INT, updated_at_utc TEXT, PRIMARY KEY(factor_name, "
        "asset_bundle_id));")
    for n in range(n_loops):
        trid, lid = runs[n % len(runs)], n // len(runs)
        ws, bid = uuid.uuid4().hex, str(uuid.uuid4())
        sid = f"{n % 50:032x}"
        names = [factors[int(i)]["name"] for i in rng.integers(0, n_factors, 5)]
        m = {"IC": float(rng.normal(0.02, 0.01)),
             "1day.excess_return_without_cost.annualized_return": float(rng.normal(0.1, 0.1)),
             "1day.excess_return_without_cost.information_ratio": float(rng.normal(1, 0.5)),
             "1day.excess_return_without_cost.max_drawdown": -abs(float(rng.normal(0.1, 0.05))),
             "1day.excess_return_with_cost.annualized_return": float(rng.normal(0.05, 0.1)),
             "1day.excess_return_with_cost.information_ratio": float(rng.normal(0.5, 0.5)),
             "1day.excess_return_with_cost.max_drawdown": -abs(float(rng.normal(0.15, 0.05)))}
        at = f"2026-01-01T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}+00:00"
        loops.append({"task_run_id": trid, "loop_id": lid, "workspace_id": ws, "action": "factor",
                      "status": "success", "has_result": True, "asset_bundle_id": bid, "is_solidified": True,
                      "strategy_id": sid, "factor_names": names, "metrics": m, "decision": bool(n % 2)})
        strategies[sid] = {"strategy_id": sid, "step_name": "running", "action": "factor", "template_files": [],
                           "portfolio_config": {"class": "TopkDropoutStrategy", "kwargs": {"topk": 50, "n_drop": 5}},
                           "backtest_config": {"benchmark": "SH000300"}}
        models.append({"model_id": uuid.uuid4().hex, "task_run_id": trid, "loop_id": lid, "model_type": "LGBModel",
                       "model_config": {"class": "LGBModel", "kwargs": {"num_leaves": 210}}})
        conn.execute("INSERT INTO loops VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                     (trid, lid, "factor", "success", 1, ws, json.dumps(m), bid, 1, "pending", at))
        for kind in ("factor_perf", "feedback", "backtest_metrics"):
            aid = uuid.uuid4().hex
            conn.execute("INSERT INTO artifacts VALUES (?,?,?,?,?,?,?,?,?,?)",
                         (aid, trid, lid, ws, kind, kind, "present", 0, "{}", f"{kind}.json"))
            conn.execute("INSERT INTO artifact_files VALUES (?,?,?,?,?,?,?,?)",
                         (uuid.uuid4().hex, aid, ws, f"{kind}.json", None, 100, at, kind))
        for name in names[:2]:
            conn.execute("INSERT OR IGNORE INTO factor_registry VALUES (?,?,?,?,?,?,?,?)",
                         (name, "x", "{}", bid, ws, trid, lid, at))
        folder = root / "RDagentDB" / "production_bundles" / bid / "workspaces" / ws
        folder.mkdir(parents=True)
        (folder / "factor.py").write_text(f"# loop {n}\nimport pandas as pd\n")
        (folder.parents[1] / "manifest.json").write_text(json.dumps({"asset_bundle_id": bid, "task_run_id": trid,
                                                                      "loop_id": lid}))
    conn.commit()
    conn.close()
    (cat / "loop_catalog.json").write_text(json.dumps({**env, "loops": loops}))
    (cat / "strategy_catalog.json").write_text(json.dumps({**env, "strategies": list(strategies.values())}))
    (cat / "model_catalog.json").write_text(json.dumps({**env, "models": models}))


def pg_schema_url() -> tuple[str, callable] | None:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception:
        return None

    def drop() -> None:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()

    return f"{PG_URL}?options=-csearch_path%3D{schema}", drop


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--factors", type=int, default=10_000)
    parser.add_argument("--loops", type=int, default=1_000)
    args = parser.parse_args()
    console = Console()
    table = Table(title=f"catalog sync: {args.factors:,} factors, {args.loops:,} loops (HTTP peer on loopback)")
    for col in ("backend", "operation", "seconds", "target", "ok", "rows written"):
        table.add_column(col, justify="right" if col in ("seconds", "target", "rows written") else "left")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t_build, _ = timed(lambda: build_export(root / "export", args.factors, args.loops))
        console.print(f"export generated in {t_build:.1f} s")
        ctx = mp.get_context("spawn")
        urls, stop = ctx.Queue(), ctx.Event()
        server = ctx.Process(target=_serve, args=(str(root / "export"), urls, stop), daemon=True)
        server.start()
        url = urls.get(timeout=60)
        backends = [("sqlite", f"sqlite:///{root / 'bench.db'}", None)]
        pg = pg_schema_url()
        if pg:
            backends.append(("postgresql", pg[0], pg[1]))
        try:
            for name, db_url, drop in backends:
                db = Database(db_url)
                blobs = root / f"blobs_{name}"
                try:
                    with HttpSource(url) as src:
                        for op, incremental, target in (("full sync (empty DB)", False, 5.0),
                                                        ("full sync (nothing changed)", False, 5.0),
                                                        ("incremental (nothing new)", True, 0.5)):
                            seconds, report = timed(lambda db=db, src=src, blobs=blobs, inc=incremental: sync(
                                db, src, blobs, incremental=inc))
                            written = sum(c.new + c.changed + c.removed for c in report.counts.values())
                            table.add_row(name, op, f"{seconds:.3f}", f"≤ {target}",
                                          "[green]yes[/]" if seconds <= target else "[red]no[/]", f"{written:,}")
                finally:
                    db.dispose()
                    if drop:
                        drop()
        finally:
            stop.set()
            server.join(timeout=10)
    console.print(table)


if __name__ == "__main__":
    main()
