"""``aistock data ...`` through the real typer app: export the synthetic market, read it back, snapshot, errors."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from aistock_core.calendar import xshg_calendar
from aistock_core.data.qlib_bin import QlibBinProvider
from aistock_core.data.service import DataService
from aistock_pipelines.cli.main import app

runner = CliRunner()
END = "2024-10-10"
DAYS = 40
N = 12


@pytest.fixture(autouse=True)
def fixed_today(set_now):
    """Commands run on 2024-10-11: far from the calendar horizon (no warning on stderr), after END."""
    set_now("2024-10-11")


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def _rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("│").split("│")] for line in text.splitlines() if line.startswith("│")]


def _summary(text: str) -> dict[str, str]:
    lines = [line.strip() for line in text.splitlines()[1:] if line.strip()]
    return dict(re.split(r"\s{2,}", line, maxsplit=1) for line in lines)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, str]:
    """One export shared by the read-back tests (directory, the command's stdout)."""
    out = tmp_path_factory.mktemp("qlib") / "syn"
    result = invoke("data", "export-qlib", "--instruments", N, "--days", DAYS, "--seed", 5, "--out", out,
                    "--end", END)
    assert result.exit_code == 0, result.output
    return out, result.stdout


@pytest.fixture
def first_code(exported) -> str:
    """Internal code of the first stock in the export's ``all`` market."""
    return QlibBinProvider(exported[0]).instruments("all")[0]


def test_export_writes_the_last_sessions_as_a_qlib_directory(exported):
    out, stdout = exported
    sessions = xshg_calendar().sessions_in_range(None, END)[-DAYS:]
    day_txt = (out / "calendars" / "day.txt").read_text().split()
    assert day_txt == [f"{d:%Y-%m-%d}" for d in sessions]
    assert {p.name for p in (out / "instruments").iterdir()} >= {"all.txt", "csi300.txt"}

    written = QlibBinProvider(out)
    stocks = written.instruments("all")
    csi300 = written.instruments("csi300")
    assert 0 < len(stocks) <= N
    assert set(csi300) <= set(stocks)
    for code in stocks:
        folder = out / "features" / f"{code[7:].lower()}{code[:6]}"
        assert {"open.day.bin", "close.day.bin", "volume.day.bin", "factor.day.bin"} <= {p.name for p in
                                                                                         folder.iterdir()}
    summary = _summary(stdout)
    assert summary["directory"] == str(out.resolve())
    assert summary["sessions"] == str(DAYS)
    assert (summary["from"], summary["to"]) == (f"{sessions[0]:%Y-%m-%d}", END)
    assert summary["market all"] == f"{len(stocks)} instruments"
    assert summary["market csi300"] == f"{len(csi300)} instruments"
    assert summary["files"] == f"{sum(1 for p in out.rglob('*') if p.is_file()):,}"


def test_same_seed_same_bytes_different_seed_different_data(exported, tmp_path):
    out, _ = exported
    again = tmp_path / "again"
    other = tmp_path / "other"
    assert invoke("data", "export-qlib", "-n", N, "-d", DAYS, "--seed", 5, "--out", again, "--end", END).exit_code == 0
    assert invoke("data", "export-qlib", "-n", N, "-d", DAYS, "--seed", 6, "--out", other, "--end", END).exit_code == 0
    files = sorted(p.relative_to(out) for p in out.rglob("*.bin"))
    assert files == sorted(p.relative_to(again) for p in again.rglob("*.bin"))
    assert all((out / f).read_bytes() == (again / f).read_bytes() for f in files)
    common = set(QlibBinProvider(out).instruments("all")) & set(QlibBinProvider(other).instruments("all"))
    assert common
    for code in common:
        close = Path("features") / f"{code[7:].lower()}{code[:6]}" / "close.day.bin"
        assert (out / close).read_bytes() != (other / close).read_bytes()


def test_reexport_replaces_its_own_dir_but_refuses_a_foreign_one(tmp_path):
    target = tmp_path / "q"
    assert invoke("data", "export-qlib", "-n", 3, "-d", 5, "--out", target, "--end", END).exit_code == 0
    assert invoke("data", "export-qlib", "-n", 3, "-d", 7, "--out", target, "--end", END).exit_code == 0
    assert len((target / "calendars" / "day.txt").read_text().split()) == 7

    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    result = invoke("data", "export-qlib", "-n", 3, "-d", 5, "--out", foreign, "--end", END)
    assert result.exit_code == 2
    assert "was not written by aistock" in result.stderr and "--force" in result.stderr
    assert (foreign / "notes.txt").read_text() == "keep me"
    qlib_copy = tmp_path / "someone_elses_qlib"  # a Qlib dir aistock did not write is not replaced either
    shutil.copytree(target, qlib_copy)
    (qlib_copy / ".aistock-output").unlink()
    assert invoke("data", "export-qlib", "-n", 3, "-d", 5, "--out", qlib_copy, "--end", END).exit_code == 2
    assert len((qlib_copy / "calendars" / "day.txt").read_text().split()) == 7
    assert invoke("data", "export-qlib", "-n", 3, "-d", 5, "--out", foreign, "--end", END, "--force").exit_code == 0
    assert not (foreign / "notes.txt").exists()


def test_export_end_on_a_holiday_uses_the_session_before(tmp_path):
    result = invoke("data", "export-qlib", "-n", 2, "-d", 3, "--out", tmp_path / "h", "--end", "2024-10-05")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "h" / "calendars" / "day.txt").read_text().split() == ["2024-09-26", "2024-09-27",
                                                                             "2024-09-30"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--end", "2031-01-02"), "past the horizon of calendar 'XSHG'"),
        (("--end", "someday"), "cannot read --end 'someday' as a date"),
        (("--days", "100000"), "no session 99999 before"),
    ],
)
def test_export_errors(tmp_path, args, message):
    result = invoke("data", "export-qlib", "-n", 2, "--out", tmp_path / "x", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (tmp_path / "x").exists()


def test_show_prints_the_bars_of_any_spelling(exported, first_code):
    out, _ = exported
    spelling = f"{first_code[7:].lower()}{first_code[:6]}"  # sz000001 style
    result = invoke("data", "show", "--provider-uri", out, "--instrument", spelling, "--start", "2024-09-25",
                    "--end", END)
    assert result.exit_code == 0, result.output
    assert f"{first_code} daily bars (qlib) from qlib:{out}" in result.stdout
    expected = DataService(QlibBinProvider(out)).get_history_window([first_code], start="2024-09-25", end=END)
    rows = _rows(result.stdout)
    assert [r[0] for r in rows] == [f"{d:%Y-%m-%d}" for d in expected.index.get_level_values("datetime")]
    header = next(line for line in result.stdout.splitlines() if line.startswith("┃"))
    columns = [h.strip() for h in header.strip("┃").split("┃")]
    assert columns == ["datetime", *expected.columns]
    close = np.array([float(r[columns.index("close")].replace(",", "")) for r in rows])
    np.testing.assert_allclose(close, expected["close"].to_numpy(), rtol=1e-4)


def test_show_adjust_views_differ_by_the_factor(exported, first_code):
    out, _ = exported

    def closes(view: str) -> tuple[np.ndarray, np.ndarray]:
        result = invoke("data", "show", "--provider-uri", out, "-i", first_code, "--adjust", view,
                        "--fields", "close,factor")
        assert result.exit_code == 0, result.output
        rows = _rows(result.stdout)
        return (np.array([float(r[1].replace(",", "")) if r[1] != "—" else np.nan for r in rows]),
                np.array([float(r[2]) if r[2] != "—" else np.nan for r in rows]))

    qlib_close, factor = closes("qlib")
    raw_close, _ = closes("none")
    qfq_close, _ = closes("qfq")
    np.testing.assert_allclose(raw_close * factor, qlib_close, rtol=2e-3)
    last = np.flatnonzero(~np.isnan(raw_close))[-1]
    assert qfq_close[last] == pytest.approx(raw_close[last], rel=1e-4)  # qfq: the window's last day is raw


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-i", "600000.SH"), "unknown instrument(s) 600000.SH in qlib:"),
        (("-i", "60000X"), "unrecognised instrument code '60000X'"),
        (("-i", "{code}", "--start", "2030-01-02"), "--start 2030-01-02 is outside the data: qlib:"),
        (("-i", "{code}", "--end", "2020-01-02"), "--end 2020-01-02 is outside the data"),
        (("-i", "{code}", "--start", "2024-10-10", "--end", "2024-10-08"), "--start 2024-10-10 is after --end"),
        (("-i", "{code}", "--fields", "close,colour"), "field(s) ['colour'] not available"),
    ],
)
def test_show_errors_are_one_line_and_exit_2(exported, first_code, args, message):
    out, _ = exported
    result = invoke("data", "show", "--provider-uri", out, *[a.format(code=first_code) for a in args])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert message in result.stderr


