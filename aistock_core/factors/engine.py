"""Evaluate Qlib expressions over a whole panel at once, with Qlib 0.9.7's exact semantics.

`compute` works on a `Panel` (the "qlib" adjustment view, float32 like Qlib's bins); `compute_frame` loads the
panel from a `DataService` with enough look-back that the first requested day equals a full-history compute.
Shared sub-expressions are evaluated once per call: the AST is hashable by value, so one memo keyed by node
serves all expressions, and a reference count frees each intermediate as soon as its last consumer is done
(Alpha158 on 500 × 1500 would otherwise hold gigabytes of float64 temporaries).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from aistock_core.data.panel import Panel, spans_mask
from aistock_core.errors import AistockError, FactorError
from aistock_core.factors.ops import Value
from aistock_core.factors.ordinal import rolling_quantiles
from aistock_core.factors.parser import Call, Const, Expr, Feature, parse
from aistock_core.factors.rolling import Series2D


def parse_all(expressions: Mapping[str, str | Expr]) -> dict[str, Expr]:
    """Parse every expression first (nothing is computed if one is wrong); errors name the factor."""
    if not expressions:
        raise FactorError("no factor expressions given")
    parsed: dict[str, Expr] = {}
    for name, text in expressions.items():
        if isinstance(text, Expr):
            parsed[name] = text
            continue
        try:
            parsed[name] = parse(text)
        except FactorError as exc:
            raise FactorError(f"factor {name!r}: {exc}") from None
    for name, expr in parsed.items():
        if isinstance(expr, Const):
            raise FactorError(f"factor {name!r} is the constant {expr}; an expression must read a $field")
    return parsed


def fields_of(exprs: Iterable[Expr]) -> list[str]:
    """Fields the expressions read, in first-use order."""
    seen: dict[str, None] = {}

    def walk(node: Expr) -> None:
        if isinstance(node, Feature):
            seen.setdefault(node.name)
        elif isinstance(node, Call):
            for arg in node.args:
                walk(arg)

    for expr in exprs:
        walk(expr)
    return list(seen)


def lookback_of(exprs: Iterable[Expr]) -> tuple[int, int]:
    """(sessions of history, sessions of future) the expressions need."""
    extents = [e.extent() for e in exprs]
    return max((left for left, _ in extents), default=0), max((right for _, right in extents), default=0)


class FactorEngine:
    """Evaluates a set of expressions on panels; parse once, compute on many panels."""

    def __init__(self, expressions: Mapping[str, str | Expr]) -> None:
        self.expressions = parse_all(expressions)
        self.fields = fields_of(self.expressions.values())
        self.lookback, self.future = lookback_of(self.expressions.values())

    #: instruments evaluated together: blocks of ~128 series keep each (N, T) temporary cache-sized, which
    #: cuts CPU time by about a third against one 500-wide block; results do not depend on it (every
    #: instrument is computed on its own series, as in Qlib).
    block = 128

    def compute(self, panel: Panel) -> dict[str, np.ndarray]:
        """float32 (T × N) arrays aligned to ``panel.dates × panel.instruments``; NaN outside listed cells."""
        missing = [f for f in self.fields if f not in panel.values]
        if missing:
            raise FactorError(
                f"panel lacks field(s) {missing} that the expressions read; load them (qlib view) first"
            )
        t, n = panel.listed.shape
        out = {name: np.full((t, n), np.nan, dtype=np.float32) for name in self.expressions}
        if t == 0 or n == 0:  # nothing to compute (and pandas' kernels reject empty input)
            return out
        for lo in range(0, n, self.block):
            cols = slice(lo, min(lo + self.block, n))
            for name, values in self._compute_block(panel, cols).items():
                out[name][:, cols] = values
        return out

    def _compute_block(self, panel: Panel, cols: slice) -> dict[str, np.ndarray]:
        t = panel.listed.shape[0]
        listed = panel.listed[:, cols].T  # (N, T): one series per row, as Qlib computes
        ever = listed.any(axis=1)
        first = np.where(ever, listed.argmax(axis=1), t).astype(np.int64)
        last = np.where(ever, t - listed[:, ::-1].argmax(axis=1), t).astype(np.int64)
        geo = Series2D(n=listed.shape[0], t=t, first=first, last=last)
        inputs = {
            f: np.where(listed, np.asarray(panel.values[f][:, cols], dtype=np.float32).T, np.float32(np.nan))
            for f in self.fields
        }
        return _Evaluation(geo, inputs).run(self.expressions, listed.T)


class _Evaluation:
    """One compute call: memoised, reference-counted post-order evaluation of the shared expression DAG.

    Window kernels get their series inputs masked to the instrument's own rows (`Series2D.within`) and,
    except shifts (which keep the dtype, as pandas' ``shift`` does), as float64 with ±inf turned into NaN —
    exactly what pandas' ``_prep_values`` hands its window functions (Qlib's own Cython regression and
    ``Count``, which counts before that step, see the infinities). The forms are cached beside the node's
    value and freed with it, so ``$close`` is converted once for the dozens of windows that read it.
    """

    def __init__(self, geo: Series2D, inputs: dict[str, np.ndarray]) -> None:
        self.geo = geo
        self.inputs = inputs
        self.memo: dict[Expr, Value] = {}
        self.masked: dict[tuple[Expr, bool], np.ndarray] = {}
        self.uses: Counter[Expr] = Counter()
        self.quantile_groups: dict[tuple[Expr, int], list[Call]] = {}

    def _count(self, node: Expr, seen: set[Expr]) -> None:
        self.uses[node] += 1
        if node in seen:
            return
        seen.add(node)
        if isinstance(node, Call):
            if node.op == "Quantile" and node.args[1].value > 0 and 0 < node.args[2].value < 1:
                self.quantile_groups.setdefault((node.args[0], node.args[1].value), []).append(node)
            for child in _children(node):
                self._count(child, seen)

    def run(self, exprs: Mapping[str, Expr], listed: np.ndarray) -> dict[str, np.ndarray]:
        seen: set[Expr] = set()
        for expr in exprs.values():
            self._count(expr, seen)
        out: dict[str, np.ndarray] = {}
        for name, expr in exprs.items():
            try:
                value = self._take(expr)
            except AistockError:
                raise
            except (TypeError, ValueError) as exc:
                raise FactorError(f"factor {name!r} ({expr}) cannot be evaluated: {exc}") from None
            arr = np.broadcast_to(np.asarray(value), (self.geo.n, self.geo.t)).T.astype(np.float32)
            arr[~listed] = np.nan
            out[name] = arr
        return out

    def _take(self, node: Expr, form: str = "raw") -> Value:
        """Value of ``node`` in ``form`` ("raw"; "series" = masked; "float64" = masked float64; "float" = that
        with ±inf as NaN); drops it once every consumer has taken it."""
        if node in self.memo:
            value = self.memo[node]
        else:
            value = self._eval(node)
            self.memo[node] = value
        if form != "raw":
            key = (node, form)
            if key not in self.masked:
                self.masked[key] = self._mask(node, value, form)
            value = self.masked[key]
        self.uses[node] -= 1
        if self.uses[node] <= 0:
            del self.memo[node]
            for f in _FORMS:
                self.masked.pop((node, f), None)
        return value

    def _mask(self, node: Expr, value: Value, form: str) -> np.ndarray:
        if form == "float":
            arr = self._take_form(node, value, "float64")
            inf = np.isinf(arr)
            return np.where(inf, np.nan, arr) if inf.any() else arr
        arr = np.broadcast_to(np.asarray(value), (self.geo.n, self.geo.t))
        if not isinstance(node, Feature):  # inputs are already NaN outside the listing
            arr = self.geo.within(arr)
        return np.ascontiguousarray(arr, dtype=np.float64) if form == "float64" else arr

    def _take_form(self, node: Expr, value: Value, form: str) -> np.ndarray:
        key = (node, form)
        if key not in self.masked:
            self.masked[key] = self._mask(node, value, form)
        return self.masked[key]

    def _eval(self, node: Expr) -> Value:
        if isinstance(node, Const):
            return node.value
        if isinstance(node, Feature):
            return self.inputs[node.name]
        assert isinstance(node, Call)
        spec = node.spec
        group = self.quantile_groups.get((node.args[0], node.args[1].value)) if node.op == "Quantile" else None
        if group is not None and len(group) > 1:
            return self._eval_quantiles(node, group)
        window_form = "float64" if spec.keep_inf else "float"
        form = {"elem": "raw", "ref": "series", "delta": "series"}.get(spec.shape, window_form)
        args = [a.value if _is_param(node, i) else self._take(a, form) for i, a in enumerate(node.args)]
        deps = [self._take(d, "raw") for d in spec.deps(node.args)] if spec.deps else []
        return spec.fn(self.geo, *args, *deps)

    def _eval_quantiles(self, node: Call, group: list[Call]) -> Value:
        """All quantile levels of one (input, window) from one sort (QTLU and QTLD share their windows)."""
        pending = [q for q in group if q == node or q not in self.memo]
        x = self._take(node.args[0], "float")
        for other in pending:
            if other != node:
                self._take(other.args[0], "float")  # each sibling consumes its input once, as if alone
        values = rolling_quantiles(self.geo, x, node.args[1].value, [q.args[2].value for q in pending])
        del self.quantile_groups[(node.args[0], node.args[1].value)]
        for other, value in zip(pending, values, strict=True):
            if other != node:
                self.memo[other] = value
        return values[pending.index(node)]


_FORMS = ("series", "float64", "float")


def _children(node: Call) -> list[Expr]:
    """Evaluated inputs of a call: its expression arguments and the helper nodes its operator shares."""
    args = [a for i, a in enumerate(node.args) if not _is_param(node, i)]
    return [*args, *node.spec.deps(node.args)] if node.spec.deps else args


def _is_param(node: Call, index: int) -> bool:
    """Window sizes and quantile levels are passed as plain numbers, not evaluated."""
    return node.spec.params[index] in ("n", "ref", "span", "q")


def compute(panel: Panel, expressions: Mapping[str, str | Expr]) -> dict[str, np.ndarray]:
    """Evaluate ``expressions`` (name → Qlib expression) on ``panel``: float32 (T × N) arrays per name."""
    return FactorEngine(expressions).compute(panel)


def compute_frame(
    service,
    universe,
    expressions: Mapping[str, str | Expr],
    *,
    start=None,
    end=None,
    lookback: int | None = None,
) -> pd.DataFrame:
    """Factors as a long frame: index (datetime, instrument), one float32 column per name in order.

    Loads ``lookback`` sessions before ``start`` (default: the expressions' look-back, as Qlib extends its
    query) and the sessions after ``end`` that future references need, so values at ``start`` equal a
    full-history compute. EMA and expanding windows have unbounded memory: like Qlib, they see only the
    loaded window. Rows are the listed cells in [start, end]; for a market name (``"csi300"``), only the
    cells inside the market's membership spans — what Qlib's ``D.features(D.instruments(market))`` returns
    (each series is still computed over the instrument's whole data, as Qlib does).
    """
    engine = FactorEngine(expressions)
    back = engine.lookback if lookback is None else int(lookback)
    if back < 0:
        raise FactorError(f"lookback must be ≥ 0, got {lookback}")
    wanted = service.resolve_dates(start=start, end=end)
    every = service.resolve_dates()
    lo = max(int(every.get_loc(wanted[0])) - back, 0)
    hi = min(int(every.get_loc(wanted[-1])) + engine.future, len(every) - 1)
    market = universe if isinstance(universe, str) and universe in service.provider.markets() else None
    # Series run over each instrument's whole data even when a market's membership is shorter: load by code
    # (the listing), then keep the membership rows — the order of Qlib's inst_calculator.
    panel = service.get_panel(
        service.resolve_universe(universe) if market else universe, start=every[lo], end=every[hi],
        fields=engine.fields, adjust="qlib", dtype=np.float32,
    )
    values = engine.compute(panel)
    rows = panel.dates.get_indexer(wanted)
    rows = rows[rows >= 0]
    keep = panel.listed
    if market is not None:
        keep = keep & spans_mask(service.provider.instrument_spans(market), panel.dates, panel.instruments)
    return _long_frame(panel, values, rows, keep[rows], list(engine.expressions))


def _long_frame(panel: Panel, values: Mapping[str, np.ndarray], rows: np.ndarray, keep: np.ndarray,
                names: Sequence[str]) -> pd.DataFrame:
    t_idx, i_idx = np.nonzero(keep)
    index = pd.MultiIndex.from_arrays(
        [panel.dates[rows][t_idx], panel.instruments[i_idx]], names=["datetime", "instrument"]
    )
    data = {name: values[name][rows][t_idx, i_idx] for name in names}
    return pd.DataFrame(data, index=index, columns=list(names))
