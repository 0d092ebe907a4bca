"""What every table asset shows in the Dagster UI: its column schema and row count (Dagster's own metadata keys,
so the asset page's "Columns" tab and the row-count plot work), and figures rounded for reading."""

import dagster as dg
import pandas as pd

#: Decimals of money figures (yuan, to the fen) and of weights/ratios shown in metadata.
MONEY_DECIMALS = 2
RATIO_DECIMALS = 4


def _column_type(dtype) -> str:
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return f"float{dtype.itemsize * 8}"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "date"
    return "string"


def table_schema(frame: pd.DataFrame) -> dg.TableSchema:
    """The frame's columns (index levels first, as stored) with their types."""
    flat = frame.reset_index() if any(name is not None for name in frame.index.names) else frame
    return dg.TableSchema(columns=[dg.TableColumn(str(name), _column_type(dtype))
                                   for name, dtype in flat.dtypes.items()])


def table_metadata(frame: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    """``dagster/column_schema`` and ``dagster/row_count`` of a stored frame."""
    return {"dagster/column_schema": dg.MetadataValue.table_schema(table_schema(frame)),
            "dagster/row_count": dg.MetadataValue.int(len(frame))}


def money(value: float) -> dg.MetadataValue:
    """A yuan amount to the fen (a float, so Dagster plots it over time)."""
    return dg.MetadataValue.float(round(float(value), MONEY_DECIMALS))


def ratio(value: float) -> dg.MetadataValue:
    """A weight, turnover or return to four decimals (a float, so Dagster plots it over time)."""
    return dg.MetadataValue.float(round(float(value), RATIO_DECIMALS))