def test_show_missing_and_corrupt_directories(exported, first_code, tmp_path):
    missing = invoke("data", "show", "--provider-uri", tmp_path / "nope", "-i", first_code)
    assert missing.exit_code == 2
    assert "is not a Qlib data directory" in missing.stderr

    broken = tmp_path / "broken"
    shutil.copytree(exported[0], broken)
    folder = f"{first_code[7:].lower()}{first_code[:6]}"
    (broken / "features" / folder / "close.day.bin").write_bytes(b"\x00" * 6)
    corrupt = invoke("data", "show", "--provider-uri", broken, "-i", first_code)
    assert corrupt.exit_code == 2
    assert "close.day.bin is corrupt: 6 bytes is not a multiple of 4" in corrupt.stderr


@pytest.fixture
def synthetic_env(aistock_home, monkeypatch):
    monkeypatch.setenv("AISTOCK_DATA_SOURCE", "synthetic")
    monkeypatch.setenv("AISTOCK_SYNTHETIC_INSTRUMENTS", "8")
    monkeypatch.setenv("AISTOCK_SYNTHETIC_START", "2024-09-02")
    monkeypatch.setenv("AISTOCK_SYNTHETIC_END", END)


def test_snapshot_after_the_close_is_the_days_raw_bar(synthetic_env):
    from aistock_core.config import get_settings
    from aistock_core.data.factory import build_service

    service = build_service(get_settings())
    code = service.instruments("all", at=END)[0]
    bars = service.get_history_window([code], start="2024-10-09", end=END, adjust=None)
    result = invoke("data", "snapshot", "--at", f"{END} 15:30", code.lower())
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if line.startswith("┃"))
    columns = [h.strip() for h in header.strip("┃").split("┃")]
    (row,) = _rows(result.stdout)
    cell = dict(zip(columns, row, strict=True))
    assert cell["instrument"] == code
    close, prev = bars["close"].to_numpy()[-1], bars["close"].to_numpy()[0]
    assert float(cell["close"].replace(",", "")) == pytest.approx(close, abs=0.006)
    assert float(cell["prev_close"].replace(",", "")) == pytest.approx(prev, abs=0.006)
    assert cell["pct"] == f"{close / prev - 1:+.2%}"


