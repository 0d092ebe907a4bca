"""Factor frames to Parquet: NaN kept as a float value, the frame read back by pandas as it was written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from aistock_core.factors.parquet import write_factor_parquet


def _frame() -> pd.DataFrame:
    days = pd.to_datetime(["2024-01-02", "2024-01-02", "2024-01-03"])
    index = pd.MultiIndex.from_arrays([days, ["000001.SZ", "600000.SH", "000001.SZ"]],
                                      names=["datetime", "instrument"])
    data = np.array([[1.5, np.nan, -np.inf], [np.nan, 2.25, 3.0]], dtype=np.float32).T
    return pd.DataFrame(data, index=index, columns=["KMID", "ROC5"])


def test_round_trip_through_pandas(tmp_path):
    frame = _frame()
    write_factor_parquet(frame, tmp_path / "f.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "f.parquet"), frame)


def test_nan_is_stored_as_a_value_and_codes_as_a_dictionary(tmp_path):
    write_factor_parquet(_frame(), tmp_path / "f.parquet")
    table = pq.read_table(tmp_path / "f.parquet")
    assert table.column("KMID").null_count == 0 and table.column("ROC5").null_count == 0
    assert np.isnan(table.column("KMID").to_numpy()[1]) and table.column("KMID").type == "float"
    row_group = pq.ParquetFile(tmp_path / "f.parquet").metadata.row_group(0)
    encodings = {row_group.column(c).path_in_schema: row_group.column(c).encodings for c in range(4)}
    assert any("DICTIONARY" in e for e in encodings["instrument"])
    assert not any("DICTIONARY" in e for e in encodings["KMID"])


def test_an_empty_frame_round_trips(tmp_path):
    empty = _frame().iloc[:0]
    write_factor_parquet(empty, tmp_path / "f.parquet")
    back = pd.read_parquet(tmp_path / "f.parquet")
    assert list(back.columns) == ["KMID", "ROC5"] and len(back) == 0 and back.index.names == ["datetime", "instrument"]
