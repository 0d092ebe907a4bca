"""Fuzz and fault harness of the ``aistock`` command line (issue 15), shared by tests/fuzz and bench_fuzz.py.

**Fuzz table**: every command that reads outside input (score files, Qlib dirs, RD-Agent catalogs from a
directory and over HTTP, settings variables, dates and partition keys, output paths, options) gets malformed
variants: truncated, wrong type, wrong encoding, empty, huge, a link, a directory where a file belongs, hostile
paths. Each case runs the real typer app in a forked child (fresh settings, own cwd and environment, a wall
clock limit) and must end with exit 2, exactly one ``error (...)`` line on stderr naming the input, no
traceback, and the world byte-identical: every file under the world's root (inputs and outputs), and every row
of the app DB except ``research_sync_runs``, which records failed attempts on purpose.

**Fault harness**: each writing command is SIGKILLed at a chosen delay after it starts, then run again; the
rerun must succeed and leave the same data as a run that was never interrupted.

Not a test module (no ``test_`` prefix): tests/fuzz/test_*.py and benchmarks/bench_fuzz.py load it by path.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import time
import traceback
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import MetaData, create_engine, select

from aistock_core.calendar.horizon_cache import CACHE_NAME

#: Research tables that legitimately change on a failed sync (it records the failure).
AUDIT_TABLES = {"research_sync_runs"}
#: When each row was seen/synced: differs between two runs that store the same data.
SYNC_TIMESTAMPS = frozenset({"first_seen_at", "synced_at", "removed_at"})
DB_FILES = ("aistock.db", "aistock.db-wal", "aistock.db-shm", "aistock.migrate.lock")
TODAY = pd.Timestamp("2025-04-01")  # pinned "today": no calendar-horizon warning, data ends before it
QLIB_END = "2025-03-31"
PREVIEW = "pv"  # the world's preview instance (id 1) and paper trading instance
PAPER = "paper1"
PREVIEW_ID = "preview-1"
#: The world's optimizer proposals by label: (kind, instance, changes); "decided" is rejected when the world is
#: built, the others stay pending (approving "vanished" or "unusable" must fail and write nothing).
PROPOSALS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "pending": ("sizing", PREVIEW_ID, {"strategy.kwargs.risk_degree": 0.5}),
    "decided": ("risk", PREVIEW_ID, {"limits.max_drawdown": 0.08}),
    "vanished": ("sizing", "preview-99", {"strategy.kwargs.risk_degree": 0.5}),
    "unusable": ("weights", PREVIEW_ID, {"strategy.class": "NoSuchStrategy"}),
}


@dataclass
class World:
    """A small but complete installation under ``root``: AISTOCK_HOME with a synced app DB, a Qlib dir written by
    aistock, a score file, an RD-Agent export, earlier outputs, and someone else's files next to them."""

    root: Path
    peer_url: str | None = None

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def qlib(self) -> Path:
        return self.root / "qlib"

    @property
    def scores(self) -> Path:
        return self.root / "scores.parquet"

    @property
    def export(self) -> Path:
        return self.root / "export"

    @property
    def bad(self) -> Path:
        return self.root / "bad"

    @property
    def feedback(self) -> Path:
        """A LiveFeedback file of the world's preview instance (`livefeedback`)."""
        return self.root / "livefeedback.json"

    def env(self, db_url: str | None = None) -> dict[str, str]:
        env = {"AISTOCK_HOME": str(self.home)}
        if db_url:
            env["AISTOCK_DATABASE_URL"] = db_url
        return env


def build_world(root: Path, db_url: str | None = None) -> World:
    """Everything the cases read, written once (≈5 s): the cases copy and damage pieces of it."""
    from aistock_core.data.qlib_bin import write_qlib_dir
    from aistock_core.data.service import DataService
    from aistock_core.data.synthetic import SyntheticMarket
    from aistock_core.demo.export import write_demo_export

    warm()
    world = World(Path(root))
    world.root.mkdir(parents=True, exist_ok=True)
    market = DataService(SyntheticMarket(seed=5, n_instruments=8, start="2024-12-02", end=QLIB_END))
    write_qlib_dir(market, world.qlib, start="2025-01-02", end=QLIB_END, markets=("all",))
    days = pd.DatetimeIndex(world.qlib.joinpath("calendars/day.txt").read_text().split())
    codes = [line.split("\t")[0] for line in world.qlib.joinpath("instruments/all.txt").read_text().splitlines()]
    rng = np.random.default_rng(0)
    index = pd.MultiIndex.from_product([days, codes], names=["datetime", "instrument"])
    pd.DataFrame({"score": rng.normal(size=len(index))}, index=index).reset_index().to_parquet(world.scores)
    research = DataService(SyntheticMarket(seed=11, n_instruments=20, start="2024-06-03", end=QLIB_END))
    write_demo_export(research, world.export, seed=11, replay=False)
    (world.root / "mine").mkdir()
    (world.root / "mine" / "thesis.tex").write_text("someone's own work, not aistock's")
    (world.root / "plain.txt").write_text("a plain file")
    (world.root / "notes.parquet").write_text("not parquet: someone's notes under a .parquet name")
    world.bad.mkdir()
    for argv in (["catalog", "sync", "--source", str(world.export)],
                 ["backtest", "--provider-uri", str(world.qlib), "--score", str(world.scores), "--out",
                  str(world.root / "bt"), "--topk", "3", "--n-drop", "1", "--benchmark", "none"],
                 ["factors", "compute", "--provider-uri", str(world.qlib), "--factors", "KMID,ROC5", "--out",
                  str(world.root / "factors.parquet")],
                 ["preview", "create", "--name", PREVIEW, "--capital", "1000000"],
                 ["trade", "instance", "create", "--name", PAPER, "--capital", "1000000"]):
        # A generous limit: the first factor computation may compile the numba kernels on a busy machine.
        outcome = run_cli(argv, world.env(db_url), world.root, limit=900)
        if outcome.exit_code != 0:
            raise RuntimeError(f"building the fuzz world: {' '.join(argv)} exited {outcome.exit_code} after "
                               f"{outcome.seconds:.0f} s: {outcome.stderr}{outcome.error}")
    _record_proposals(world, db_url)
    world.feedback.write_text(json.dumps(livefeedback(PREVIEW_ID)))
    return world


def _record_proposals(world: World, db_url: str | None) -> None:
    """The optimizer's proposals the ``loop approve|reject`` cases decide on (`PROPOSALS`), the decided one
    rejected through the CLI."""
    from aistock_core.db import Database
    from aistock_core.feedback.optimizer import Proposal
    from aistock_core.feedback.proposals import record_proposals

    db = Database(db_url or f"sqlite:///{world.home / 'aistock.db'}")
    try:
        made = record_proposals(db, pd.Timestamp(QLIB_END), [
            Proposal(kind, ref, {ref: changes}, {"metric": "sharpe"}) for kind, ref, changes in PROPOSALS.values()])
    finally:
        db.dispose()
    if [p.id for p in made] != list(range(1, len(PROPOSALS) + 1)):
        raise RuntimeError(f"building the fuzz world: proposals got ids {[p.id for p in made]}")
    outcome = run_cli(["loop", "reject", str(proposal_id("decided")), "--by", "fuzz"], world.env(db_url), world.root)
    if outcome.exit_code != 0:
        raise RuntimeError(f"building the fuzz world: rejecting a proposal: {outcome.stderr}{outcome.error}")


def proposal_id(label: str) -> int:
    """The id of the world's proposal ``label`` (ids follow `PROPOSALS`' order)."""
    return list(PROPOSALS).index(label) + 1