def test_snapshot_errors(synthetic_env):
    unknown = invoke("data", "snapshot", "--at", f"{END} 10:00", "600000.SH")
    assert unknown.exit_code == 2
    assert "unknown instrument(s) 600000.SH" in unknown.stderr
    bad_time = invoke("data", "snapshot", "--at", "teatime", "000001.SZ")
    assert bad_time.exit_code == 2
    assert "cannot read --at 'teatime' as a time" in bad_time.stderr


def test_export_is_a_window_of_the_configured_synthetic_market(exported, tmp_path):
    """Different --days give the same bars where they overlap: both are windows of one simulated market."""
    from aistock_core.data.synthetic import SyntheticMarket

    out, _ = exported
    short = tmp_path / "short"
    assert invoke("data", "export-qlib", "-n", N, "-d", 10, "--seed", 5, "--out", short, "--end", END).exit_code == 0
    long_bars = DataService(QlibBinProvider(out)).get_history_window("all", start="2024-09-26", end=END)
    short_bars = DataService(QlibBinProvider(short)).get_history_window("all", start="2024-09-26", end=END)
    assert long_bars.index.equals(short_bars.index)
    np.testing.assert_array_equal(long_bars.to_numpy(), short_bars.to_numpy())

    market = DataService(SyntheticMarket(seed=5, n_instruments=N, start="2020-01-02", end=END))
    direct = market.get_history_window("all", start="2024-09-26", end=END, fields=list(short_bars.columns))
    assert direct.index.equals(short_bars.index)
    np.testing.assert_allclose(direct.to_numpy(np.float64), short_bars.to_numpy(np.float64), rtol=1e-6)


def test_show_without_provider_uri_reads_the_configured_source(synthetic_env):
    from aistock_core.config import get_settings
    from aistock_core.data.factory import build_service

    service = build_service(get_settings())
    code = service.instruments("all", at=END)[-1]
    bars = service.get_history_window([code], start="2024-10-08", end=END, adjust=None)
    result = invoke("data", "show", "-i", code, "--start", "2024-10-08", "--adjust", "none", "--fields", "close")
    assert result.exit_code == 0, result.output
    assert f"from {service.provider.name}" in result.stdout
    rows = _rows(result.stdout)
    assert [r[0] for r in rows] == ["2024-10-08", "2024-10-09", "2024-10-10"]
    np.testing.assert_allclose([float(r[1].replace(",", "")) for r in rows], bars["close"].to_numpy(), atol=0.005)


@pytest.mark.clock
def test_export_default_end_is_the_session_before_today(tmp_path, set_now):
    set_now("2024-10-08")  # first day after the holiday
    assert invoke("data", "export-qlib", "-n", 2, "-d", 2, "--out", tmp_path / "a").exit_code == 0
    assert (tmp_path / "a" / "calendars" / "day.txt").read_text().split() == ["2024-09-27", "2024-09-30"]

    last = xshg_calendar().last
    set_now(f"{last + pd.Timedelta(days=40):%Y-%m-%d}")  # past the horizon
    result = invoke("data", "export-qlib", "-n", 2, "-d", 1, "--out", tmp_path / "b")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "b" / "calendars" / "day.txt").read_text().split() == [f"{last:%Y-%m-%d}"]
    assert "warning: trading calendar 'XSHG' ends on" in result.stderr
