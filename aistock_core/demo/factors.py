"""The demo research's factors: RD-Agent-style ``factor.py`` sources, their Qlib migrations, and the same
formulas on wide frames.

Each factor exists three times on purpose:

* ``source``: the LLM-style script RD-Agent ships (reads ``daily_pv.h5`` from the working directory, writes
  ``result.h5`` with one float32 column named after the factor, rdagent.md §7/§8), which the factor sandbox runs;
* ``expression``: its migration to a Qlib expression, what our factor engine computes in production and what
  the demo export's factor catalog carries (``expression``; the prose stays in ``formula_hint``). The
  ``rdagent_factors`` asset's blocking check compares the two on every partition;
* ``wide``: a vectorised formula over (date × instrument) frames, which the demo export uses to derive the
  loops' metrics from the synthetic market. A test runs the scripts and compares.

Semantics are Qlib's on all three. RD-Agent's factor prompt targets Qlib-compatible data, but pandas'
``rolling(N)`` defaults to ``min_periods=N`` (NaN warm-up; one suspended day voids N rows) while Qlib rolls
with ``min_periods=1`` over calendar rows, a suspension being a NaN row inside the window. Code
written either way is legitimate RD-Agent output, but a migration can only be *exactly* equal to one of them,
so the demo's code uses ``.rolling(N, min_periods=1)``: then script and expression agree cell for cell, warm-up
and suspensions included (tests/aistock_core/demo/test_factor_parity.py). ``Ref``/``pct_change`` shift
by rows, and daily_pv.h5 holds one row per listed session (suspended ones as NaN), so both count sessions.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from aistock_core.factors.alpha158 import alpha158_expressions
from aistock_core.strategy.backtest.risk import risk_analysis

Wide = dict[str, pd.DataFrame]

#: The Alpha158 20-factor baseline of this integration (rdagent.md §3.5), in the YAML's order; the expressions
#: are Alpha158's own (`alpha158_expressions`), not retyped.
ALPHA158_BASELINE_NAMES = (
    "RESI5", "WVMA5", "RSQR5", "KLEN", "RSQR10", "CORR5", "CORD5", "CORR10", "ROC60", "RESI10",
    "VSTD5", "RSQR60", "CORR60", "WVMA60", "STD5", "RSQR20", "CORD60", "CORD10", "CORR20", "KLOW",
)
_ALPHA158 = alpha158_expressions()
ALPHA158_BASELINE: dict[str, str] = {name: _ALPHA158[name] for name in ALPHA158_BASELINE_NAMES}


@dataclass(frozen=True)
class DemoFactor:
    """One demo factor: RD-Agent's prose ``formulation``, its script ``body``, its Qlib ``expression`` (the
    migration our engine runs) and the ``wide`` formula — all four with Qlib semantics (module docstring)."""

    name: str
    description: str
    formulation: str
    expression: str  # the Qlib expression: exactly the script's meaning, checked cell for cell
    body: str  # pandas lines computing `factor` (a Series on df's index) from `df`
    wide: Callable[[Wide], pd.DataFrame]

    @property
    def source(self) -> str:
        """The factor.py file, in the shape RD-Agent's coder produces."""
        return (
            "import pandas as pd\n\n\n"
            f"def calculate_{self.name}():\n"
            f'    """{self.description}"""\n'
            '    df = pd.read_hdf("daily_pv.h5", key="data").sort_index()\n'
            '    grouped = df.groupby(level="instrument", group_keys=False)\n'
            f"{self.body}"
            f'    result = factor.rename("{self.name}").to_frame().astype("float32")\n'
            '    result.to_hdf("result.h5", key="data")\n\n\n'
            'if __name__ == "__main__":\n'
            f"    calculate_{self.name}()\n"
        )


def _ret(w: Wide, n: int) -> pd.DataFrame:
    return w["close"] / w["close"].shift(n) - 1


def _rolling(w: Wide, frame: pd.DataFrame, n: int, stat: str) -> pd.DataFrame:
    """Qlib's rolling ``stat`` over ``n`` calendar rows with ``min_periods=1`` (a suspension is a NaN row).

    Where ``w`` holds a boolean ``listed`` frame, cells outside it become NaN: Qlib has no rows there, while a
    rolling window would otherwise carry a delisted stock's last values on for ``n - 1`` days.
    """
    out = getattr(frame.rolling(n, min_periods=1), stat)()
    return out.where(w["listed"]) if "listed" in w else out


def _per_instrument(series: str, n: int, stat: str) -> str:
    """The script line rolling ``series`` per instrument the Qlib way (see the module docstring)."""
    return (f'    factor = {series}.groupby(level="instrument", group_keys=False).transform(\n'
            f"        lambda s: s.rolling({n}, min_periods=1).{stat}())\n")