def livefeedback(instance: str, **overrides: Any) -> dict:
    """A small LiveFeedback v1 document of ``instance`` (schema-valid unless ``overrides`` break it), as a research
    peer or an earlier ``feedback build`` would leave it."""
    performance = dict.fromkeys(("total_return", "annual_return", "volatility", "sharpe", "max_drawdown",
                                 "win_rate", "turnover", "benchmark_return", "excess_return"))
    execution = dict.fromkeys(("fill_ratio", "avg_slippage_bps", "avg_fill_seconds", "commission", "stamp_duty"))
    return {
        "schema_version": 1, "generated_at": "2025-03-31T18:00:00+08:00", "strategy_instance_id": instance,
        "experiment_id": None, "env": "preview",
        "period": {"start_date": "2025-03-24", "end_date": "2025-03-28", "sessions": 5, "kind": "week"},
        "config": {"strategy_config_hash": "0" * 64, "factor_set_hash": "1" * 64,
                   "model": {"name": None, "version": None, "trained_until": None},
                   "strategy": {"class": "TopkDropoutStrategy", "kwargs": {"topk": 3, "n_drop": 1}}},
        "performance": {**performance, "benchmark": "000300.SH",
                        "nav": [{"date": "2025-03-28", "nav": 1.0, "benchmark_nav": None}]},
        "execution": {**execution, "orders": 0, "filled_orders": 0, "order_reject_count": 0, "cancel_count": 0,
                      "risk_block_count": 0},
        "expectation": {"source": "loop KPIs", "expected_return": None, "expected_sharpe": None,
                        "expected_max_drawdown": None, "tracking_error": None, "divergence": None},
        "events": [], **overrides,
    }


def pg_schemas(base_url: str, prefix: str) -> tuple[Callable[[], str], Callable[[], None]]:
    """A factory of fresh PostgreSQL schemas (as app-DB URLs on ``base_url``), and a cleanup that drops them."""
    import uuid

    from sqlalchemy import text

    engine = create_engine(base_url)
    made: list[str] = []

    def new_db() -> str:
        schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        made.append(schema)
        engine.dispose()  # no pooled connection is inherited by a forked child
        return f"{base_url}?options=-csearch_path%3D{schema}"

    def cleanup() -> None:
        with engine.begin() as conn:
            for schema in made:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()

    return new_db, cleanup


# -- running one command in a forked child ------------------------------------------------------------------
#: Modules the commands import (some lazily, inside the command): imported once in the parent, so each forked
#: child starts its command at once instead of spending seconds on imports (and kill delays hit the command).
WARM_MODULES = (
    "aistock_pipelines.cli.main", "aistock_core.strategy.backtest.engine", "aistock_core.strategy.backtest.outputs",
    "aistock_core.factors.engine", "aistock_core.research.sync", "aistock_core.research.client",
    "aistock_core.research.export_dir", "aistock_core.data.qlib_bin", "aistock_core.data.synthetic",
    "aistock_core.db.models", "alembic.command", "typer.testing", "aistock_core.strategy.backtest.plot",
    # command modules the CLI loads lazily
    "aistock_pipelines.cli.backtest", "aistock_pipelines.cli.calendar", "aistock_pipelines.cli.catalog",
    "aistock_pipelines.cli.data", "aistock_pipelines.cli.factors", "aistock_pipelines.cli.models",
    "aistock_pipelines.cli.preview", "aistock_pipelines.cli.trade", "aistock_pipelines.cli.alerts",
    "aistock_pipelines.cli.feedback", "aistock_pipelines.cli.loop", "aistock_pipelines.cli.proposals",
    "aistock_core.feedback.publish", "aistock_core.feedback.proposals", "aistock_core.signals.store",
)


def warm() -> None:
    """Import `WARM_MODULES` and load the default XSHG calendar in this (parent) process."""
    import importlib

    from aistock_core.calendar import xshg_calendar
    from aistock_core.config import Settings

    for name in WARM_MODULES:
        importlib.import_module(name)
    xshg_calendar(Settings.model_fields["calendar_start"].default)


@dataclass
class Outcome:
    exit_code: int | None  # None: killed for running past the limit (a hang)
    stderr: str = ""
    error: str = ""  # the traceback of an exception that escaped the app (a crash)
    seconds: float = 0.0

    @property
    def error_lines(self) -> list[str]:
        """stderr lines that are not warnings (the calendar-horizon warning is date-dependent, not an error)."""
        return [line for line in self.stderr.splitlines() if line.strip() and not line.startswith("warning:")]


def _child(argv: list[str], env: dict[str, str], cwd: Path, write_fd: int) -> None:
    """Run the app in this (forked) process and send an `Outcome` as JSON down ``write_fd``."""
    for key in [k for k in os.environ if k.startswith("AISTOCK_") or k == "DAGSTER_HOME"]:
        del os.environ[key]
    os.environ.update(env)
    os.chdir(cwd)
    from typer.testing import CliRunner

    from aistock_core.config import get_settings
    from aistock_pipelines.cli import calendar as calendar_cli
    from aistock_pipelines.cli.main import app

    get_settings.cache_clear()
    calendar_cli.today = lambda: TODAY
    result = CliRunner().invoke(app, argv)
    crash = ""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        crash = "".join(traceback.format_exception(result.exception))
    payload = {"exit_code": result.exit_code, "stderr": result.stderr, "error": crash}
    with os.fdopen(write_fd, "w") as pipe:
        pipe.write(json.dumps(payload))


def run_cli(argv: list[str], env: dict[str, str], cwd: Path, limit: float = 60.0) -> Outcome:
    """``aistock *argv`` in a forked child with only ``env`` as AISTOCK_* settings; killed after ``limit`` s."""
    read_fd, write_fd = os.pipe()
    began = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        code = 0
        try:
            _child(argv, env, cwd, write_fd)
        except BaseException:
            traceback.print_exc()
            code = 70
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks: list[bytes] = []
    os.set_blocking(read_fd, False)
    while True:
        try:
            chunk = os.read(read_fd, 1 << 16)
        except BlockingIOError:
            chunk = None
        if chunk:
            chunks.append(chunk)
        elif chunk == b"":
            break
        if time.monotonic() - began > limit:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read_fd)
            return Outcome(None, seconds=time.monotonic() - began)
        if chunk is None:
            time.sleep(0.005)
    os.close(read_fd)
    os.waitpid(pid, 0)
    seconds = time.monotonic() - began
    if not chunks:
        return Outcome(1, error="the child died without a result", seconds=seconds)
    data = json.loads(b"".join(chunks))
    return Outcome(data["exit_code"], data["stderr"], data["error"], seconds)


# -- state of the world -------------------------------------------------------------------------------------
def db_rows(url: str, skip_columns: frozenset[str] = frozenset()) -> dict[str, list[str]]:
    """Every row of every table but the audit ones, as sorted JSON strings (comparable across runs), without
    ``skip_columns`` (the sync's bookkeeping timestamps when two runs are compared)."""
    engine = create_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        out = {}
        with engine.connect() as conn:
            for name, table in sorted(meta.tables.items()):
                if name not in AUDIT_TABLES:
                    columns = [c for c in table.columns if c.name not in skip_columns]
                    out[name] = sorted(json.dumps(list(r), default=str) for r in conn.execute(select(*columns)))
        return out
    finally:
        engine.dispose()


