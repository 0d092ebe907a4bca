"""Operators of Qlib's expression language: one small evaluation function each, plus argument rules.

Mirrors ``qlib/data/ops.py`` (0.9.7): element-wise operators are the same numpy ufuncs Qlib calls, so dtypes
promote the same way (float32 bins stay float32 through arithmetic with Python numbers; a rolling result is
float64 and promotes whatever it touches). Window kernels live in `rolling` (pandas-backed, WMA, Mad),
`ordinal` (Quantile, Rank, IdxMax/IdxMin) and `regression` (Slope, Rsquare, Resi).

Arrays here are (N, T): one row per instrument (see `rolling`). Constants arrive as Python numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from aistock_core.factors import kernels, ordinal, regression, rolling
from aistock_core.factors.expr import Call, Const

Value = Any  # np.ndarray (N, T) or a Python number


# -- element-wise ------------------------------------------------------------------------------------------
def _sign(geo: rolling.Series2D, x: Value) -> Value:
    return np.sign(np.asarray(x, dtype=np.float32))  # Qlib casts to float32 before np.sign


def _ufunc(name: str) -> Callable[..., Value]:
    func = getattr(np, name)
    code = _ARITH.get(name)

    def apply(geo: rolling.Series2D, *args: Value) -> Value:
        if code is not None and (fast := _arith(geo, code, *args)) is not None:
            return fast
        with np.errstate(all="ignore"):
            return func(*args)

    apply.__name__ = name
    return apply


_ARITH = {"add": kernels.ADD, "subtract": kernels.SUB, "multiply": kernels.MUL, "divide": kernels.DIV}


def _arith(geo: rolling.Series2D, code: int, a: Value, b: Value) -> np.ndarray | None:
    """+ - × ÷ of two float series in parallel (`kernels.arith`); None leaves the rest to numpy (a number
    operand, integers, bools, broadcast views): those are cheap, and each dtype/layout pair is one more JIT
    compilation. The result dtype is numpy's own promotion, so the values are numpy's."""
    if not all(isinstance(x, np.ndarray) and x.dtype in _FLOATS and x.flags.c_contiguous and x.shape == (geo.n, geo.t)
               for x in (a, b)):
        return None
    out = np.empty(a.shape, dtype=np.result_type(a, b))
    kernels.arith(a, b, code, out)
    return out


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _if(geo: rolling.Series2D, cond: Value, left: Value, right: Value) -> Value:
    return np.where(cond, left, right)


# -- shifts ------------------------------------------------------------------------------------------------
def _as_shiftable(x: np.ndarray) -> np.ndarray:
    """pandas keeps float dtypes through ``shift`` and turns the rest into float-with-NaN."""
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def _first_value(geo: rolling.Series2D, x: np.ndarray) -> np.ndarray:
    """Each series' first value (Ref(x, 0) = ``series.iloc[0]``), broadcast along time."""
    col = np.minimum(geo.first, geo.t - 1)
    first = x[np.arange(geo.n), col]
    first = np.where(geo.first < geo.t, first, np.nan).astype(x.dtype)
    return np.broadcast_to(first[:, None], x.shape)


def _ref(geo: rolling.Series2D, x: Value, n: int) -> np.ndarray:
    x = _as_shiftable(np.asarray(x))
    if n == 0:
        return _first_value(geo, x).copy()
    out = np.full_like(x, np.nan)
    if abs(n) < geo.t:
        if n > 0:
            out[:, n:] = x[:, :-n]
        else:
            out[:, :n] = x[:, -n:]
    return out


def _delta(geo: rolling.Series2D, x: Value, n: int) -> np.ndarray:
    x = _as_shiftable(np.asarray(x))
    base = _first_value(geo, x) if n == 0 else _ref(geo, x, n)
    return x - base


def _ema(geo: rolling.Series2D, x: Value, n: float) -> np.ndarray:
    com = 1.0 / n - 1.0 if isinstance(n, float) and 0 < n < 1 else (n - 1) / 2.0  # alpha or span, as pandas
    return rolling.ewm_mean(geo, np.asarray(x), com)


