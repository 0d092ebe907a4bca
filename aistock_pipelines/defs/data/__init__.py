"""Market data assets: daily bars and index bars into the Parquet store."""

import dagster as dg

defs = dg.Definitions()
