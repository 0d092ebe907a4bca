"""Table metadata and rounding shown in the Dagster UI."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd

from aistock_pipelines.presentation import money, ratio, table_metadata


def test_the_column_schema_lists_index_levels_then_columns_with_their_types():
    index = pd.MultiIndex.from_tuples([(pd.Timestamp("2026-11-16"), "600000.SH")], names=["datetime", "instrument"])
    frame = pd.DataFrame({"close": np.float32(10.5), "volume": np.int64(100), "st": False}, index=index)
    meta = table_metadata(frame)
    columns = [(c.name, c.type) for c in meta["dagster/column_schema"].value.columns]
    assert columns == [("datetime", "date"), ("instrument", "string"), ("close", "float32"), ("volume", "int"),
                       ("st", "bool")]
    assert meta["dagster/row_count"] == dg.MetadataValue.int(1)


def test_money_to_the_fen_and_ratios_to_four_decimals():
    assert money(112374421.26710567).value == 112374421.27
    assert ratio(0.123456).value == 0.1235