def files_digest(root: Path, skip: Callable[[Path], bool] = lambda p: False) -> dict[str, str]:
    """sha256 of every file (and the target of every link) under ``root``, by relative path."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if skip(rel):
            continue
        if path.is_symlink():
            out[str(rel)] = f"link:{os.readlink(path)}"
        elif path.is_file():
            out[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.is_dir():
            out[str(rel)] = "dir"
    return out


def world_state(world: World, db_url: str | None, case_dir: str | None) -> tuple[dict, dict]:
    """(files, DB rows): files under root except the DB's own files and other cases' inputs."""
    def skip(rel: Path) -> bool:
        parts = rel.parts
        if rel.name in DB_FILES:  # compared as rows (the world's), not bytes: WAL checkpoints rewrite pages
            return True
        if "cache" in parts[-2:] and rel.name in ("cache", CACHE_NAME):  # the day's horizon warning: derived
            return True
        return parts[:1] == ("bad",) and len(parts) > 1 and parts[1] != case_dir

    url = db_url or f"sqlite:///{world.home / 'aistock.db'}"
    return files_digest(world.root, skip), db_rows(url)


# -- malformed variants -------------------------------------------------------------------------------------
def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: max(len(path.read_bytes()) // 3, 1)])


def _garbage(path: Path) -> None:
    path.write_bytes(bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)))


def _not_utf8(path: Path) -> None:
    path.write_bytes(b"\xff\xfe\x00" + path.read_bytes()[:500])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _wrong_json_type(path: Path) -> None:
    path.write_text(json.dumps(["a", "list", "where", "an", "object", "belongs"]))


def _directory(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    path.mkdir()
    (path / "inside.txt").write_text("x")


def _dangling_link(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    path.symlink_to(path.parent / "no_such_target")


def _huge(path: Path, megabytes: int) -> None:
    with open(path, "wb") as fh:
        line = b"2025-01-02,SH600000,0.1," + b"9" * 100 + b"\n"
        fh.write(b"datetime,instrument,score\n")
        for _ in range(megabytes * 1024 * 1024 // len(line)):
            fh.write(line)


FILE_DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated": _truncate, "garbage": _garbage, "not-utf8": _not_utf8, "empty": _empty,
    "directory": _directory, "dangling-link": _dangling_link,
}


@dataclass
class Case:
    """One malformed input: ``setup`` makes it under ``case_dir`` and returns the argv; ``names`` must appear in
    the error line (the input it names). ``slow``: left to the benchmark (retries against a stalled server,
    huge files). ``quick``: in the `make test` subset (the benchmark runs every case)."""

    name: str
    setup: Callable[[World, Path], list[str]]
    names: Callable[[World, Path], str]
    env: Callable[[World, Path], dict[str, str]] = field(default=lambda w, d: {})
    cwd: Callable[[World, Path], Path] = field(default=lambda w, d: w.root)
    slow: bool = False
    http: bool = False
    quick: bool = True


def _backtest(world: World, *, score: Path | None = None, qlib: Path | None = None, out: Path | None = None,
              extra: tuple[str, ...] = ()) -> list[str]:
    return ["backtest", "--provider-uri", str(qlib or world.qlib), "--score", str(score or world.scores),
            "--out", str(out or world.root / "bt"), "--topk", "3", "--n-drop", "1", "--benchmark", "none", *extra]


def _score_copy(world: World, case_dir: Path, name: str, frame: pd.DataFrame | None = None) -> Path:
    case_dir.mkdir(parents=True, exist_ok=True)
    target = case_dir / name
    if frame is None:
        shutil.copy(world.scores, target)
    elif target.suffix == ".csv":
        frame.to_csv(target, index=False)
    else:
        frame.to_parquet(target)
    return target


def _score_frame(world: World) -> pd.DataFrame:
    return pd.read_parquet(world.scores)


def score_cases() -> list[Case]:
    cases = []
    for k, (kind, damage) in enumerate(FILE_DAMAGE.items()):
        def setup(w: World, d: Path, damage=damage) -> list[str]:
            path = _score_copy(w, d, "scores.parquet")
            damage(path)
            return _backtest(w, score=path)
        cases.append(Case(f"score file {kind}", setup, lambda w, d: "scores.parquet", quick=k % 2 == 0))

    def frame_case(label: str, edit: Callable[[pd.DataFrame], pd.DataFrame], name: str = "scores.csv",
                   names: str = "score") -> Case:
        def setup(w: World, d: Path) -> list[str]:
            return _backtest(w, score=_score_copy(w, d, name, edit(_score_frame(w))))
        return Case(f"score file {label}", setup, lambda w, d: names)

    def with_value(value: Any) -> Callable[[pd.DataFrame], pd.DataFrame]:
        def edit(f: pd.DataFrame) -> pd.DataFrame:
            f = f.astype({"score": object})
            f.loc[3, "score"] = value
            return f
        return edit

    cases += [
        frame_case("NaN score", with_value(float("nan"))),
        frame_case("+inf score", with_value(float("inf"))),
        frame_case("-inf score", with_value(float("-inf"))),
        frame_case("text score", with_value("high")),
        frame_case("no rows", lambda f: f.iloc[:0], "scores.parquet"),
        frame_case("no score column", lambda f: f.rename(columns={"score": "s"}).assign(t=1.0)),
        frame_case("duplicate keys", lambda f: pd.concat([f, f.iloc[:2]]), names="duplicate"),
        frame_case("unknown code", lambda f: f.assign(instrument=f["instrument"].where(f.index > 0, "XX99")),
                   names="XX99"),
        frame_case("bad date", lambda f: f.astype({"datetime": str}).assign(
            datetime=lambda g: g["datetime"].where(g.index > 0, "2025-02-30")), names="score"),
        frame_case("pickle suffix", lambda f: f, "scores.pkl", names="scores.pkl"),
    ]

    def huge(w: World, d: Path) -> list[str]:
        path = d / "huge.csv"
        d.mkdir(parents=True, exist_ok=True)
        _huge(path, 64)
        return _backtest(w, score=path)
    cases.append(Case("score file huge (64 MB of one duplicated row)", huge, lambda w, d: "score", slow=True))
    cases.append(Case("score file missing", lambda w, d: _backtest(w, score=d / "absent.parquet"),
                      lambda w, d: "absent.parquet"))
    return cases


def _qlib_copy(world: World, case_dir: Path) -> Path:
    target = case_dir / "qlib"
    shutil.copytree(world.qlib, target)
    return target


def qlib_cases() -> list[Case]:
    damage_of: dict[str, tuple[str, Callable[[Path], None]]] = {
        "calendar garbage": ("calendars/day.txt", lambda p: p.write_text("not a date\nnor this\n")),
        "calendar empty": ("calendars/day.txt", _empty),
        "calendar not utf8": ("calendars/day.txt", _not_utf8),
        "calendar is a directory": ("calendars/day.txt", _directory),
        "calendar missing": ("calendars/day.txt", lambda p: p.unlink()),
        "instruments garbage": ("instruments/all.txt", lambda p: p.write_text("garbage without tabs\n")),
        "instruments bad dates": ("instruments/all.txt", lambda p: p.write_text(
            p.read_text().replace("2025-", "2025-13-", 1))),
        "features is a file": ("features", lambda p: (shutil.rmtree(p), p.write_text("x"))),
    }
    cases = []
    commands: dict[str, Callable[[World, Path], list[str]]] = {
        "backtest": lambda w, q: _backtest(w, qlib=q),
        "factors compute": lambda w, q: ["factors", "compute", "--provider-uri", str(q), "--factors", "KMID",
                                         "--out", str(w.root / "factors.parquet")],
        "data show": lambda w, q: ["data", "show", "-i", "000001.SZ", "--provider-uri", str(q)],
        "calendar info": lambda w, q: ["calendar", "info", "--provider-uri", str(q)],
    }
    for k, (label, (rel, damage)) in enumerate(damage_of.items()):
        for j, (command, argv) in enumerate(commands.items()):
            if command == "calendar info" and not rel.startswith("calendars"):
                continue  # it reads the calendar only
            def setup(w: World, d: Path, rel=rel, damage=damage, argv=argv) -> list[str]:
                q = _qlib_copy(w, d)
                damage(q / rel)
                return argv(w, q)
            cases.append(Case(f"{command}: Qlib dir {label}", setup, lambda w, d, rel=rel: rel.split("/")[0],
                              quick=j == k % len(commands)))  # the quick subset: one command per damage

    def truncated_bin(w: World, d: Path) -> list[str]:
        q = _qlib_copy(w, d)
        close = sorted(q.glob("features/*/close.day.bin"))[0]
        close.write_bytes(close.read_bytes()[:6])
        return ["data", "show", "-i", close.parent.name, "--provider-uri", str(q)]
    cases.append(Case("data show: Qlib bin truncated", truncated_bin, lambda w, d: "close.day.bin"))
    for j, (command, argv) in enumerate(commands.items()):
        cases.append(Case(f"{command}: Qlib dir missing", lambda w, d, argv=argv: argv(w, d / "nowhere"),
                          lambda w, d: "nowhere", quick=j % 2 == 0))
        cases.append(Case(f"{command}: Qlib dir is a file", lambda w, d, argv=argv: argv(w, w.root / "plain.txt"),
                          lambda w, d: "plain.txt", quick=j % 2 == 1))
    return cases


CATALOG = "RDagentDB/aistock/factor_catalog.json"


def _export_copy(world: World, case_dir: Path) -> Path:
    target = case_dir / "export"
    shutil.copytree(world.export, target, symlinks=True)
    return target


def _fresh_home(world: World, case_dir: Path) -> dict[str, str]:
    """An AISTOCK_HOME of the case's own (for a bundle the world's DB already holds, since bundles never change)."""
    (case_dir / "home").mkdir(parents=True, exist_ok=True)
    return {"AISTOCK_HOME": str(case_dir / "home")}


def catalog_dir_cases() -> list[Case]:
    cases = []
    damages = {**FILE_DAMAGE, "wrong JSON type": _wrong_json_type}
    for kind, damage in damages.items():
        def setup(w: World, d: Path, damage=damage) -> list[str]:
            export = _export_copy(w, d)
            damage(export / CATALOG)
            return ["catalog", "sync", "--source", str(export)]
        names = "catalog" if kind == "dangling-link" else "factor_catalog.json"
        cases.append(Case(f"catalog dir: factor catalog {kind}", setup, lambda w, d, n=names: n))

    def entry_wrong_type(w: World, d: Path) -> list[str]:
        export = _export_copy(w, d)
        path = export / CATALOG
        data = json.loads(path.read_text())
        data["factors"][0] = "a string where an object belongs"
        path.write_text(json.dumps(data))
        return ["catalog", "sync", "--source", str(export)]
    cases.append(Case("catalog dir: entry of the wrong JSON type", entry_wrong_type, lambda w, d: "factors"))

    def registry(damage: Callable[[Path], None]) -> Callable[[World, Path], list[str]]:
        def setup(w: World, d: Path) -> list[str]:
            export = _export_copy(w, d)
            damage(export / "RDagentDB/registry.sqlite")
            return ["catalog", "sync", "--source", str(export)]
        return setup
    cases += [
        Case("catalog dir: registry garbage", registry(_garbage), lambda w, d: "registry.sqlite"),
        Case("catalog dir: registry truncated", registry(_truncate), lambda w, d: "registry.sqlite"),
        Case("catalog dir: registry is a directory", registry(_directory), lambda w, d: "registry.sqlite"),
        Case("catalog dir: registry vanished", registry(lambda p: p.unlink()), lambda w, d: "--allow-removals"),
    ]

    def tasks_vanished(w: World, d: Path) -> list[str]:
        export = _export_copy(w, d)
        shutil.rmtree(export / "RDagentDB/aistock/tasks")
        return ["catalog", "sync", "--source", str(export)]
    cases.append(Case("catalog dir: task snapshots vanished", tasks_vanished, lambda w, d: "task snapshots"))

    def bundle_link(w: World, d: Path) -> list[str]:
        export = _export_copy(w, d)
        bundle = sorted((export / "RDagentDB/production_bundles").iterdir())[0]
        (bundle / "passwd").symlink_to("/etc/passwd")
        return ["catalog", "sync", "--source", str(export)]
    cases.append(Case("catalog dir: symlink in a bundle", bundle_link, lambda w, d: "symbolic link", env=_fresh_home))

    def task_json_corrupt(w: World, d: Path) -> list[str]:
        export = _export_copy(w, d)
        task = sorted((export / "RDagentDB/aistock/tasks").iterdir())[0]
        (task / "task.json").write_text("{ nope")
        return ["catalog", "sync", "--source", str(export)]
    cases.append(Case("catalog dir: task.json corrupt", task_json_corrupt, lambda w, d: "task.json"))
    cases += [
        Case("catalog dir: not an export (empty folder)",
             lambda w, d: (d.mkdir(parents=True), ["catalog", "sync", "--source", str(d)])[1], lambda w, d: str(d)),
        Case("catalog dir: source is a file", lambda w, d: ["catalog", "sync", "--source", str(w.root / "plain.txt")],
             lambda w, d: "plain.txt"),
        Case("catalog dir: hostile path", lambda w, d: ["catalog", "sync", "--source", "../../../../etc/passwd"],
             lambda w, d: "etc/passwd"),
        Case("catalog dir: --confirm from a directory",
             lambda w, d: ["catalog", "sync", "--source", str(w.export), "--confirm"], lambda w, d: "sync-confirm"),
    ]
    return cases


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@dataclass(frozen=True)
class HttpFault:
    """A fault the harness's peer injects on ``path`` for one case (see tests/aistock_core/research/peer.py)."""

    path: str
    kind: str
    value: Any = None