DEMO_FACTORS: tuple[DemoFactor, ...] = (
    DemoFactor(
        "mom_5d", "5-day price momentum.", "close_t / close_{t-5} - 1", "$close/Ref($close, 5) - 1",
        '    factor = grouped["close"].pct_change(5, fill_method=None)\n',
        lambda w: _ret(w, 5),
    ),
    DemoFactor(
        # Qlib expressions have no unary minus (Expression defines no __neg__): -1 * x is exact in float32.
        "rev_1d", "1-day reversal: yesterday's losers bounce.", "-(close_t / close_{t-1} - 1)",
        "-1 * ($close/Ref($close, 1) - 1)",
        '    factor = -grouped["close"].pct_change(1, fill_method=None)\n',
        lambda w: -_ret(w, 1),
    ),
    DemoFactor(
        "vol_ratio_10d", "Volume against its 10-day mean.", "volume_t / mean(volume, 10) - 1",
        "$volume/Mean($volume, 10) - 1",
        '    mean = grouped["volume"].transform(lambda s: s.rolling(10, min_periods=1).mean())\n'
        '    factor = df["volume"] / mean - 1\n',
        lambda w: w["volume"] / _rolling(w, w["volume"], 10, "mean") - 1,
    ),
    DemoFactor(
        "volatility_20d", "20-day standard deviation of daily returns.", "std(close_t / close_{t-1} - 1, 20)",
        "Std($close/Ref($close, 1) - 1, 20)",
        '    ret = grouped["close"].pct_change(1, fill_method=None)\n' + _per_instrument("ret", 20, "std"),
        lambda w: _rolling(w, _ret(w, 1), 20, "std"),
    ),
    DemoFactor(
        "range_5d", "5-day mean of the daily high-low range over close.", "mean((high - low) / close, 5)",
        "Mean(($high - $low)/$close, 5)",
        '    rng = (df["high"] - df["low"]) / df["close"]\n' + _per_instrument("rng", 5, "mean"),
        lambda w: _rolling(w, (w["high"] - w["low"]) / w["close"], 5, "mean"),
    ),
)
FACTORS_BY_NAME = {f.name: f for f in DEMO_FACTORS}


def _row_zscore(frame: pd.DataFrame) -> np.ndarray:
    values = frame.to_numpy(dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (warm-up days) give NaN, as intended
        mean = np.nanmean(values, axis=1, keepdims=True)
        std = np.nanstd(values, axis=1, keepdims=True)
        return np.where(std > 0, (values - mean) / std, np.nan)


def cross_section_ic(score: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Pearson correlation per row over the cells where both are finite (NaN where < 3 such cells)."""
    ok = np.isfinite(score) & np.isfinite(label)
    n = ok.sum(axis=1)
    s = np.where(ok, score, 0.0)
    y = np.where(ok, label, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ms = s.sum(axis=1) / n
        my = y.sum(axis=1) / n
        ds = np.where(ok, s - ms[:, None], 0.0)
        dy = np.where(ok, y - my[:, None], 0.0)
        ic = (ds * dy).sum(axis=1) / np.sqrt((ds**2).sum(axis=1) * (dy**2).sum(axis=1))
    return np.where(n >= 3, ic, np.nan)


def loop_metrics(wide: Wide, factors: list[str], topk: int, cost_rate: float = 0.002) -> dict[str, float]:
    """Qlib-style metrics (qlib_res.csv keys) of a top-k book on the signed z-score blend of ``factors``.

    The label is Qlib's ``Ref($close,-2)/Ref($close,-1)-1``; excess = top-k mean label − universe mean label;
    with-cost subtracts turnover × ``cost_rate``. The return figures are Qlib's sum-mode `risk_analysis` (N=238).
    """
    close = wide["close"]
    label = (close.shift(-2) / close.shift(-1) - 1).to_numpy(dtype="float64")
    score = np.zeros_like(label)
    for name in factors:
        z = _row_zscore(FACTORS_BY_NAME[name].wide(wide))
        sign = np.sign(np.nanmean(cross_section_ic(z, label))) or 1.0
        score = score + sign * np.nan_to_num(z)
    score = np.where(np.isfinite(label), score, np.nan)
    rank_score = pd.DataFrame(score).rank(axis=1).to_numpy()
    rank_label = pd.DataFrame(label).rank(axis=1).to_numpy()
    ic = cross_section_ic(score, label)
    ric = cross_section_ic(rank_score, rank_label)
    order = np.argsort(-np.nan_to_num(score, nan=-np.inf), axis=1)[:, :topk]
    held = np.zeros_like(score, dtype=bool)
    np.put_along_axis(held, order, True, axis=1)
    held &= np.isfinite(label)
    valid = held.sum(axis=1) > 0
    top = np.where(held, label, 0.0).sum(axis=1) / np.maximum(held.sum(axis=1), 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the last two rows have no label
        universe = np.nanmean(np.where(np.isfinite(label), label, np.nan), axis=1)
    excess = np.where(valid, top - universe, np.nan)
    turnover = np.r_[1.0, (held[1:] != held[:-1]).sum(axis=1) / (2.0 * topk)]
    out: dict[str, float] = {
        "IC": float(np.nanmean(ic)), "ICIR": float(np.nanmean(ic) / np.nanstd(ic, ddof=1)),
        "Rank IC": float(np.nanmean(ric)), "Rank ICIR": float(np.nanmean(ric) / np.nanstd(ric, ddof=1)),
    }
    for cost, series in (("without_cost", excess), ("with_cost", excess - turnover * cost_rate)):
        for name, value in risk_analysis(pd.Series(series[np.isfinite(series)])).items():
            out[f"1day.excess_return_{cost}.{name}"] = value
    return out