# -- operator table ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OpSpec:
    """One operator: its argument kinds, how its look-back grows, and its evaluation function.

    Argument kinds: ``x`` an expression or number, ``e`` an expression (a series), ``n`` a window (int ≥ 1,
    or 0 = expanding where ``expanding`` is set), ``ref`` any int, ``span`` an int ≥ 1 or a float in (0, 1),
    ``q`` a number in [0, 1].
    """

    name: str
    params: tuple[str, ...]
    shape: str  # "elem" | "rolling" | "ref" | "delta" | "pair_rolling"
    fn: Callable[..., Value]
    expanding: bool = False
    #: helper nodes (built from the arguments) whose values are passed after the arguments: lets operators
    #: share work through the engine's memo (Std reads Var, Slope/Resi/Rsquare share one regression state).
    deps: Callable[[tuple[Any, ...]], tuple[Any, ...]] | None = None
    #: window input keeps ±inf (Qlib's Cython regression, ``Count``); pandas windows see them as NaN
    keep_inf: bool = False

    @property
    def usage(self) -> str:
        names = {"x": "expr", "e": "expr", "n": "N", "ref": "N", "span": "N", "q": "qscore"}
        return f"{self.name}({', '.join(names[p] for p in self.params)})"

    def check(self, args: Sequence[Any]) -> tuple[int, str] | None:
        """(argument index, message) for the first argument that breaks the rules, else None."""

        if len(args) != len(self.params):
            return len(args) - 1 if len(args) > len(self.params) else -1, (
                f"takes {len(self.params)} argument(s), got {len(args)}"
            )
        for i, (kind, arg) in enumerate(zip(self.params, args, strict=True)):
            is_const = isinstance(arg, Const)
            if kind == "e" and is_const:
                return i, "argument must be an expression over fields, not a number"
            if kind in ("n", "ref", "span", "q") and not is_const:
                return i, "argument must be a number literal"
            if not is_const:
                continue
            v, is_int = arg.value, arg.is_int
            if kind == "n" and not (is_int and (v >= 1 or (v == 0 and self.expanding))):
                return i, "window must be an integer ≥ 1" + (" (or 0 for expanding)" if self.expanding else "")
            if kind == "ref" and not is_int:
                return i, "shift must be an integer (negative = future)"
            if kind == "span" and not ((is_int and v >= 1) or (not is_int and 0 < v < 1)):
                return i, "N must be an integer span ≥ 1 or a float alpha in (0, 1)"
            if kind == "q" and not 0 <= v <= 1:
                return i, "quantile must be in [0, 1]"
        if self.shape == "elem" and all(isinstance(a, Const) for a in args):
            return 0, "needs at least one expression over fields"
        return None

    def extent(self, args: Sequence[Any]) -> tuple[int, int]:
        """Qlib's ``get_extended_window_size`` (Delta uses N, not Qlib's N-1: the value needs N rows back)."""

        extents = [a.extent() for a in args if not isinstance(a, Const)]  # once each: a child's is recursive
        left = max((lo for lo, _ in extents), default=0)
        right = max((hi for _, hi in extents), default=0)
        if self.shape == "elem":
            return left, right
        n = args[-1].value if self.params[-1] != "q" else args[1].value
        if self.shape == "ref":
            return (left + n, right) if n >= 0 else (left, right - n)
        if self.shape == "delta":
            return left + n, right
        if n == 0:
            return left, right
        if isinstance(n, float):  # EMA alpha: Qlib's 1e-6 weight horizon
            return left + max(int(math.log(1e-6) / math.log(1 - n)) - 1, 0), right
        return left + n - 1, right


# Window operators receive their series already masked to the instrument's rows, as float64 (the engine
# caches that per input): the kernels in `rolling` are called directly.


def _spec(name: str, params: str, shape: str, fn: Callable[..., Value], expanding: bool = False,
          deps: Callable[[tuple[Any, ...]], tuple[Any, ...]] | None = None, keep_inf: bool = False) -> OpSpec:
    return OpSpec(name, tuple(params.split()), shape, fn, expanding, deps, keep_inf)


def _helpers(*ops: str) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """deps = the same-window ``ops`` over the operator's series argument(s), e.g. Std → (Var(x, N),)."""

    def build(args: tuple[Any, ...]) -> tuple[Any, ...]:

        series, window = args[:-1], args[-1]
        if any(isinstance(a, Const) for a in series):
            return ()
        return tuple(Call(op, (x, window)) for op in ops for x in series)

    return build


