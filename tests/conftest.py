"""Shared fixtures and guards: a pinned clock, isolated AISTOCK_HOME, database URLs for SQLite and PostgreSQL, a
demo research export with an HTTP peer serving it, and the ``qlib`` marker for tests whose reference is pyqlib.

The clock: every test runs with ``AISTOCK_NOW`` pinned (``AISTOCK_TEST_NOW`` overrides the default), so no test
depends on the machine's date; ``tests/test_clock_independence.py`` re-runs the date-sensitive tests (marked
``clock``) with the machine's clock faked to other dates to prove it.

A missing service or extra skips its tests on a laptop but fails them under ``CI`` (``CI=true``): a CI run
that silently skipped every parity test would report green without having checked anything.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

# The fuzz and fault harnesses fork the test process to run commands; numba's default OpenMP layer (GNU libgomp)
# aborts a forked child once the parent has run a parallel kernel, so tests use numba's fork-safe workqueue layer
# (same kernels, same results). Set before anything imports numba.
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")
# Tests use partition keys from 2020 on; the default first partition (a year back) would not offer them. Set
# before anything imports `aistock_pipelines.partitions` (the partition set is built at import).
os.environ.setdefault("AISTOCK_PARTITIONS_START", "2020-01-02")

#: "Now" for every test unless it pins its own: a Monday session, well inside the package's XSHG horizon.
PINNED_NOW = os.environ.get("AISTOCK_TEST_NOW", "2026-11-16 10:00")
PG_URL = os.environ.get("AISTOCK_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


def _pg_available() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any driver/connection failure means "not here"
        return f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}"


_PG_SKIP = _pg_available()
_QLIB_MISSING = None if importlib.util.find_spec("qlib") else (
    "pyqlib 0.9.7 (the 'qlib' extra, the reference) is not installed: pip install -e '.[qlib]'")


def skip_or_fail(reason: str) -> None:
    """Skip the running test for ``reason``; under CI fail it instead (nothing may go unchecked there)."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """The guard behind ``@pytest.mark.qlib``: without pyqlib such a test skips, or fails under CI."""
    if _QLIB_MISSING and item.get_closest_marker("qlib"):
        skip_or_fail(_QLIB_MISSING)


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch) -> Iterator[None]:
    """Pin the one clock (`aistock_core.calendar.clock`) for this test and every process it starts."""
    from aistock_core.config import get_settings

    monkeypatch.setenv("AISTOCK_NOW", PINNED_NOW)
    for name in ("AISTOCK_CALENDAR_HOLIDAYS", "AISTOCK_CALENDAR_PROVISIONAL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def set_now(monkeypatch):
    """``set_now("2026-12-31")`` moves the pinned clock (in this process and the processes it starts)."""
    from aistock_core.config import get_settings

    def move(moment) -> None:
        monkeypatch.setenv("AISTOCK_NOW", str(moment))
        get_settings.cache_clear()

    return move


@pytest.fixture
def faketime():
    """``faketime(moment)``: a command prefix that runs a process with the machine clock at ``moment``
    (libfaketime, Debian ``faketime``).

    Needed where the clock is not ours: Dagster decides which time partitions exist from its own clock.
    Without the tool, the test skips (fails under ``CI=true``: `.ci/run` installs it).
    """
    tool = shutil.which("faketime")
    if tool is None:
        skip_or_fail("faketime not installed (apt-get install faketime)")
    return lambda moment: [tool, "-f", f"@{moment}"]


@pytest.fixture
def aistock_home(tmp_path, monkeypatch) -> Iterator:
    """A fresh AISTOCK_HOME per test; settings cache cleared so the env takes effect."""
    from aistock_core.config import get_settings

    home = tmp_path / "aistock_home"
    monkeypatch.setenv("AISTOCK_HOME", str(home))
    monkeypatch.delenv("AISTOCK_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL with a private schema (dropped afterwards), so parallel tests do not collide."""
    if _PG_SKIP:
        skip_or_fail(_PG_SKIP)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    """Run a database test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture(scope="session")
def os_sandbox() -> None:
    """Tests that run untrusted code need the OS sandbox: skipped here without it, a failure under CI=true."""
    from aistock_core.untrusted import _isolation_problem

    problem = _isolation_problem()
    if problem is not None:
        skip_or_fail(f"the OS sandbox is missing: {problem}")


@pytest.fixture(scope="session")
def demo_service():
    """A small synthetic market (60 stocks, 2024-01-02..2025-03-31) the demo research export is built from."""
    from aistock_core.data.service import DataService
    from aistock_core.data.synthetic import SyntheticMarket

    return DataService(SyntheticMarket(seed=11, n_instruments=60, start="2024-01-02", end="2025-03-31"))


@pytest.fixture(scope="session")
def demo_export_master(demo_service, tmp_path_factory) -> Path:
    """The demo export of `demo_service`, written once per session (read-only: use `export_dir` to modify)."""
    from aistock_core.demo.export import write_demo_export

    return write_demo_export(demo_service, tmp_path_factory.mktemp("export") / "demo_export", seed=11)


@pytest.fixture
def export_dir(demo_export_master, tmp_path) -> Path:
    """A private copy: tests may damage it (remove a catalog, add a loop)."""
    return Path(shutil.copytree(demo_export_master, tmp_path / "export"))


def load_test_module(name: str, relative: str):
    """tests/ has no packages (importlib mode): load a helper module (an HTTP peer, receivers) by path, once."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / relative)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def load_peer_module():
    """The RD-Agent results-API test peer (tests/aistock_core/research/peer.py)."""
    return load_test_module("aistock_research_test_peer", "aistock_core/research/peer.py")


@pytest.fixture
def receiver():
    """A loopback HTTP receiver that records what alert channels post (tests/aistock_core/alerts/receivers.py)."""
    with load_test_module("aistock_alert_test_receivers", "aistock_core/alerts/receivers.py").HttpReceiver() as server:
        yield server


@pytest.fixture
def peer(export_dir) -> Iterator:
    """The RD-Agent results API served over HTTP from `export_dir`."""
    with load_peer_module().Peer(export_dir) as server:
        yield server
