"""Sandboxed execution of RD-Agent factor code: the three rdagent.md §7 styles, and every way code can misbehave."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest

from aistock_core.data.service import DataService
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.errors import FactorError, SandboxError
from aistock_core.factors.sandbox import RUNNER, SandboxLimits, load_code_dir, run_factor_code, run_factor_codes

START, END = "2023-01-03", "2023-04-28"
FAST = SandboxLimits(wall_seconds=20, cpu_seconds=10, memory_mb=1536)
pytestmark = pytest.mark.usefixtures("os_sandbox")

SCRIPT = textwrap.dedent('''
    import pandas as pd
    df = pd.read_hdf("daily_pv.h5", key="data")
    mom = df["close"].groupby(level="instrument").pct_change(5)
    mom.to_frame("mom_5D").astype("float32").to_hdf("result.h5", key="data")
''')
FUNCTION = textwrap.dedent('''
    import pandas as pd

    def calculate_mom_5D():
        df = pd.read_hdf("daily_pv.h5", key="data")
        mom = df["close"].groupby(level="instrument").pct_change(5)
        mom.to_frame("mom_5D").astype("float32").to_hdf("result.h5", key="data")

    if __name__ == "__main__":
        calculate_mom_5D()
''')
CLASS = textwrap.dedent('''
    import pandas as pd

    class mom_5D:
        def fit_transform(self, df: pd.DataFrame) -> pd.Series:
            return df["close"].groupby(level="instrument").pct_change(5)

    def factor_mom_5D(df: pd.DataFrame) -> pd.Series:
        return mom_5D().fit_transform(df)
''')


@pytest.fixture(scope="module")
def service() -> DataService:
    return DataService(SyntheticMarket(seed=3, n_instruments=6, start="2022-06-01", end="2023-06-30"))


@pytest.fixture(scope="module")
def universe(service) -> list[str]:
    return service.instruments("all", at=END)[:5]


@pytest.fixture(scope="module")
def expected(service, universe) -> pd.Series:
    """The same formula computed here on the same qfq float32 bars the sandbox sees."""
    bars = service.get_history_window(universe, start=START, end=END, adjust="qfq").astype(np.float32).sort_index()
    return bars["close"].groupby(level="instrument").pct_change(5).astype(np.float32)


def _run(source: str, service, universe, **kw):
    return run_factor_code(source, service, universe, start=START, end=END, limits=kw.pop("limits", FAST), **kw)


@pytest.mark.parametrize(("source", "style"), [(SCRIPT, "script"), (FUNCTION, "function"), (CLASS, "class")])
def test_three_styles_give_the_same_float32_column(source, style, service, universe, expected):
    result = _run(source, service, universe, name="mom_5D")
    assert result.audit.style == style
    assert result.name == "mom_5D" and result.values.dtype == np.float32
    assert result.values.index.equals(expected.index)
    np.testing.assert_array_equal(result.values.to_numpy(), expected.to_numpy())


def test_name_is_taken_from_the_entry_point_when_not_given(service, universe):
    assert _run(FUNCTION, service, universe).name == "mom_5D"


def test_rejected_code_never_runs(service, universe, tmp_path):
    marker = tmp_path / "ran"
    source = f"import os\nopen({str(marker)!r}, 'w')\n"
    with pytest.raises(FactorError, match=r"banned-import.*\n.*file-write"):
        _run(source, service, universe)
    assert not marker.exists()


def test_wall_clock_timeout_kills_a_sleeper(service, universe):
    with pytest.raises(FactorError, match=r"timed out after 2s"):
        _run("import time\ntime.sleep(60)\n", service, universe, limits=SandboxLimits(wall_seconds=2))


def test_cpu_limit_kills_a_busy_loop(service, universe):
    with pytest.raises(FactorError, match=r"CPU limit of 2s exceeded"):
        _run("while True:\n    pass\n", service, universe, limits=SandboxLimits(wall_seconds=30, cpu_seconds=2))


def test_memory_eater_is_stopped(service, universe):
    source = "import numpy as np\nblocks = [np.ones(10**8) for _ in range(100)]\n"
    with pytest.raises(FactorError, match=r"memory"):
        _run(source, service, universe, limits=SandboxLimits(memory_mb=1024))


def test_crash_is_reported(service, universe):
    with pytest.raises(FactorError, match=r"segmentation fault"):
        _run("import faulthandler\nfaulthandler._sigsegv()\n", service, universe)


def test_runtime_write_outside_the_dir_is_blocked(service, universe, tmp_path):
    """Code the static audit cannot see through: the host path is not even in the sandbox's view."""
    target = tmp_path / "evil.csv"
    source = textwrap.dedent(f'''
        import operator
        import pandas as pd
        df = pd.read_hdf("daily_pv.h5", key="data")
        operator.methodcaller("to_" + "csv", {str(target)!r})(df)
    ''')
    with pytest.raises(FactorError, match=r"(?s)non-existent directory.*evil\.csv"):
        _run(source, service, universe)
    assert not target.exists()


