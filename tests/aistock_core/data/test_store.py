"""ParquetStore: day partitions, atomic and idempotent writes, range reads."""

from __future__ import annotations

import pandas as pd
import pytest

from aistock_core.data.store import ParquetStore, atomic_path, sha256_of
from aistock_core.errors import DataError


def _day_frame(bars: pd.DataFrame, day: str) -> pd.DataFrame:
    return bars.xs(pd.Timestamp(day), level="datetime", drop_level=False)


def test_write_read_and_layout(bars_frame, tmp_path):
    store = ParquetStore(tmp_path / "store")
    frame = _day_frame(bars_frame, "2023-01-04")
    path, digest, rows = store.write_partition("bars_daily", "2023-01-04", frame)
    assert path == tmp_path / "store" / "bars_daily" / "date=2023-01-04" / "part.parquet"
    assert rows == len(frame) == 3
    assert digest == sha256_of(path) and len(digest) == 64
    pd.testing.assert_frame_equal(store.read_partition("bars_daily", pd.Timestamp("2023-01-04")), frame)
    assert [p.name for p in path.parent.iterdir()] == ["part.parquet"]  # no temp file left


def test_rewrite_is_idempotent_and_changes_are_detected(bars_frame, tmp_path):
    store = ParquetStore(tmp_path)
    frame = _day_frame(bars_frame, "2023-01-04")
    _, first, _ = store.write_partition("bars", "2023-01-04", frame)
    _, again, _ = store.write_partition("bars", "2023-01-04", frame.copy())
    assert first == again
    changed = frame.copy()
    changed.iloc[0, 0] += 0.01
    _, other, _ = store.write_partition("bars", "2023-01-04", changed)
    assert other != first
    assert store.read_partition("bars", "2023-01-04").iloc[0, 0] == changed.iloc[0, 0]


def test_read_range_and_partitions(bars_frame, tmp_path):
    store = ParquetStore(tmp_path)
    days = bars_frame.index.get_level_values("datetime").unique()[:8]
    for day in days:
        store.write_partition("bars", day, _day_frame(bars_frame, day))
    assert store.partitions("bars") == list(days)
    assert store.partitions("absent") == []
    got = store.read_range("bars", days[2], days[5])
    want = bars_frame.loc[days[2]:days[5]]
    pd.testing.assert_frame_equal(got.sort_index(), want)
    assert len(store.read_range("bars")) == len(bars_frame.loc[days[0]:days[7]])


def test_bad_input(bars_frame, tmp_path):
    store = ParquetStore(tmp_path)
    frame = _day_frame(bars_frame, "2023-01-04")
    with pytest.raises(DataError, match="not a plain name"):
        store.write_partition("../escape", "2023-01-04", frame)
    with pytest.raises(DataError, match="not a date"):
        store.write_partition("bars", "yesterday-ish", frame)
    with pytest.raises(DataError, match="partition key"):
        store.write_partition("bars", "2023-01-04", frame.assign(date=1))
    with pytest.raises(DataError, match="cannot be stored"):
        store.write_partition("bars", "2023-01-04", frame.assign(obj=[object(), object(), object()]))
    assert store.partitions("bars") == []
    with pytest.raises(DataError, match="no partition bars/2023-01-05"):
        store.read_partition("bars", "2023-01-05")
    with pytest.raises(DataError, match="no partitions of 'bars'"):
        store.read_range("bars", "2023-01-01", "2023-02-01")


def test_atomic_path_renames_on_success_and_cleans_up_on_failure(tmp_path):
    target = tmp_path / "new" / "file.bin"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert list(target.parent.iterdir()) == []  # no target, no temporary file left behind
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"whole")
    assert target.read_bytes() == b"whole"
    assert list(target.parent.iterdir()) == [target]