def catalog_http_cases() -> list[Case]:
    def sync(w: World, d: Path, *extra: str) -> list[str]:
        return ["catalog", "sync", "--source", str(w.peer_url), "--timeout", "1", *extra]

    def case(label: str, fault: HttpFault | None, names: str, slow: bool = False, extra: tuple[str, ...] = (),
             ) -> Case:
        # Bundles are fetched once: a bundle fault needs a home whose DB does not know the bundle yet.
        env = _fresh_home if fault is not None and fault.path.startswith("/artifacts/bundle") else Case.env
        made = Case(f"catalog http: {label}", lambda w, d: sync(w, d, *extra), lambda w, d: names, slow=slow,
                    http=True, env=env)
        made.fault = fault  # type: ignore[attr-defined]
        return made

    bundle_path = "/artifacts/bundle/{first_bundle}"
    return [
        case("malformed catalog JSON", HttpFault("/catalog/factors", "malformed"), "/catalog/factors"),
        case("catalog of the wrong JSON type", HttpFault("/catalog/factors", "body", b"[1, 2, 3]"),
             "/catalog/factors"),
        case("catalog not UTF-8", HttpFault("/catalog/factors", "body", b"\xff\xfe{}"), "/catalog/factors"),
        case("catalog empty body", HttpFault("/catalog/factors", "body", b""), "/catalog/factors"),
        case("tasks ok:false", HttpFault("/tasks", "ok_false"), "/tasks"),
        case("bundle with ../ entry", HttpFault(bundle_path, "body", _zip({"../../escape.py": b"x"})),
             "escapes the bundle"),
        case("bundle not a zip", HttpFault(bundle_path, "body", b"PK\x03\x04 truncated"), "not a zip"),
        case("catalog 404", HttpFault("/catalog/factors", "status", 404), "factors catalog"),
        case("catalog 500 on every retry", HttpFault("/catalog/factors", "status", 500), "HTTP 500", slow=True),
        case("catalog stalls past --timeout", HttpFault("/catalog/factors", "sleep", 5.0), "timed out", slow=True),
        case("negative --timeout", None, "--timeout", extra=("--timeout", "-1")),
        case("zero --deadline", None, "--deadline", extra=("--deadline", "0")),
        case("nan --deadline", None, "--deadline", extra=("--deadline", "nan")),
    ]


