"""Validation rules for bars entering from outside, defined once as vectorised predicates.

The same predicates back the pandera schema used on long frames (CSV/Parquet/h5 imports) and the numpy check
on wide panels (Qlib bins, synthetic), so a rule cannot drift between the two. A violation names the
instrument, date and rule. NaN cells pass (a suspended day has no prices).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from aistock_core.data.panel import Panel
from aistock_core.errors import SchemaError

if TYPE_CHECKING:  # pandera costs a quarter second to import; only long-frame imports need it
    import pandera.pandas as pa

Arrays = Mapping[str, np.ndarray]
_RTOL = 1e-6  # float32 storage may round high/low by an ulp


def _le(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a ≤ b within float32 rounding; NaN on either side passes."""
    with np.errstate(invalid="ignore"):
        return ~(a > b + np.abs(b) * _RTOL)


def _nonneg(a: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return ~(a < 0)


def _positive(a: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return ~(a <= 0)


#: rule text → (fields it needs, predicate over those arrays giving True where the rule holds)
RULES: dict[str, tuple[tuple[str, ...], Callable[..., np.ndarray]]] = {
    "low <= high": (("low", "high"), _le),
    "open <= high": (("open", "high"), _le),
    "close <= high": (("close", "high"), _le),
    "low <= open": (("low", "open"), _le),
    "low <= close": (("low", "close"), _le),
    "open > 0": (("open",), _positive),
    "close > 0": (("close",), _positive),
    "high > 0": (("high",), _positive),
    "low > 0": (("low",), _positive),
    "volume >= 0": (("volume",), _nonneg),
    "amount >= 0": (("amount",), _nonneg),
    "factor > 0": (("factor",), _positive),
}


def _describe(
    rule: str, needs: tuple[str, ...], bad_rows: np.ndarray, dates, instruments, getter, source: str
) -> str:
    first = bad_rows[0]
    shown = ", ".join(f"{n}={getter(n, first)!r}" for n in needs)
    more = f" (and {len(bad_rows) - 1} more rows)" if len(bad_rows) > 1 else ""
    return (
        f"bars from {source} violate rule '{rule}' at instrument {instruments(first)} on "
        f"{pd.Timestamp(dates(first)):%Y-%m-%d} ({shown}){more}; fix the source data"
    )


def check_panel(panel: Panel, source: str) -> None:
    """Raise `SchemaError` on the first rule a panel violates (listed cells only)."""
    for rule, (needs, predicate) in RULES.items():
        if not all(n in panel.values for n in needs):
            continue
        ok = predicate(*(panel.values[n] for n in needs)) | ~panel.listed
        if not ok.all():
            raise SchemaError(_describe_panel(panel, rule, needs, ok, source))


def _describe_panel(panel: Panel, rule: str, needs: tuple[str, ...], ok: np.ndarray, source: str) -> str:
    t, i = np.nonzero(~ok)
    return _describe(
        rule, needs, np.arange(len(t)),
        dates=lambda k: panel.dates[t[k]],
        instruments=lambda k: panel.instruments[i[k]],
        getter=lambda n, k: float(panel.values[n][t[k], i[k]]),
        source=source,
    )


def check_frame(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Validate a long bars frame with the pandera schema; raise `SchemaError` naming instrument, date, rule."""
    dup = frame.index.duplicated()
    if dup.any():
        first = frame.index[dup][0]
        raise SchemaError(
            f"bars from {source} violate rule 'unique (datetime, instrument)' at instrument {first[1]} on "
            f"{pd.Timestamp(first[0]):%Y-%m-%d} ({int(dup.sum())} duplicate rows); drop the duplicates"
        )
    import pandera.pandas as pa

    try:
        return bars_schema(frame.columns).validate(frame, lazy=False)
    except pa.errors.SchemaError as exc:
        rule = getattr(exc.check, "name", None) or "schema"
        if rule in RULES:
            needs = RULES[rule][0]
            bad = frame.index[~_frame_rule(frame, rule)]
            rows = np.arange(len(bad))
            raise SchemaError(
                _describe(
                    rule, needs, rows,
                    dates=lambda k: bad[k][0],
                    instruments=lambda k: bad[k][1],
                    getter=lambda n, k: float(frame.at[bad[k], n]),
                    source=source,
                )
            ) from None
        if rule != "schema":
            raise SchemaError(f"bars from {source} violate rule '{rule}'; fix the source data") from None
        raise SchemaError(f"bars from {source} fail validation: {exc}") from None


def _frame_rule(frame: pd.DataFrame, rule: str) -> np.ndarray:
    needs, predicate = RULES[rule]
    return predicate(*(frame[n].to_numpy(dtype=float) for n in needs))


def bars_schema(columns) -> pa.DataFrameSchema:
    """The pandera schema for a long bars frame with the given columns."""
    import pandera.pandas as pa

    present = set(columns)
    checks = [
        pa.Check(lambda df, r=rule: pd.Series(_frame_rule(df, r), index=df.index), name=rule, error=rule)
        for rule, (needs, _) in RULES.items()
        if set(needs) <= present
    ]
    return pa.DataFrameSchema(
        columns={c: pa.Column(float, nullable=True, coerce=True) for c in present if c not in ("suspended", "st")},
        index=pa.MultiIndex(
            [pa.Index("datetime64[ns]", name="datetime"), pa.Index(str, name="instrument")],
            unique=["datetime", "instrument"],
            strict=True,
        ),
        checks=[
            *checks,
            pa.Check(lambda df: bool(df.index.is_monotonic_increasing), name="index sorted",
                     error="index sorted by (datetime, instrument)"),
        ],
        strict=False,
    )
