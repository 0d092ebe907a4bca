"""The adaptive optimizer: parameter changes proposed from documented estimators, each with held-out evidence.

Every estimator is fitted on the first two thirds of the window (``train``) and judged on the last third
(``held-out``), on the instances' daily returns (close value over close value). Nothing here changes an
instance: a `Proposal` is data, applied only through `proposals.decide` with an approval.

- **Position sizing** (``strategy.kwargs.risk_degree``): fractional Kelly. Returns per unit of exposure
  u = r / current risk degree; full Kelly f* = mean(u) / var(u) (the growth-optimal leverage of a log-utility
  investor); proposed f = clip(`KELLY_FRACTION` · f*, `MIN_EXPOSURE`, `MAX_EXPOSURE`) (half Kelly, never
  levered). Metric: mean daily log growth mean(log(1 + f·u)).
- **Weights across instances** (``allocation``): diagonal mean-variance, w ∝ max(mean, 0) / var (inverse
  variance when no instance has a positive mean), normalised to 1. Metric: Sharpe of the combined returns.
- **Risk** (``limits.max_drawdown``): grid `DRAWDOWN_GRID` of drawdown stops (go flat for `COOL_DOWN` sessions
  once the drawdown from the running peak reaches the stop, then re-enter with the peak reset); the grid point
  with the best train Sharpe (ties: the tighter stop). Metric: Sharpe with the stop on held-out days.
- **Signal threshold** (``strategy.kwargs.min_score``, strategies that have one: EnhancedTopkDropout): grid of
  the train scores' quantiles `THRESHOLD_QUANTILES` (plus the current threshold); a day's basket is the top-k
  names scoring at least the threshold, equal weight (cash when none qualifies). Metric: mean next-session
  close-to-close return of the basket; the grid point with the best train mean (ties: the lower threshold).
A proposal is made when the estimate moves the parameter materially (`MIN_CHANGE`); its evidence says whether
the held-out metric improved, and the person approving decides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

KELLY_FRACTION = 0.5
MIN_EXPOSURE, MAX_EXPOSURE = 0.1, 0.95
DEFAULT_RISK_DEGREE = 0.95
DRAWDOWN_GRID = (0.03, 0.05, 0.08, 0.10, 0.15, 0.20)
COOL_DOWN = 5
THRESHOLD_QUANTILES = (0.5, 0.75, 0.9)
MIN_CHANGE = 0.05
#: Fewest sessions an estimator is fitted on / judged on.
MIN_TRAIN, MIN_HELD_OUT = 4, 2
N = 238


@dataclass(frozen=True)
class Proposal:
    kind: str  # sizing | weights | risk
    scope: str  # an instance id, or "portfolio"
    changes: dict[str, dict[str, Any]]  # instance id → {dotted parameter path: new value}
    evidence: dict[str, Any] = field(default_factory=dict)

    def key(self, day: pd.Timestamp) -> str:
        return f"{self.kind}|{self.scope}|{day:%Y-%m-%d}"


def get_path(params: dict, path: str, default=None):
    node: Any = params
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def set_path(params: dict, path: str, value) -> dict:
    """A copy of ``params`` with ``path`` set (intermediate mappings created)."""
    import copy

    out = copy.deepcopy(params)
    node = out
    *parents, leaf = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return out


def split(returns: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    cut = math.ceil(len(returns) * 2 / 3)
    if cut < MIN_TRAIN or len(returns) - cut < MIN_HELD_OUT:
        return None
    return returns.iloc[:cut], returns.iloc[cut:]


def sharpe(r: np.ndarray) -> float | None:
    sd = float(np.std(r, ddof=1)) if len(r) > 1 else 0.0
    return float(np.mean(r) / sd * math.sqrt(N)) if sd > 0 else None


def _window(train: pd.DataFrame, held: pd.DataFrame) -> dict:
    return {"train": [f"{train.index[0]:%Y-%m-%d}", f"{train.index[-1]:%Y-%m-%d}"],
            "held_out": [f"{held.index[0]:%Y-%m-%d}", f"{held.index[-1]:%Y-%m-%d}"]}


def sizing(ref: str, r: pd.Series, params: dict, train: pd.Index, held: pd.Index) -> Proposal | None:
    current = float(get_path(params, "strategy.kwargs.risk_degree", DEFAULT_RISK_DEGREE))
    unit = r / current
    u_train, u_held = unit.loc[train].to_numpy(float), unit.loc[held].to_numpy(float)
    var = float(np.var(u_train, ddof=1))
    if var <= 0:
        return None
    full = float(np.mean(u_train)) / var
    proposed = float(np.clip(KELLY_FRACTION * full, MIN_EXPOSURE, MAX_EXPOSURE))
    if abs(proposed - current) < MIN_CHANGE:
        return None
    growth = lambda f: float(np.mean(np.log1p(f * u_held)))  # noqa: E731
    return Proposal("sizing", ref, {ref: {"strategy.kwargs.risk_degree": round(proposed, 4)}}, {
        "estimator": f"fractional Kelly ({KELLY_FRACTION} x mean/var of unit-exposure returns, capped "
                     f"{MIN_EXPOSURE}..{MAX_EXPOSURE})", "full_kelly": full, "metric": "mean daily log growth",
        "before": {"risk_degree": current, "value": growth(current)},
        "after": {"risk_degree": proposed, "value": growth(proposed)}})


def weights(returns: pd.DataFrame, params: dict[str, dict], train: pd.Index, held: pd.Index) -> Proposal | None:
    if returns.shape[1] < 2:
        return None
    t = returns.loc[train]
    mean, var = t.mean(), t.var(ddof=1).replace(0.0, np.nan)
    raw = (mean.clip(lower=0) / var) if (mean > 0).any() else 1.0 / var
    raw = raw.fillna(0.0)
    if raw.sum() <= 0:
        return None
    proposed = raw / raw.sum()
    current = pd.Series({ref: float(params[ref].get("allocation", 1.0)) for ref in returns.columns})
    current = current / current.sum()
    if (proposed - current).abs().max() < MIN_CHANGE:
        return None
    h = returns.loc[held]
    return Proposal("weights", "portfolio", {ref: {"allocation": round(float(w), 4)} for ref, w in proposed.items()}, {
        "estimator": "diagonal mean-variance (w ~ max(mean,0)/var, normalised)",
        "metric": "held-out Sharpe of the combined daily returns",
        "before": {"weights": current.round(4).to_dict(), "value": sharpe(h.to_numpy(float) @ current.to_numpy())},
        "after": {"weights": proposed.round(4).to_dict(), "value": sharpe(h.to_numpy(float) @ proposed.to_numpy())}})


def with_stop(r: np.ndarray, stop: float) -> np.ndarray:
    """Daily returns under a drawdown stop: flat for `COOL_DOWN` sessions once the drawdown reaches ``stop``."""
    out, nav, peak, flat = np.zeros_like(r), 1.0, 1.0, 0
    for i, x in enumerate(r):
        if flat:
            flat -= 1
            if not flat:
                peak = nav
            continue
        out[i] = x
        nav *= 1 + x
        peak = max(peak, nav)
        if nav / peak - 1 <= -stop:
            flat = COOL_DOWN
    return out


def risk(ref: str, r: pd.Series, params: dict, limit: float, train: pd.Index, held: pd.Index) -> Proposal | None:
    t, h = r.loc[train].to_numpy(float), r.loc[held].to_numpy(float)
    scores = [(sharpe(with_stop(t, s)), s) for s in DRAWDOWN_GRID]
    scored = [(v, s) for v, s in scores if v is not None]
    if not scored:
        return None
    best = max(scored, key=lambda p: (p[0], -p[1]))[1]
    if abs(best - limit) < 1e-12:
        return None
    return Proposal("risk", ref, {ref: {"limits.max_drawdown": best}}, {
        "estimator": f"grid {list(DRAWDOWN_GRID)} of drawdown stops (flat {COOL_DOWN} sessions), best train Sharpe",
        "metric": "held-out Sharpe with the stop", "train_sharpe": {str(s): v for v, s in scores},
        "before": {"max_drawdown": limit, "value": sharpe(with_stop(h, limit))},
        "after": {"max_drawdown": best, "value": sharpe(with_stop(h, best))}})


def basket_returns(scores: pd.DataFrame, ahead: pd.DataFrame, threshold: float, topk: int) -> np.ndarray:
    """Per day: the mean next-session return of the top-``topk`` names scoring ≥ ``threshold`` (0: cash)."""
    s = scores.to_numpy(float)
    eligible = np.where(np.isfinite(s) & (s >= threshold), s, -np.inf)
    order = np.argsort(-eligible, axis=1, kind="stable")[:, :topk]
    picked = np.take_along_axis(eligible, order, axis=1) > -np.inf
    got = np.take_along_axis(ahead.to_numpy(float), order, axis=1)
    total = np.where(picked & np.isfinite(got), got, 0.0).sum(axis=1)
    count = (picked & np.isfinite(got)).sum(axis=1)
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0)


def threshold(ref: str, scores: pd.DataFrame, ahead: pd.DataFrame, current: float, topk: int, train: pd.Index,
              held: pd.Index) -> Proposal | None:
    """``scores`` / ``ahead``: sessions × names (score, next-session return) on the train and held-out days."""
    pooled = scores.loc[train].to_numpy(float)
    grid = sorted({float(current), *(float(np.nanquantile(pooled, q)) for q in THRESHOLD_QUANTILES)})
    mean = lambda days, t: float(basket_returns(scores.loc[days], ahead.loc[days], t, topk).mean())  # noqa: E731
    best = max(grid, key=lambda t: (mean(train, t), -t))
    if abs(best - current) < 1e-12:
        return None
    return Proposal("threshold", ref, {ref: {"strategy.kwargs.min_score": round(best, 6)}}, {
        "estimator": f"grid of train score quantiles {list(THRESHOLD_QUANTILES)} + current; top-{topk} basket",
        "metric": "held-out mean next-session return of the basket",
        "before": {"min_score": current, "value": mean(held, current)},
        "after": {"min_score": best, "value": mean(held, best)}})


def propose(returns: pd.DataFrame, params: dict[str, dict], limits: dict[str, float]) -> list[Proposal]:
    """Every proposal for instances with daily ``returns`` (sessions × instance ids, NaN before an instance
    started); ``params``: current parameters by id; ``limits``: current drawdown limit by id."""
    out: list[Proposal] = []
    for ref in returns.columns:
        r = returns[ref].dropna()
        parts = split(r.to_frame())
        if parts is None:
            continue
        train, held = parts[0].index, parts[1].index
        evidence = _window(*parts)
        for made in (sizing(ref, r, params[ref], train, held), risk(ref, r, params[ref], limits[ref], train, held)):
            if made is not None:
                out.append(Proposal(made.kind, made.scope, made.changes, {**evidence, **made.evidence}))
    common = returns.dropna()
    parts = split(common)
    if parts is not None:
        made = weights(common, params, parts[0].index, parts[1].index)
        if made is not None:
            out.append(Proposal(made.kind, made.scope, made.changes, {**_window(*parts), **made.evidence}))
    return out