def settings_cases() -> list[Case]:
    def listing(w: World, d: Path) -> list[str]:
        return ["catalog", "list", "loops"]

    def env_case(label: str, env: Callable[[World, Path], dict[str, str]], names: str,
                 argv: Callable[[World, Path], list[str]] = listing) -> Case:
        def setup(w: World, d: Path) -> list[str]:
            d.mkdir(parents=True, exist_ok=True)
            (d / "garbage.db").write_bytes(b"garbage, not SQLite" * 64)
            return argv(w, d)
        return Case(f"setting {label}", setup, lambda w, d: names, env=env)

    show = lambda w, d: ["data", "show", "-i", "000001.SZ"]  # noqa: E731
    return [
        env_case("AISTOCK_CALENDAR_START=garbage", lambda w, d: {"AISTOCK_CALENDAR_START": "garbage"},
                 "AISTOCK_CALENDAR_START"),
        env_case("AISTOCK_CALENDAR_START=2005-13-45", lambda w, d: {"AISTOCK_CALENDAR_START": "2005-13-45"},
                 "AISTOCK_CALENDAR_START"),
        env_case("AISTOCK_CALENDAR_START empty", lambda w, d: {"AISTOCK_CALENDAR_START": ""},
                 "AISTOCK_CALENDAR_START"),
        env_case("AISTOCK_HOME is a file", lambda w, d: {"AISTOCK_HOME": str(w.root / "plain.txt")}, "AISTOCK_HOME"),
        env_case("AISTOCK_DATA_SOURCE unknown", lambda w, d: {"AISTOCK_DATA_SOURCE": "bloomberg"},
                 "AISTOCK_DATA_SOURCE"),
        env_case("AISTOCK_SYNTHETIC_SEED not a number", lambda w, d: {"AISTOCK_SYNTHETIC_SEED": "seven"},
                 "AISTOCK_SYNTHETIC_SEED"),
        env_case("AISTOCK_DATABASE_URL nonsense", lambda w, d: {"AISTOCK_DATABASE_URL": "nonsense://x"},
                 "nonsense://x"),
        env_case("AISTOCK_DATABASE_URL a garbage file", lambda w, d: {
            "AISTOCK_DATABASE_URL": f"sqlite:///{d / 'garbage.db'}"}, "garbage.db"),
        env_case("AISTOCK_DATABASE_URL a directory",
                 lambda w, d: {"AISTOCK_DATABASE_URL": f"sqlite:///{w.root / 'mine'}"}, "mine"),
        env_case("AISTOCK_PROVIDER_URI missing for qlib", lambda w, d: {
            "AISTOCK_DATA_SOURCE": "qlib", "AISTOCK_PROVIDER_URI": str(d / "nowhere")}, "nowhere", show),
        env_case("AISTOCK_RDAGENT_SOURCE a file", lambda w, d: {"AISTOCK_RDAGENT_SOURCE": str(w.root / "plain.txt")},
                 "plain.txt", lambda w, d: ["catalog", "sync"]),
    ]


def date_and_option_cases() -> list[Case]:
    def fixed(argv: Callable[[World, Path], list[str]], names: str, label: str) -> Case:
        return Case(label, lambda w, d: argv(w, d), lambda w, d: names)

    return [
        fixed(lambda w, d: _backtest(w, extra=("--start", "garbage")), "--start", "backtest --start garbage"),
        fixed(lambda w, d: _backtest(w, extra=("--end", "2025-02-30")), "--end", "backtest --end 2025-02-30"),
        fixed(lambda w, d: ["backtest", "--provider-uri", str(w.qlib), "--score", str(w.scores), "--out",
                            str(w.root / "bt"), "--topk", "3", "--n-drop", "9"], "--n-drop",
              "backtest --n-drop > --topk"),
        fixed(lambda w, d: ["backtest", "--provider-uri", str(w.qlib), "--score", str(w.scores), "--out",
                            str(w.root / "bt"), "--topk", "0", "--n-drop", "0"], "topk", "backtest --topk 0"),
        fixed(lambda w, d: _backtest(w, extra=("--benchmark", "NOTACODE")), "--benchmark", "backtest bad benchmark"),
        fixed(lambda w, d: ["calendar", "next", "garbage"], "garbage", "calendar next garbage"),
        fixed(lambda w, d: ["calendar", "sessions", "2025-01-02", "20250231"], "20250231",
              "calendar sessions bad end"),
        fixed(lambda w, d: ["data", "export-qlib", "-n", "2", "-d", "3", "--out", str(d / "q"), "--end", "soon"],
              "--end", "export-qlib --end soon"),
        fixed(lambda w, d: ["data", "show", "-i", "NOTACODE", "--provider-uri", str(w.qlib)], "NOTACODE",
              "data show unknown code"),
        fixed(lambda w, d: ["factors", "compute", "--provider-uri", str(w.qlib), "--factors", "Mean($close,",
                            "--out", str(d / "f.parquet")], "Mean", "factors compute bad expression"),
        fixed(lambda w, d: ["catalog", "list", "loops", "-w", "ann_ret>>0.1"], "ann_ret>>0.1",
              "catalog list filter ann_ret>>0.1"),
        fixed(lambda w, d: ["catalog", "list", "loops", "-w", "ann_ret>high"], "ann_ret>high",
              "catalog list filter non-number"),
        fixed(lambda w, d: ["catalog", "list", "loops", "-w", "no filter here"], "no filter here",
              "catalog list filter unparsable"),
        fixed(lambda w, d: ["catalog", "show", "loops", "nope/1"], "nope", "catalog show unknown loop"),
        fixed(lambda w, d: ["catalog", "mark", "planet", "x"], "planet", "catalog mark unknown kind"),
    ]


def output_cases() -> list[Case]:
    def fc(out: Callable[[World, Path], Path]) -> Callable[[World, Path], list[str]]:
        return lambda w, d: ["factors", "compute", "--provider-uri", str(w.qlib), "--factors", "KMID", "--out",
                             str(out(w, d))]

    def ex(out: Callable[[World, Path], Path]) -> Callable[[World, Path], list[str]]:
        return lambda w, d: ["data", "export-qlib", "-n", "2", "-d", "3", "--end", "2025-03-28", "--out",
                             str(out(w, d))]

    def dir_parquet(w: World, d: Path) -> Path:
        (d / "d.parquet").mkdir(parents=True)
        return d / "d.parquet"

    cases = [
        Case("backtest --out . (the working dir)", lambda w, d: _backtest(w, out=Path(".")),
             lambda w, d: "working directory"),
        Case("backtest --out a parent of the working dir", lambda w, d: _backtest(w, out=w.root),
             lambda w, d: "working directory", cwd=lambda w, d: w.root / "mine"),
        Case("backtest --out someone's folder", lambda w, d: _backtest(w, out=w.root / "mine"),
             lambda w, d: "mine"),
        Case("backtest --out a file", lambda w, d: _backtest(w, out=w.root / "plain.txt"), lambda w, d: "plain.txt"),
        Case("backtest --out under a file", lambda w, d: _backtest(w, out=w.root / "plain.txt" / "bt"),
             lambda w, d: "plain.txt"),
        Case("factors compute --out a directory", fc(dir_parquet), lambda w, d: "d.parquet"),
        Case("factors compute --out someone's .parquet", fc(lambda w, d: w.root / "notes.parquet"),
             lambda w, d: "notes.parquet"),
        Case("factors compute --out under a file", fc(lambda w, d: w.root / "plain.txt" / "f.parquet"),
             lambda w, d: "plain.txt"),
        Case("factors compute --out not .parquet", fc(lambda w, d: w.root / "f.csv"), lambda w, d: "f.csv"),
        Case("export-qlib --out someone's folder", ex(lambda w, d: w.root / "mine"), lambda w, d: "mine"),
        Case("export-qlib --out a file", ex(lambda w, d: w.root / "plain.txt"), lambda w, d: "plain.txt"),
        Case("export-qlib --out under a file", ex(lambda w, d: w.root / "plain.txt" / "q"),
             lambda w, d: "plain.txt"),
        Case("export-qlib --out .", ex(lambda w, d: Path(".")), lambda w, d: "working directory"),
        Case("export-qlib --out a Qlib dir aistock did not write", ex(lambda w, d: _foreign_qlib(w, d)),
             lambda w, d: "qlib"),
    ]
    return cases


def _foreign_qlib(world: World, case_dir: Path) -> Path:
    q = _qlib_copy(world, case_dir)
    (q / ".aistock-output").unlink()
    return q


