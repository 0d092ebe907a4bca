"""Qlib binary directories: round trip, corrupt bins, markets, and pyqlib itself reading what we wrote."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from aistock_core.calendar import xshg_calendar
from aistock_core.codes import to_internal_many
from aistock_core.data import qlib_bin
from aistock_core.data.qlib_bin import QLIB_EXPORT_FIELDS, QlibBinProvider, read_bin, write_qlib_dir
from aistock_core.data.service import DataService
from aistock_core.errors import DataError

# Runs pyqlib in its own process: qlib.init is global state and must not leak into other tests.
QLIB_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import qlib
    from qlib.data import D
    job = json.loads(sys.argv[1])
    qlib.init(provider_uri=job["uri"], region="cn", expression_cache=None, dataset_cache=None, kernels=1)
    for k, req in enumerate(job["requests"]):
        universe = req["universe"]
        universe = D.instruments(universe) if isinstance(universe, str) else universe
        df = D.features(universe, req["fields"], start_time=req["start"], end_time=req["end"], freq="day")
        df.to_pickle(f"{job['out']}/{k}.pkl")
    """
)


def qlib_features(tmp_path, uri, requests: list[tuple]) -> list[pd.DataFrame]:
    """What pyqlib's D.features returns for each (universe, fields, start, end), in our (datetime, instrument)
    form with internal codes and bare field names. One subprocess runs all requests (qlib starts slowly)."""
    out = tmp_path / "qlib_out"
    out.mkdir(exist_ok=True)
    reqs = [{"universe": u if isinstance(u, str) else [f"{c[7:]}{c[:6]}" for c in u],
             "fields": [f"${f}" for f in fields], "start": start, "end": end} for u, fields, start, end in requests]
    job = {"uri": str(uri), "requests": reqs, "out": str(out)}
    proc = subprocess.run([sys.executable, "-c", QLIB_SCRIPT, json.dumps(job)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    frames = []
    for k in range(len(requests)):
        df = pd.read_pickle(out / f"{k}.pkl").swaplevel()
        codes = df.index.get_level_values("instrument")
        df.index = pd.MultiIndex.from_arrays(
            [df.index.get_level_values("datetime"), to_internal_many(codes)],
            names=["datetime", "instrument"],
        )
        frames.append(df.rename(columns=lambda c: c.lstrip("$")).sort_index())
    return frames


def assert_same_rows_and_values(ours: pd.DataFrame, theirs: pd.DataFrame, rtol: float = 0.0) -> None:
    pd.testing.assert_index_equal(ours.index, theirs.index)
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=False, check_index_type=False, rtol=rtol)


def write_bin(path, start: float, values) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.hstack([[start], values]).astype("<f4").tofile(path)


@pytest.fixture
def hand_dir(tmp_path):
    """A Qlib dir whose spans and bin coverage disagree on purpose (gaps between spans, bins wider than spans,
    a field starting later than another, all-NaN stretches, a code with no bins), to pin Qlib's row set."""
    root = tmp_path / "hand"
    days = xshg_calendar().sessions_in_range("2024-01-02")[:20]
    (root / "calendars").mkdir(parents=True)
    (root / "calendars" / "day.txt").write_text("\n".join(days.strftime("%Y-%m-%d")) + "\n")
    (root / "instruments").mkdir()
    d = days.strftime("%Y-%m-%d")
    (root / "instruments" / "all.txt").write_text(
        f"SH600000\t{d[2]}\t{d[6]}\nSH600000\t{d[10]}\t{d[18]}\n"  # two spans with a gap
        f"SZ000001\t{d[0]}\t{d[19]}\n"
        f"SZ000002\t{d[5]}\t{d[15]}\n"  # span narrower than the bins
        f"SZ000004\t{d[0]}\t{d[19]}\n"  # no bins at all
    )
    # Membership reaching outside the listing spans: Qlib then follows the market's own spans only.
    (root / "instruments" / "csi300.txt").write_text(f"SH600000\t{d[3]}\t{d[12]}\nSZ000001\t{d[8]}\t{d[19]}\n")
    f = root / "features"
    write_bin(f / "sh600000" / "close.day.bin", 0, np.arange(20) + 10.0)
    write_bin(f / "sh600000" / "open.day.bin", 4, np.arange(16) + 10.5)
    write_bin(f / "sz000001" / "close.day.bin", 3, [np.nan] * 4 + list(np.arange(8) + 5.0))  # ends on day 14
    write_bin(f / "sz000001" / "open.day.bin", 3, [np.nan] * 12)
    write_bin(f / "sz000002" / "close.day.bin", 0, np.arange(20) + 7.0)
    return root


def test_listed_rows_follow_spans_and_bin_coverage(hand_dir):
    provider = QlibBinProvider(hand_dir)
    days = provider.calendar.sessions
    panel = DataService(provider).get_panel("all", fields=["close", "open"])
    listed = pd.DataFrame(panel.listed, index=days, columns=panel.instruments)
    expected_600000 = np.zeros(20, bool)
    expected_600000[2:7] = True
    expected_600000[10:19] = True
    np.testing.assert_array_equal(listed["600000.SH"], expected_600000)
    np.testing.assert_array_equal(np.nonzero(listed["000001.SZ"].to_numpy())[0], np.arange(3, 15))  # NaN rows kept
    np.testing.assert_array_equal(np.nonzero(listed["000002.SZ"].to_numpy())[0], np.arange(5, 16))
    assert not listed["000004.SZ"].any()
    assert np.isnan(panel.wide("open")["600000.SH"].iloc[2])  # open's bin starts on day 4, close's on day 0
    assert panel.wide("close")["600000.SH"].iloc[2] == 12.0
    assert provider.fields() == ("close", "open")
    assert provider.markets() == ["all", "csi300"]
    assert provider.instruments("csi300") == ["000001.SZ", "600000.SH"]
    # A list of codes applies no spans, like D.features(["SZ000002"]): every row a bin covers.
    by_code = provider.load(["000002.SZ"], days, ["close"])
    assert by_code.listed.all()


def test_dates_in_any_order_read_the_same_cells(hand_dir):
    """`load` slices an ascending window and gathers any other: both give each date its own cells."""
    provider = QlibBinProvider(hand_dir)
    days = provider.calendar.sessions
    codes = ["600000.SH", "000001.SZ", "000002.SZ", "000004.SZ"]
    whole = provider.load(codes, days, ["close", "open"])
    for picked in ([15, 3, 9, 0, 19], [1, 2, 5, 11, 18]):  # shuffled; ascending with gaps
        part = provider.load(codes, days[picked], ["close", "open"])
        np.testing.assert_array_equal(part.listed, whole.listed[picked])
        for name in ("close", "open"):
            np.testing.assert_array_equal(part.values[name], whole.values[name][picked])


@pytest.mark.parametrize("mapped", [False, True], ids=["read-whole", "memory-mapped"])
def test_a_window_reads_the_bins_cells(hand_dir, monkeypatch, mapped):
    """A window inside the history, read whole or (large bins) memory-mapped: each cell is the bin's value
    for that session, counted from the bin's start index."""
    if mapped:
        monkeypatch.setattr(qlib_bin, "_READ_WHOLE_BYTES", 0)
    provider = QlibBinProvider(hand_dir)
    days = provider.calendar.sessions
    for window in (range(4, 13), range(0, 20), range(13, 20)):
        panel = provider.load(["600000.SH", "000001.SZ", "000002.SZ"], days[list(window)], ["close", "open"])
        rows = np.array(window)
        np.testing.assert_array_equal(panel.values["close"][:, 0], rows + 10.0)  # start 0
        np.testing.assert_array_equal(panel.values["open"][:, 0], np.where(rows >= 4, rows - 4 + 10.5, np.nan))
        expected = np.where((rows >= 7) & (rows < 15), rows - 7 + 5.0, np.nan)  # start 3, four NaN first
        np.testing.assert_array_equal(panel.values["close"][:, 1], expected)
        np.testing.assert_array_equal(panel.listed[:, 1], (rows >= 3) & (rows < 15))
        np.testing.assert_array_equal(panel.values["close"][:, 2], rows + 7.0)


@pytest.mark.qlib
def test_row_set_matches_pyqlib(hand_dir, tmp_path):
    """Markets (spans, several per code, market spans beyond the listing ones), code lists (no spans),
    windows, fields with different coverage: the same rows and values as D.features."""
    cases = [
        ("all", ["close", "open"], None, None),
        ("all", ["open"], "2024-01-08", "2024-01-24"),
        ("csi300", ["close", "open"], None, "2024-01-25"),
        (["600000.SH", "000002.SZ", "000004.SZ"], ["close"], "2024-01-04", None),
    ]
    service = DataService(QlibBinProvider(hand_dir))
    for (universe, fields, start, end), theirs in zip(cases, qlib_features(tmp_path, hand_dir, cases), strict=True):
        ours = service.get_history_window(universe, start=start, end=end, fields=fields, adjust="qlib")
        assert_same_rows_and_values(ours, theirs)


def test_round_trip_identical(frame_service, tmp_path):
    out = write_qlib_dir(frame_service, tmp_path / "qd", markets=("all",))
    fields = [f for f in QLIB_EXPORT_FIELDS if f in frame_service.provider.fields()]
    want = frame_service.get_panel("all", fields=fields, adjust="qlib", dtype=np.float32)
    back = DataService(QlibBinProvider(out)).get_panel("all", fields=fields, adjust="qlib")
    assert set(QlibBinProvider(out).fields()) == set(fields)
    pd.testing.assert_index_equal(back.dates, want.dates)
    pd.testing.assert_index_equal(back.instruments, want.instruments)
    np.testing.assert_array_equal(back.listed, want.listed)
    for f in fields:
        np.testing.assert_array_equal(np.where(want.listed, want[f], np.nan), np.where(back.listed, back[f], np.nan),
                                      err_msg=f)
        assert back[f].dtype == np.float32


def test_raw_view_from_qlib_dir_undoes_factor(frame_service, tmp_path):
    out = write_qlib_dir(frame_service, tmp_path / "qd", markets=("all",))
    raw = frame_service.get_history_window("all", fields=["close", "volume"], adjust=None)
    back = DataService(QlibBinProvider(out)).get_history_window("all", fields=["close", "volume"], adjust=None)
    pd.testing.assert_frame_equal(back, raw, check_dtype=False, rtol=1e-6)


def test_export_window_and_replacement(frame_service, tmp_path):
    target = tmp_path / "qd"
    write_qlib_dir(frame_service, target, markets=("all",))
    (target / "stale.txt").write_text("from the previous export")
    write_qlib_dir(frame_service, target, start="2023-02-01", end="2023-03-01", markets=("all",), fields=["close"])
    provider = QlibBinProvider(target)
    assert not (target / "stale.txt").exists()
    assert provider.fields() == ("close",)
    assert provider.calendar.first == pd.Timestamp("2023-02-01")
    assert provider.calendar.last == pd.Timestamp("2023-03-01")
    assert provider.instrument_spans()["end"].max() == pd.Timestamp("2023-03-01")
    assert [p.name for p in tmp_path.iterdir()] == ["qd"]  # no temp or old folders left behind


def test_failed_export_leaves_existing_dir(frame_service, tmp_path):
    target = tmp_path / "qd"
    write_qlib_dir(frame_service, target, markets=("all",))
    before = sorted(p.relative_to(target) for p in target.rglob("*"))
    with pytest.raises(DataError, match="csi300"):
        write_qlib_dir(frame_service, target)  # the frame provider has no csi300 market
    with pytest.raises(DataError, match="nosuch"):
        write_qlib_dir(frame_service, target, markets=("all",), fields=["close", "nosuch"])
    assert sorted(p.relative_to(target) for p in target.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir()] == ["qd"]


@pytest.mark.parametrize(("content", "problem"), [
    (b"", "empty"),
    (np.array([0, 1, 2], "<f4").tobytes()[:-1], "not a multiple of 4"),
    (np.array([3], "<f4").tobytes(), "no values"),
    (np.array([-1, 1, 2], "<f4").tobytes(), "negative"),
    (np.array([1.5, 1, 2], "<f4").tobytes(), "not an integer"),
    (np.array([np.nan, 1, 2], "<f4").tobytes(), "not an integer"),
    (np.array([20, 1], "<f4").tobytes(), "past the calendar"),
    (np.array([18, 1, 2, 3], "<f4").tobytes(), "run past the calendar"),
])
def test_corrupt_bins_name_file_and_problem(hand_dir, content, problem):
    path = hand_dir / "features" / "sh600000" / "close.day.bin"
    path.write_bytes(content)
    with pytest.raises(DataError, match=problem) as err:
        read_bin(path, 20)
    assert str(path) in str(err.value)
    with pytest.raises(DataError, match=problem):
        DataService(QlibBinProvider(hand_dir)).get_history_window(["600000.SH"], fields=["close"])


def test_markets_and_missing_files(hand_dir, tmp_path):
    provider = QlibBinProvider(hand_dir)
    with pytest.raises(DataError, match=r"unknown market 'csi500'.*known: all, csi300"):
        provider.instrument_spans("csi500")
    (hand_dir / "instruments" / "all.txt").unlink()
    with pytest.raises(DataError, match=r"all\.txt does not exist"):
        QlibBinProvider(hand_dir).instruments("all")
    with pytest.raises(DataError, match="not a Qlib data directory"):
        QlibBinProvider(tmp_path / "nowhere")
    (hand_dir / "instruments" / "csi300.txt").write_text("XX123\t2024-01-02\t2024-01-05\n")
    with pytest.raises(DataError, match="cannot parse Qlib instruments file"):
        QlibBinProvider(hand_dir).instruments("csi300")


@pytest.mark.qlib
def test_pyqlib_reads_what_we_wrote(frame_service, tmp_path):
    out = write_qlib_dir(frame_service, tmp_path / "qd", markets=("all",))
    fields = ["open", "close", "volume", "factor"]
    [theirs] = qlib_features(tmp_path, out, [("all", fields, None, None)])
    ours = frame_service.get_history_window("all", fields=fields, adjust="qlib")
    assert_same_rows_and_values(ours, theirs, rtol=1e-6)


@pytest.mark.qlib
def test_pyqlib_reads_a_synthetic_export(tmp_path):
    """The synthetic market (IPOs, delistings, suspensions, ex-rights, csi300 membership, indexes) exported and
    read by pyqlib: the same rows and values as our own view of the market."""
    from aistock_core.data.synthetic import SyntheticMarket

    service = DataService(SyntheticMarket(seed=5, n_instruments=40, start="2022-01-04", end="2022-12-30"))
    out = write_qlib_dir(service, tmp_path / "qd", start="2022-03-01")
    assert {p.stem for p in (out / "instruments").glob("*.txt")} >= {"all", "csi300"}
    fields = ["open", "close", "volume", "factor", "change"]
    cases = [("all", fields, "2022-03-01", None), ("csi300", fields, "2022-06-01", "2022-11-30"),
             (["000300.SH", "000001.SH"], ["close"], "2022-03-01", None)]
    for (universe, names, start, end), theirs in zip(cases, qlib_features(tmp_path, out, cases), strict=True):
        ours = service.get_history_window(universe, start=start, end=end, fields=names, adjust="qlib")
        assert len(ours) > 0
        assert_same_rows_and_values(ours, theirs, rtol=1e-6)