def test_runtime_hdf5_write_outside_the_dir_is_blocked(service, universe, tmp_path):
    target = tmp_path / "evil.h5"
    source = f"import pandas as pd\nstore = pd.HDFStore({str(target)!r}, mode='w')\n"
    with pytest.raises(FactorError, match=r"blocked"):
        _run(source, service, universe)
    assert not target.exists()


def test_runtime_process_creation_is_blocked_even_when_caught(service, universe, tmp_path):
    marker = tmp_path / "pwned"
    source = textwrap.dedent(f'''
        import operator
        import pandas as pd
        mod = operator.attrgetter("o" + "s")(pd.io.common)
        try:
            mod.system("touch {marker}")
        except PermissionError:
            pass
        pd.read_hdf("daily_pv.h5", key="data")[["close"]].to_hdf("result.h5", key="data")
    ''')
    with pytest.raises(FactorError, match=r"blocked.*os.system"):
        _run(source, service, universe, name="close")
    assert not marker.exists()


def test_runtime_network_access_is_blocked(service, universe):
    """pandas fetches URLs itself; the hook refuses the request before any socket opens."""
    source = 'import pandas as pd\ndf = pd.read_csv("http://127.0.0.1:9/steal.csv")\n'
    with pytest.raises(FactorError, match=r"blocked.*(urllib.Request|socket)"):
        _run(source, service, universe)


def test_environment_is_scrubbed(service, universe, monkeypatch):
    monkeypatch.setenv("AISTOCK_DATABASE_URL", "postgresql://user:secret@db/x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter2")
    source = textwrap.dedent('''
        import pandas as pd
        with open("/proc/self/environ", "rb") as fh:
            print(fh.read().replace(b"\\0", b"\\n").decode())
        pd.read_hdf("daily_pv.h5", key="data")[["close"]].to_hdf("result.h5", key="data")
    ''')
    result = _run(source, service, universe, name="close")
    assert "secret" not in result.stderr_tail and "hunter2" not in result.stderr_tail
    assert "PATH=/usr/bin:/bin" in result.stderr_tail and "HOME=/" in result.stderr_tail
    assert "AISTOCK_" not in result.stderr_tail


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ('df[["close", "open"]].to_hdf("result.h5", key="data")', "2 columns"),
        ('df[["close"]].rename(columns={"close": "other"}).to_hdf("result.h5", key="data")', "named 'other'"),
        ('df[["close"]].reset_index(drop=True).to_hdf("result.h5", key="data")', "MultiIndex"),
        ('x = df[["close"]]\nx.index = x.index.set_levels(x.index.levels[0] + pd.Timedelta(days=400), level=0)\n'
         'x.to_hdf("result.h5", key="data")', "not in the input index"),
        ("y = 1", "no output"),
        ('raise RuntimeError("factor bug")', "RuntimeError: factor bug"),
    ],
)
def test_bad_output_is_a_factor_error(body, match, service, universe):
    source = f'import pandas as pd\ndf = pd.read_hdf("daily_pv.h5", key="data")\n{body}\n'
    with pytest.raises(FactorError, match=match):
        _run(source, service, universe, name="close")


def test_subset_output_is_accepted(service, universe, expected):
    source = SCRIPT.replace('mom.to_frame', 'mom.dropna().to_frame')
    result = _run(source, service, universe, name="mom_5D")
    assert len(result.values) == expected.notna().sum()
    assert result.values.index.isin(expected.index).all()


def test_batch_collects_failures_without_stopping(service, universe, tmp_path, expected):
    (tmp_path / "mom_5D.py").write_text(FUNCTION)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "factor.py").write_text("import subprocess\n")
    sources = load_code_dir(tmp_path)
    assert sorted(sources) == ["broken", "mom_5D"]
    frame, failures = run_factor_codes(sources, service, universe, start=START, end=END, limits=FAST)
    assert list(frame.columns) == ["mom_5D"] and frame["mom_5D"].dtype == np.float32
    np.testing.assert_array_equal(frame["mom_5D"].to_numpy(), expected.to_numpy())
    assert "banned-import" in failures["broken"]
    with pytest.raises(FactorError, match="no code for factor"):
        load_code_dir(tmp_path, names=["missing"])


def test_limits_are_validated():
    with pytest.raises(SandboxError, match="invalid sandbox limits"):
        SandboxLimits(memory_mb=10)


def test_runner_is_a_standalone_file():
    """The child runs with ``python -I``: it must not import this project (its trust base is pandas + stdlib)."""
    text = RUNNER.read_text()
    assert "aistock_core" not in text.split('"""', 2)[2]