def box_cases() -> list[Case]:
    """The execution half's commands (models, preview, trade, alerts): unknown ids and names, bad and
    non-session dates, negative amounts, malformed files, outputs that are not theirs."""
    def fixed(label: str, argv: Callable[[World, Path], list[str]], names: str, quick: bool = True) -> Case:
        return Case(label, lambda w, d: (d.mkdir(parents=True, exist_ok=True), argv(w, d))[1], lambda w, d: names,
                    quick=quick)

    def file(name: str, text: str) -> Callable[[Path], Path]:
        def make(d: Path) -> Path:
            (d / name).write_text(text)
            return d / name
        return make

    garbage_yaml = file("policy.yaml", "max_order_value: [unclosed\n")
    weights_csv = file("weights.csv", "instrument;weight\n600000.SH;x\n")
    negative_weights = file("weights.json", '{"600000.SH": -0.5}')
    plan = ["trade", "plan", "--instance", PAPER]
    return [
        fixed("models show unknown model", lambda w, d: ["models", "show", "nosuch"], "nosuch"),
        fixed("models promote unknown model", lambda w, d: ["models", "promote", "nosuch", "3"], "nosuch",
              quick=False),
        fixed("models predict unknown model", lambda w, d: ["models", "predict", "--model", "nosuch", "--date",
                                                            "2025-03-03", "--out", str(d / "p.parquet")], "nosuch",
              quick=False),
        fixed("models predict bad date", lambda w, d: ["models", "predict", "--model", "nosuch", "--date",
                                                       "2025-02-30", "--out", str(d / "p.parquet")], "--date",
              quick=False),
        fixed("models predict --out someone's .parquet", lambda w, d: [
            "models", "predict", "--model", "nosuch", "--date", "2025-03-03", "--out", str(w.root / "notes.parquet")],
            "notes.parquet"),
        fixed("models train config missing", lambda w, d: ["models", "train", "--config", str(d / "absent.yaml"),
                                                           "--out", str(d / "o")], "absent.yaml", quick=False),
        fixed("models train config garbage", lambda w, d: ["models", "train", "--config",
                                                           str(garbage_yaml(d)), "--out", str(d / "o")],
              "policy.yaml"),
        fixed("preview create negative capital", lambda w, d: ["preview", "create", "--name", "p2", "--capital",
                                                               "-5"], "capital"),
        fixed("preview create duplicate name", lambda w, d: ["preview", "create", "--name", PREVIEW], PREVIEW,
              quick=False),
        fixed("preview show unknown id", lambda w, d: ["preview", "show", "999"], "999"),
        fixed("preview stop unknown id", lambda w, d: ["preview", "stop", "999"], "999", quick=False),
        fixed("preview trade bad date", lambda w, d: ["preview", "trade", "--date", "2025-02-30"], "2025-02-30"),
        fixed("preview trade non-session day", lambda w, d: ["preview", "trade", "--date", "2025-01-04"],
              "2025-01-04", quick=False),
        fixed("preview trade bad decision time", lambda w, d: ["preview", "trade", "--date", "2025-03-03", "--at",
                                                               "25:99"], "25:99", quick=False),
        fixed("preview settle garbage date", lambda w, d: ["preview", "settle", "--date", "garbage"], "garbage",
              quick=False),
        fixed("preview settle non-session day", lambda w, d: ["preview", "settle", "--date", "2025-01-04"],
              "2025-01-04"),
        fixed("preview refresh bad --at", lambda w, d: ["preview", "refresh", "--at", "noon"], "--at"),
        fixed("preview report bad ids", lambda w, d: ["preview", "report", "--ids", "1,x", "--out",
                                                      str(d / "r.html")], "--ids", quick=False),
        fixed("preview report unknown id", lambda w, d: ["preview", "report", "--ids", "999", "--out",
                                                         str(d / "r.html")], "999", quick=False),
        fixed("trade instance negative capital", lambda w, d: ["trade", "instance", "create", "--name", "t2",
                                                               "--capital", "-1"], "capital"),
        fixed("trade instance policy garbage", lambda w, d: ["trade", "instance", "create", "--name", "t2",
                                                             "--capital", "1000", "--policy", str(garbage_yaml(d))],
              "policy.yaml"),
        fixed("trade instance duplicate name", lambda w, d: ["trade", "instance", "create", "--name", PAPER,
                                                             "--capital", "1000"], PAPER, quick=False),
        fixed("trade plan unknown instance", lambda w, d: ["trade", "plan", "--instance", "nosuch"], "nosuch",
              quick=False),
        fixed("trade plan bad date", lambda w, d: [*plan, "--date", "2025-02-30"], "2025-02-30", quick=False),
        fixed("trade plan non-session day", lambda w, d: [*plan, "--date", "2025-01-04"], "2025-01-04"),
        fixed("trade plan weights garbage", lambda w, d: [*plan, "--date", "2025-03-03", "--weights",
                                                          str(weights_csv(d))], "weights.csv"),
        fixed("trade plan negative weights", lambda w, d: [*plan, "--date", "2025-03-03", "--weights",
                                                           str(negative_weights(d))], "weights.json", quick=False),
        fixed("trade plan weights missing", lambda w, d: [*plan, "--date", "2025-03-03", "--weights",
                                                          str(d / "absent.csv")], "absent.csv", quick=False),
        fixed("trade halt unknown instance", lambda w, d: ["trade", "halt", "--instance", "nosuch", "--reason", "x"],
              "nosuch", quick=False),
        fixed("trade approve unknown instance", lambda w, d: ["trade", "approve", "--instance", "nosuch", "--by",
                                                              "me"], "nosuch"),
        fixed("alerts test bad severity", lambda w, d: ["alerts", "test", "--severity", "loud"], "loud", quick=False),
        fixed("alerts history negative limit", lambda w, d: ["alerts", "history", "--limit", "-1"], "--limit"),
        fixed("alerts check-daemon negative max age", lambda w, d: ["alerts", "check-daemon", "--max-age", "-5"],
              "--max-age", quick=False),
        Case("setting AISTOCK_ALERT_CHANNELS garbage file", lambda w, d: (
            d.mkdir(parents=True, exist_ok=True), file("channels.yaml", "- {kind: [unclosed\n")(d),
            ["alerts", "test"])[2], lambda w, d: "channels.yaml",
            env=lambda w, d: {"AISTOCK_ALERT_CHANNELS": str(d / "channels.yaml")}),
    ]


