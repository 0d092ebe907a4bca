"""A small hand-built Qlib directory with every edge the backtest must get right: late listings, delistings
(a holding left behind), multi-day suspensions, limit-up and limit-down days, factor steps (ex-rights), and
a benchmark; plus a score frame in Qlib spelling. Written in Qlib's bin format directly, so the tests do not
depend on any other writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aistock_core.calendar import xshg_calendar
from aistock_core.codes import to_qlib

BENCH = "000300.SH"


def _codes(n: int) -> list[str]:
    pools = [("600", "SH"), ("000", "SZ"), ("300", "SZ"), ("688", "SH")]
    return [f"{pools[k % 4][0]}{100 + k:03d}.{pools[k % 4][1]}" for k in range(n)]


def build_qlib_dir(root: Path, n: int = 40, days: int = 160, seed: int = 5) -> dict:
    """Write ``root`` as a Qlib dir; return the codes, dates and the (T, N) adjusted close used."""
    rng = np.random.default_rng(seed)
    dates = xshg_calendar().sessions_in_range("2020-01-02")[:days]
    codes = _codes(n)
    raw = 10 * np.exp(np.cumsum(rng.normal(0.0003, 0.025, (days, n)), axis=0))
    # Limit days: force ±10% moves on a few cells (Qlib's $change crosses 0.095 there).
    for _ in range(max(25, n * days // 2000)):
        t, i = rng.integers(1, days), rng.integers(0, n)
        raw[t:, i] *= (1.1 if rng.random() < 0.5 else 0.9) * raw[t - 1, i] / raw[t, i]
    raw = np.round(raw, 2)
    factor = np.ones((days, n))
    for i in range(n):
        if rng.random() < 0.5:
            factor[rng.integers(10, days) :, i] = rng.uniform(1.05, 1.6)
    close = (raw * factor).astype(np.float32)
    listed = np.ones((days, n), dtype=bool)
    listed[:30, 1] = False  # late listings
    listed[:75, 6] = False
    listed[100:, 2] = False  # delistings (a holding may be left behind)
    listed[120:, 9] = False
    listed[60:, 13] = False
    susp = np.zeros((days, n), dtype=bool)
    for _ in range(max(12, n * days // 5000)):
        t, i = rng.integers(5, days - 5), rng.integers(0, n)
        susp[t : t + rng.integers(1, 6), i] = True
    prev = np.vstack([np.full((1, n), np.nan, np.float32), close[:-1]])
    change = (close / prev - np.float32(1)).astype(np.float32)
    volume = (rng.integers(1_000, 50_000, (days, n)) * 100 / factor).astype(np.float32)
    fields = {"close": close, "open": close, "high": close, "low": close, "volume": volume,
              "factor": factor.astype(np.float32), "change": change}
    for name in ("close", "open", "high", "low", "volume", "change"):
        fields[name] = np.where(susp, np.nan, fields[name]).astype(np.float32)
    bench = (1000 * np.exp(np.cumsum(rng.normal(0.0002, 0.012, days)))).astype(np.float32)

    (root / "calendars").mkdir(parents=True)
    (root / "calendars" / "day.txt").write_text("\n".join(dates.strftime("%Y-%m-%d")) + "\n")
    (root / "instruments").mkdir()
    lines = []
    for i, code in enumerate([*codes, BENCH]):
        rows = np.flatnonzero(listed[:, i]) if i < n else np.arange(days)
        lo, hi = int(rows[0]), int(rows[-1])
        lines.append(f"{to_qlib(code)}\t{dates[lo]:%Y-%m-%d}\t{dates[hi]:%Y-%m-%d}")
        folder = root / "features" / to_qlib(code).lower()
        folder.mkdir(parents=True)
        cols = fields if i < n else {"close": bench[:, None], "factor": np.ones((days, 1), np.float32),
                                     "change": np.r_[np.nan, bench[1:] / bench[:-1] - 1][:, None].astype(np.float32),
                                     "volume": np.ones((days, 1), np.float32)}
        j = i if i < n else 0
        for name, arr in cols.items():
            data = np.concatenate([[np.float32(lo)], arr[lo : hi + 1, j]]).astype("<f4")
            data.tofile(folder / f"{name}.day.bin")
    (root / "instruments" / "all.txt").write_text("\n".join(lines) + "\n")
    return {"codes": codes, "dates": dates, "close": close, "listed": listed, "susp": susp}


def make_scores(meta: dict, seed: int = 9, qlib_codes: bool = True) -> pd.DataFrame:
    """A score for every (session, listed stock): noisy short-term reversal, so holdings rotate daily."""
    rng = np.random.default_rng(seed)
    close = pd.DataFrame(meta["close"], index=meta["dates"], columns=meta["codes"]).astype(float)
    signal = -(close / close.shift(5) - 1).ffill().fillna(0.0) + rng.normal(0, 0.05, close.shape)
    listed = meta["listed"]
    for i in np.flatnonzero(~listed[-1]):  # delisting names top the ranking just before they go: held at exit
        last = np.flatnonzero(listed[:, i])[-1]
        signal.iloc[last - 4 : last + 1, i] = 1.0
    signal = signal.where(listed)
    long = signal.stack().rename("score")
    long.index = long.index.set_names(["datetime", "instrument"])
    if qlib_codes:
        long.index = long.index.set_levels([to_qlib(c) for c in long.index.levels[1]], level=1)
    return long.to_frame().sort_index()


@pytest.fixture(scope="module")
def qlib_dir(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("qlib") / "cn_data"
    meta = build_qlib_dir(root)
    return root, meta


@pytest.fixture(scope="module")
def scores_of():
    """`make_scores` as a fixture (test modules cannot import conftest under --import-mode=importlib)."""
    return make_scores