def _std(geo: rolling.Series2D, x: np.ndarray, n: int, var: np.ndarray | None = None) -> np.ndarray:
    return rolling.zsqrt(rolling.rolling_var(geo, x, n) if var is None else var)


def _rsquare(geo: rolling.Series2D, y: np.ndarray, n: int, reg: regression.Regression, std: np.ndarray) -> np.ndarray:
    return regression.rolling_rsquare(geo, y, n, reg, std)


_ELEM_UNARY = {"Abs": "abs", "Log": "log", "Not": "bitwise_not"}
_ELEM_BINARY = {
    "Add": "add", "Sub": "subtract", "Mul": "multiply", "Div": "divide", "Power": "power",
    "Greater": "maximum", "Less": "minimum", "Gt": "greater", "Ge": "greater_equal", "Lt": "less",
    "Le": "less_equal", "Eq": "equal", "Ne": "not_equal", "And": "bitwise_and", "Or": "bitwise_or",
}

OPERATORS: dict[str, OpSpec] = {
    **{name: _spec(name, "e", "elem", _ufunc(f)) for name, f in _ELEM_UNARY.items()},
    "Sign": _spec("Sign", "e", "elem", _sign),
    **{name: _spec(name, "x x", "elem", _ufunc(f)) for name, f in _ELEM_BINARY.items()},
    "If": _spec("If", "e x x", "elem", _if),
    "Ref": _spec("Ref", "e ref", "ref", _ref),
    "Delta": _spec("Delta", "e n", "delta", _delta, expanding=True),
    "_Reg": _spec("_Reg", "e n", "rolling", regression.Regression, keep_inf=True),
    "Mean": _spec("Mean", "e n", "rolling", rolling.rolling_mean, expanding=True),
    "Sum": _spec("Sum", "e n", "rolling", rolling.rolling_sum, expanding=True),
    "Std": _spec("Std", "e n", "rolling", _std, expanding=True, deps=_helpers("Var")),
    "Var": _spec("Var", "e n", "rolling", rolling.rolling_var, expanding=True),
    "Skew": _spec("Skew", "e n", "rolling", lambda g, x, n: rolling.rolling_moment(g, x, n, "skew")),
    "Kurt": _spec("Kurt", "e n", "rolling", lambda g, x, n: rolling.rolling_moment(g, x, n, "kurt")),
    "Max": _spec("Max", "e n", "rolling", rolling.rolling_max, expanding=True),
    "Min": _spec("Min", "e n", "rolling", rolling.rolling_min, expanding=True),
    "Med": _spec("Med", "e n", "rolling", rolling.rolling_median, expanding=True),
    "Quantile": _spec("Quantile", "e n q", "rolling", ordinal.rolling_quantile, expanding=True),
    "Rank": _spec("Rank", "e n", "rolling", ordinal.rolling_rank, expanding=True),
    "Count": _spec("Count", "e n", "rolling", rolling.rolling_count, expanding=True, keep_inf=True),
    "IdxMax": _spec("IdxMax", "e n", "rolling", lambda g, x, n: ordinal.rolling_idx_extreme(g, x, n, True)),
    "IdxMin": _spec("IdxMin", "e n", "rolling", lambda g, x, n: ordinal.rolling_idx_extreme(g, x, n, False)),
    "Mad": _spec("Mad", "e n", "rolling", rolling.rolling_mad),
    "WMA": _spec("WMA", "e n", "rolling", rolling.rolling_wma),
    "EMA": _spec("EMA", "e span", "rolling", _ema),
    "Slope": _spec("Slope", "e n", "rolling", lambda g, y, n, reg: reg.slope(), deps=_helpers("_Reg")),
    "Rsquare": _spec("Rsquare", "e n", "rolling", _rsquare, deps=_helpers("_Reg", "Std")),
    "Resi": _spec("Resi", "e n", "rolling", lambda g, y, n, reg: reg.resi(), deps=_helpers("_Reg")),
    "Corr": _spec("Corr", "x x n", "pair_rolling", rolling.rolling_corr),
    "Cov": _spec("Cov", "x x n", "pair_rolling", rolling.rolling_cov),
}