def loop_cases() -> list[Case]:
    """The closed loop's commands (``feedback build|request``, ``loop status|signals|proposals|approve|reject``):
    unknown and malformed instance and proposal ids, bad, reversed and closed-day periods, decisions on decided or
    unusable proposals, corrupt LiveFeedback files, missing options, non-numbers."""
    def fixed(label: str, argv: Callable[[World, Path], list[str]], names: str, quick: bool = True,
              env: Callable[[World, Path], dict[str, str]] = Case.env) -> Case:
        return Case(label, lambda w, d: (d.mkdir(parents=True, exist_ok=True), argv(w, d))[1], lambda w, d: names,
                    quick=quick, env=env)

    def build(*extra: str, instance: str = PREVIEW_ID) -> Callable[[World, Path], list[str]]:
        return lambda w, d: ["feedback", "build", "--instance", instance, *extra, "--out", str(d / "fb.json")]

    def week(*extra: str, instance: str = PREVIEW_ID) -> Callable[[World, Path], list[str]]:
        return build("--start", "2025-03-24", "--end", "2025-03-28", *extra, instance=instance)

    def request(source: Callable[[World, Path], Path], *extra: str,
                out: Callable[[World, Path], Path] = lambda w, d: d / "req.json") -> Callable[[World, Path], list[str]]:
        return lambda w, d: ["feedback", "request", "--from", str(source(w, d)), "--out", str(out(w, d)), *extra]

    def feedback_file(text: str | bytes | None = None, damage: Callable[[Path], None] | None = None,
                      **overrides: Any) -> Callable[[World, Path], Path]:
        def make(w: World, d: Path) -> Path:
            path = d / "livefeedback.json"
            doc = text if text is not None else json.dumps(livefeedback(PREVIEW_ID, **overrides))
            path.write_bytes(doc if isinstance(doc, bytes) else doc.encode())
            if damage:
                damage(path)
            return path
        return make

    def decide(action: str, proposal: str, *extra: str) -> Callable[[World, Path], list[str]]:
        return lambda w, d: ["loop", action, proposal, *extra]

    def signals(instance: str, date: str) -> Callable[[World, Path], list[str]]:
        return lambda w, d: ["loop", "signals", "--instance", instance, "--date", date]

    pending, decided = str(proposal_id("pending")), str(proposal_id("decided"))
    return [
        fixed("feedback build unknown instance id", week(instance="preview-999"), "preview-999"),
        fixed("feedback build unknown instance old spelling", week(instance="preview:999"), "preview:999",
              quick=False),
        fixed("feedback build unknown trading instance", week(instance="trade-nosuch"), "trade-nosuch", quick=False),
        fixed("feedback build malformed instance id", week(instance="preview-"), "preview-", quick=False),
        fixed("feedback build empty instance", week(instance=""), "instance"),
        fixed("feedback build garbage --start", build("--start", "garbage", "--end", "2025-03-28"), "garbage"),
        fixed("feedback build impossible --end", build("--start", "2025-03-24", "--end", "2025-02-30"),
              "2025-02-30", quick=False),
        fixed("feedback build reversed period", build("--start", "2025-03-28", "--end", "2025-03-24"), "empty period"),
        fixed("feedback build holiday period", build("--start", "2025-01-29", "--end", "2025-02-02"),
              "2025-01-29"),
        fixed("feedback build weekend day", build("--start", "2025-01-04", "--end", "2025-01-04", "--kind", "day"),
              "2025-01-04", quick=False),
        fixed("feedback build period before the calendar", build("--start", "1990-01-02", "--end", "1990-01-05"),
              "1990-01-02", quick=False),
        fixed("feedback build span not one --kind", week("--kind", "day"), "--kind", quick=False),
        fixed("feedback build unknown --kind", week("--kind", "fortnight"), "fortnight"),
        fixed("feedback build missing --start", lambda w, d: ["feedback", "build", "--instance", PREVIEW_ID,
                                                              "--end", "2025-03-28"], "--start"),
        fixed("feedback build missing --instance", lambda w, d: ["feedback", "build", "--start", "2025-03-24",
                                                                 "--end", "2025-03-28"], "--instance", quick=False),
        fixed("feedback build no settled day", week(), "no settled account day", quick=False),
        fixed("feedback request file missing", request(lambda w, d: d / "absent.json"), "absent.json"),
        fixed("feedback request file is a directory", request(lambda w, d: w.root / "mine"), "mine", quick=False),
        fixed("feedback request file truncated", request(feedback_file(damage=_truncate)), "livefeedback.json"),
        fixed("feedback request file garbage", request(feedback_file(damage=_garbage)), "livefeedback.json",
              quick=False),
        fixed("feedback request file not utf8", request(feedback_file(damage=_not_utf8)), "livefeedback.json",
              quick=False),
        fixed("feedback request file empty", request(feedback_file(damage=_empty)), "livefeedback.json",
              quick=False),
        fixed("feedback request file wrong JSON type", request(feedback_file(damage=_wrong_json_type)),
              "livefeedback.json"),
        fixed("feedback request file breaks the schema", request(feedback_file(env="backtest")), "schema v1"),
        fixed("feedback request file with NaN", request(feedback_file(
            json.dumps(livefeedback(PREVIEW_ID)).replace('"total_return": null', '"total_return": NaN'))),
            "NaN", quick=False),
        fixed("feedback request file names an unknown instance", request(feedback_file(
            strategy_instance_id="preview-999")), "preview-999"),
        fixed("feedback request file with an impossible end date", request(feedback_file(period={
            "start_date": "2025-02-24", "end_date": "2025-02-30", "sessions": 5, "kind": "week"})), "2025-02-30"),
        fixed("feedback request file with a malformed strategy", request(feedback_file(config={
            **livefeedback(PREVIEW_ID)["config"], "strategy": {"class": "TopkDropoutStrategy", "kwargs": "topk=3"}})),
            "kwargs"),
        fixed("feedback request unknown --objective", request(lambda w, d: w.feedback, "--objective", "luck"),
              "luck"),
        fixed("feedback request --out someone's file", request(lambda w, d: w.feedback,
                                                               out=lambda w, d: w.root / "plain.txt"), "plain.txt"),
        fixed("feedback request --out a directory", request(lambda w, d: w.feedback, out=lambda w, d: w.root / "mine"),
              "mine", quick=False),
        fixed("feedback request --out under a file", request(lambda w, d: w.feedback,
                                                             out=lambda w, d: w.root / "plain.txt" / "r.json"),
              "plain.txt", quick=False),
        fixed("feedback request missing --from", lambda w, d: ["feedback", "request", "--out", str(d / "r.json")],
              "--from", quick=False),
        fixed("loop signals unknown instance", signals("trade-nosuch", "2025-03-03"), "trade-nosuch"),
        fixed("loop signals unknown instance old spelling", signals("preview:999", "2025-03-03"), "preview:999",
              quick=False),
        fixed("loop signals garbage date", signals(PREVIEW_ID, "garbage"), "garbage"),
        fixed("loop signals impossible date", signals(PREVIEW_ID, "2025-02-30"), "2025-02-30", quick=False),
        fixed("loop signals holiday", signals(PREVIEW_ID, "2025-01-29"), "2025-01-29"),
        fixed("loop signals weekend", signals("preview:1", "2025-01-04"), "2025-01-04", quick=False),
        fixed("loop signals date before the calendar", signals(PREVIEW_ID, "1990-01-02"), "1990-01-02",
              quick=False),
        fixed("loop signals missing --date", lambda w, d: ["loop", "signals", "--instance", PREVIEW_ID], "--date",
              quick=False),
        fixed("loop status DB a garbage file", lambda w, d: (
            (d / "garbage.db").write_bytes(b"garbage, not SQLite" * 64), ["loop", "status"])[1], "garbage.db",
            env=lambda w, d: {"AISTOCK_DATABASE_URL": f"sqlite:///{d / 'garbage.db'}"}),
        fixed("loop proposals unknown --status", lambda w, d: ["loop", "proposals", "--status", "open"], "open"),
        fixed("loop approve unknown proposal", decide("approve", "999", "--by", "fuzz"), "999"),
        fixed("loop reject unknown proposal", decide("reject", "999", "--by", "fuzz"), "999", quick=False),
        fixed("loop approve non-numeric id", decide("approve", "first", "--by", "fuzz"), "first"),
        fixed("loop approve negative id", decide("approve", "-1", "--by", "fuzz"), "-1", quick=False),
        fixed("loop approve fractional id", decide("approve", "1.5", "--by", "fuzz"), "1.5", quick=False),
        fixed("loop approve id past any integer", decide("approve", "9" * 30, "--by", "fuzz"), "9" * 30),
        fixed("loop approve already decided", decide("approve", decided, "--by", "fuzz"), "already rejected"),
        fixed("loop reject already decided", decide("reject", decided, "--by", "fuzz"), "already rejected",
              quick=False),
        fixed("loop approve blank --by", decide("approve", pending, "--by", "  "), "--by"),
        fixed("loop approve missing --by", decide("approve", pending), "--by", quick=False),
        fixed("loop approve proposal of a vanished instance", decide("approve", str(proposal_id("vanished")),
                                                                     "--by", "fuzz"), "preview-99"),
        fixed("loop approve proposal that cannot be applied", decide("approve", str(proposal_id("unusable")),
                                                                     "--by", "fuzz"), "NoSuchStrategy"),
    ]


#: Left out of the `make test` subset: variants whose code path another quick case already takes.
NOT_QUICK = {
    "score file -inf score", "score file text score", "score file no score column", "score file unknown code",
    "score file bad date", "score file pickle suffix", "catalog dir: factor catalog not-utf8",
    "catalog dir: factor catalog empty", "catalog dir: factor catalog dangling-link", "catalog dir: registry truncated",
    "catalog dir: registry is a directory", "catalog dir: hostile path", "catalog http: catalog not UTF-8",
    "catalog http: catalog empty body", "catalog http: catalog 404", "catalog http: nan --deadline",
    "catalog http: zero --deadline", "setting AISTOCK_CALENDAR_START=2005-13-45",
    "setting AISTOCK_CALENDAR_START empty",
    "setting AISTOCK_SYNTHETIC_SEED not a number", "setting AISTOCK_DATA_SOURCE unknown",
    "backtest --end 2025-02-30", "backtest --topk 0", "backtest bad benchmark", "calendar sessions bad end",
    "catalog list filter non-number", "catalog list filter unparsable", "catalog show unknown loop",
    "catalog mark unknown kind", "backtest --out under a file", "factors compute --out not .parquet",
    "export-qlib --out a file",
}


def quick_cases() -> list[Case]:
    """The `make test` subset: every kind of input and damage, not every command × damage combination."""
    return [case for case in all_cases() if case.quick and not case.slow and case.name not in NOT_QUICK]


def all_cases() -> list[Case]:
    return [*score_cases(), *qlib_cases(), *catalog_dir_cases(), *catalog_http_cases(), *settings_cases(),
            *date_and_option_cases(), *output_cases(), *box_cases(), *loop_cases()]


@dataclass
class Verdict:
    case: str
    outcome: Outcome
    clear: bool  # exit 2, one error line naming the input
    unchanged: bool
    problem: str = ""

    @property
    def hang(self) -> bool:
        return self.outcome.exit_code is None

    @property
    def crash(self) -> bool:
        return bool(self.outcome.error) or "Traceback" in self.outcome.stderr


def first_bundle(world: World) -> str:
    return sorted(p.name for p in (world.export / "RDagentDB/production_bundles").iterdir())[0]


def run_case(world: World, case: Case, peer: Any = None, db_url: str | None = None, limit: float = 60.0) -> Verdict:
    """Set the case up, run it, and judge it (see the module docstring for the rules)."""
    case_dir = world.bad / _slug(case.name)
    argv = case.setup(world, case_dir)
    fault = getattr(case, "fault", None)
    if fault is not None:
        peer.fault(fault.path.format(first_bundle=first_bundle(world)), fault.kind, fault.value)
    env = {**world.env(db_url), **case.env(world, case_dir)}
    before = world_state(world, db_url, case_dir.name)
    try:
        outcome = run_cli(argv, env, case.cwd(world, case_dir), limit)
    finally:
        if fault is not None:
            peer.faults.clear()
    after = world_state(world, db_url, case_dir.name)
    lines = outcome.error_lines
    expected = case.names(world, case_dir)
    problems = []
    if outcome.exit_code != 2:
        problems.append(f"exit {outcome.exit_code}")
    if len(lines) != 1 or not lines[0].startswith("error ("):
        problems.append(f"{len(lines)} error lines")
    elif expected not in lines[0]:
        problems.append(f"the error does not name {expected!r}")
    unchanged = before == after
    if not unchanged:
        problems.append(f"state changed: {_diff(before, after)}")
    if outcome.error:
        problems.append("traceback")
    detail = "; ".join(problems)
    if problems:
        detail += f" | stderr: {outcome.stderr.strip()[-600:]} {outcome.error[-1500:]}"
    clear = outcome.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error (") and expected in lines[0]
    return Verdict(case.name, outcome, clear and not outcome.error, unchanged, detail)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)[:80]


def _diff(before: tuple[dict, dict], after: tuple[dict, dict]) -> str:
    files_b, rows_b = before
    files_a, rows_a = after
    changed = sorted(k for k in set(files_b) | set(files_a) if files_b.get(k) != files_a.get(k))
    tables = sorted(k for k in set(rows_b) | set(rows_a) if rows_b.get(k) != rows_a.get(k))
    return f"files {changed[:5]} tables {tables[:5]}"


# -- fault harness: kill a writing command, then run it again -----------------------------------------------
@dataclass(frozen=True)
class WritingCommand:
    """A command that writes; ``check`` reads what it left and returns a comparable summary of it."""

    name: str
    argv: Callable[[World, Path], list[str]]
    check: Callable[[World, Path, str | None], Any]


def _tree_digest(path: Path) -> dict[str, str]:
    return files_digest(path) if path.exists() else {}


def writing_commands() -> list[WritingCommand]:
    def sync_check(w: World, d: Path, db_url: str | None) -> Any:
        url = db_url or f"sqlite:///{d / 'home' / 'aistock.db'}"
        return {k: v for k, v in db_rows(url, SYNC_TIMESTAMPS).items() if k.startswith("research_")}

    return [
        WritingCommand("catalog sync (first run: migration + sync)",
                       lambda w, d: ["catalog", "sync", "--source", str(w.export)], sync_check),
        WritingCommand("data export-qlib", lambda w, d: ["data", "export-qlib", "-n", "6", "-d", "30", "--end",
                                                         "2025-03-28", "--out", str(d / "q")],
                       lambda w, d, u: _tree_digest(d / "q")),
        WritingCommand("backtest", lambda w, d: _backtest(w, out=d / "bt"),
                       lambda w, d, u: sorted(p.name for p in (d / "bt").iterdir())),
        WritingCommand("factors compute", lambda w, d: ["factors", "compute", "--provider-uri", str(w.qlib),
                                                        "--factors", "KMID,ROC5,MA5,STD20,CORR10,RSQR20",
                                                        "--out", str(d / "f.parquet")],
                       lambda w, d, u: pd.read_parquet(d / "f.parquet").shape),
    ]


def kill_and_rerun(world: World, command: WritingCommand, delay: float, work: Path,
                   new_db: Callable[[], str] | None = None) -> tuple[bool, str]:
    """Start ``command`` in ``work`` (its own AISTOCK_HOME, or a fresh database from ``new_db``), SIGKILL it after
    ``delay`` s, run it again; return (the rerun succeeded and left what an uninterrupted run leaves, detail).
    The reference (an uninterrupted run) is computed once per command and dialect."""
    reference = _reference(world, command, new_db)
    db_url = new_db() if new_db else None
    work.mkdir(parents=True)
    env = {"AISTOCK_HOME": str(work / "home"), **({"AISTOCK_DATABASE_URL": db_url} if db_url else {})}
    argv = command.argv(world, work)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        try:
            _child(argv, env, work, write_fd)
        finally:
            os._exit(0)
    os.close(write_fd)
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    os.close(read_fd)
    rerun = run_cli(argv, env, work)
    if rerun.exit_code != 0:
        return False, f"rerun exit {rerun.exit_code}: {rerun.stderr.strip()[-400:]} {rerun.error[-800:]}"
    got = command.check(world, work, db_url)
    if got != reference:
        return False, "the rerun left different data than an uninterrupted run"
    return True, ""


_REFERENCES: dict[tuple[str, str, bool], Any] = {}


def _reference(world: World, command: WritingCommand, new_db: Callable[[], str] | None) -> Any:
    key = (str(world.root), command.name, new_db is not None)
    if key not in _REFERENCES:
        db_url = new_db() if new_db else None
        work = world.root.parent / f"{world.root.name}_ref_{_slug(command.name)}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        env = {"AISTOCK_HOME": str(work / "home"), **({"AISTOCK_DATABASE_URL": db_url} if db_url else {})}
        outcome = run_cli(command.argv(world, work), env, work)
        if outcome.exit_code != 0:
            raise RuntimeError(f"reference run of {command.name} failed: {outcome.stderr} {outcome.error}")
        _REFERENCES[key] = command.check(world, work, db_url)
    return _REFERENCES[key]

