"""Array generation behind `SyntheticMarket` (the model is described in `aistock_core.data.synthetic`).

Every step is vectorised over (session × instrument) arrays; the only Python loops run over events that are
few by nature (index rebalance dates, the fixed-point sweeps of limit runs, code strings).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum

import numpy as np
import pandas as pd

from aistock_core.codes import Board
from aistock_core.errors import DataError
from aistock_core.trading.prices import limit_prices
from aistock_core.trading.rules import LIMIT_RATE, ST_LIMIT_RATE

INDEX_CODES = ("000300.SH", "000001.SH")
_INDEX_BASE = (4000.0, 3000.0)
MAX_INSTRUMENTS = 8000
K_Q, C_REV, QUALITY_WINDOW = 0.0008, 0.02, 60
CSI300_SIZE = 300

#: Boards: (prefixes, exchange, limit %, price multiplier, volatility multiplier); 20-slot mix 7/6/4/2/1.
_BOARDS = (
    (("600", "601", "603", "605"), "SH", Board.SH_MAIN, 1.0, 1.0),
    (("000", "001", "002"), "SZ", Board.SZ_MAIN, 1.0, 1.0),
    (("300", "301"), "SZ", Board.CHINEXT, 1.3, 1.3),
    (("688",), "SH", Board.STAR, 2.5, 1.35),
    (("430", "830", "870"), "BJ", Board.BJ, 0.8, 1.5),
)
#: Each board's daily limit rate (the exchange rules of `aistock_core.trading.rules`).
_BOARD_RATE = np.array([LIMIT_RATE[b[2]] for b in _BOARDS])
#: Newer prefixes of each board, used only once its classic prefixes run out of three-digit numbers.
_SPILL_PREFIXES = ((), ("003",), (), (), (*(f"83{d}" for d in range(1, 10)), *(f"87{d}" for d in range(1, 10)), "920"))
_BOARD_SLOTS = np.repeat(np.arange(5), (7, 6, 4, 2, 1))
_IPO_DAY_TURNOVER = np.array([0.6, 0.4, 0.3, 0.25, 0.2])

_M1, _M2, _GOLD = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB), np.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (wrapping uint64 arithmetic, element-wise)."""
    x = x ^ (x >> _S30)
    x = x * _M1
    x = x ^ (x >> _S27)
    x = x * _M2
    return x ^ (x >> _S31)


class Noise:
    """Counter-based random numbers: value(stream, row, col) is a pure function of the seed and its key."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def bits(self, stream: int, rows, cols) -> np.ndarray:
        key = np.array([(self.seed * 0x2545F4914F6CDD1D + stream * 0x632BE59BD9B4E019) % 2**64], dtype=np.uint64)
        base = _mix(key)
        r = _mix(np.asarray(rows, dtype=np.int64).reshape(-1).view(np.uint64) * _GOLD + base)
        c = _mix(_mix(np.asarray(cols, dtype=np.int64).reshape(-1).view(np.uint64) ^ base) * _GOLD)
        return _mix(r[:, None] + c[None, :])

    def uniform(self, stream: int, rows, cols) -> np.ndarray:
        """U(0, 1), never 0 or 1; shape (len(rows), len(cols))."""
        return (self.bits(stream, rows, cols) >> np.uint64(11)).astype(np.float64) * 2.0**-53 + 2.0**-54

    def normal(self, stream: int, rows, cols) -> np.ndarray:
        """N(0, 1) by Box–Muller on the two 32-bit halves of one hash."""
        b = self.bits(stream, rows, cols)
        u1 = ((b >> np.uint64(32)).astype(np.float64) + 0.5) * 2.0**-32
        u2 = ((b & np.uint64(0xFFFFFFFF)).astype(np.float64) + 0.5) * 2.0**-32
        return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)

    def per_instrument(self, stream: int, k: np.ndarray, normal: bool = False) -> np.ndarray:
        return (self.normal if normal else self.uniform)(stream, [0], k)[0]


def _tick(x: np.ndarray) -> np.ndarray:
    """Round half up to the 0.01 tick (never below one tick)."""
    return np.maximum(np.floor(x * 100.0 + 0.5 + 1e-7) / 100.0, 0.01)


def _first_true(mask: np.ndarray) -> np.ndarray:
    """Per column, the first row where mask is True (number of rows where never)."""
    return np.where(mask.any(axis=0), mask.argmax(axis=0), mask.shape[0])


def _prev_valid(x: np.ndarray, before_first: np.ndarray) -> np.ndarray:
    """Per cell, the last non-NaN value strictly above it in its column (``before_first`` where none)."""
    stacked = np.vstack([before_first[None, :], x[:-1]])
    rows = np.where(~np.isnan(stacked), np.arange(len(stacked))[:, None], 0)
    np.maximum.accumulate(rows, axis=0, out=rows)
    return np.take_along_axis(stacked, rows, axis=0)


@dataclass(frozen=True)
class Market:
    """The generated arrays: (T_gen × (N stocks + 2 indexes)); row T_gen-1 may be the hidden live day."""

    dates: pd.DatetimeIndex
    codes: pd.Index
    values: dict[str, np.ndarray]
    listed: np.ndarray
    prev_close: np.ndarray
    csi300: np.ndarray


class _S(IntEnum):
    """Random streams: one per kind of draw, so adding a draw never shifts the others."""

    BOARD, CODE, PRICE, SHARES, SIGMA, BETA, TURNOVER, FACTOR0 = range(1, 9)
    IPO_FLAG, IPO_HAZARD, POP, ST_FLAG, ST_HAZARD, ST_LEN = range(10, 16)
    SUSPEND, SUSPEND_LEN, EX, EX_KIND, MARKET, EPS, QUALITY, JUMP, JUMP_SIZE = range(20, 29)
    OPEN, HIGH, LOW, VOLUME = range(30, 34)


@dataclass(frozen=True)
class Life:
    """Listing, ST, suspension and corporate-action state of each stock on each session."""

    ipo: np.ndarray  # (N,) listed after the first session
    list_pos: np.ndarray  # (N,) first listed row (T when it lists after the window)
    age: np.ndarray  # (T, N) sessions since listing
    listed: np.ndarray
    st: np.ndarray
    suspended: np.ndarray
    factor: np.ndarray  # cumulative adjustment, defined on every row
    f0: np.ndarray  # (N,) factor before the first row


def _instruments(noise: Noise, n: int) -> tuple[list[str], np.ndarray]:
    """Codes and board numbers; every block of 20 instruments holds the 7/6/4/2/1 board mix in seeded order.

    The c-th stock of a board gets prefix ``c mod L`` (L classic prefixes) and number ``1 + 2⌊c/L⌋ + jitter``
    while that fits in three digits; the ones past it take the board's spill codes (`_spill_codes`). So the
    codes of a smaller market are a prefix of a larger one's, and any n up to `MAX_INSTRUMENTS` gets valid,
    unique codes on its board.
    """
    blocks = np.arange((n + 19) // 20)
    board = _BOARD_SLOTS[np.argsort(noise.uniform(_S.BOARD, blocks, np.arange(20)), axis=1)].ravel()[:n]
    jitter = (noise.per_instrument(_S.CODE, np.arange(n)) < 0.5).astype(np.int64)
    codes = np.empty(n, dtype=object)
    for b, (prefixes, exchange, *_) in enumerate(_BOARDS):
        members = np.flatnonzero(board == b)  # generation order: the board's c-th stock is members[c]
        c, j, width = np.arange(len(members)), jitter[members], len(prefixes)
        number = 1 + 2 * (c // width) + j
        classic = number <= 999
        prefix = np.asarray(prefixes, dtype=object)[c % width]
        spill = np.flatnonzero(~classic)
        if len(spill):
            spill_prefix, spill_number = _spill_codes(b, j[: 499 * width])
            if len(spill) > len(spill_number):
                raise DataError(f"the synthetic board {prefixes} has codes for {classic.sum() + len(spill_number)} "
                                f"stocks, {len(members)} asked for; use fewer instruments")
            prefix[spill], number[spill] = spill_prefix[: len(spill)], spill_number[: len(spill)]
        codes[members] = [f"{p}{k:03d}.{exchange}" for p, k in zip(prefix.tolist(), number.tolist(), strict=True)]
    return codes.tolist(), board


def _spill_codes(board: int, jitter: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(prefix, number) of the codes a board hands out once a classic prefix runs past 999, in order.

    First the board's newer prefixes (numbers 1..999), then the unused twin of each classic number pair
    (``2q+1`` / ``2q+2`` for q ≤ 498: ``jitter`` of the board's first ``499 L`` stocks says which one is taken).
    Neither can collide with a classic code, and the order does not depend on how many stocks follow.
    """
    prefixes = _BOARDS[board][0]
    width = len(prefixes)
    newer = np.asarray(_SPILL_PREFIXES[board], dtype=object)
    c = np.arange(len(jitter))
    prefix = np.concatenate([np.repeat(newer, 999), np.asarray(prefixes, dtype=object)[c % width]])
    number = np.concatenate([np.tile(np.arange(1, 1000), len(newer)), 1 + 2 * (c // width) + (1 - jitter)])
    return prefix, number


def _lifecycle(noise: Noise, n: int, t_len: int) -> Life:
    t, k = np.arange(t_len), np.arange(n)
    rows = t[:, None]
    ipo = noise.per_instrument(_S.IPO_FLAG, k) < 0.18
    hazard = noise.uniform(_S.IPO_HAZARD, t, k) < 1 / 700
    hazard[0] = False
    list_pos = np.where(ipo, _first_true(hazard), 0)
    age = rows - list_pos[None, :]
    # ST: 3% from the start, 3% for an episode that ends, 6% for good: ST at a hazard time, delisted 60–250
    # sessions later (so the ST warning precedes the delisting without looking ahead).
    st_draw = noise.per_instrument(_S.ST_FLAG, k)
    st_hazard = (noise.uniform(_S.ST_HAZARD, t, k) < 1 / 400) & (age >= 60)
    st_start = np.where(st_draw < 0.03, 0, np.where(st_draw < 0.12, _first_true(st_hazard), t_len))
    st_len = np.floor(noise.per_instrument(_S.ST_LEN, k) * 400).astype(np.int64)
    delisting = (st_draw >= 0.06) & (st_draw < 0.12)
    delist_pos = np.where(delisting, st_start + 60 + st_len * 190 // 400, t_len)
    st_end = np.where(delisting, delist_pos, st_start + 100 + st_len)
    listed = (age >= 0) & (rows < delist_pos[None, :])
    st = (rows >= st_start) & (rows < st_end)
    starts = listed & (age >= 5) & (noise.uniform(_S.SUSPEND, t, k) < 1 / 400)
    length = 1 + np.minimum(np.floor(-3.0 * np.log(noise.uniform(_S.SUSPEND_LEN, t, k))), 40).astype(np.int64)
    until = np.maximum.accumulate(np.where(starts, rows + length, 0), axis=0)
    suspended = listed & (rows < until)
    ex = listed & ~suspended & (age >= 20) & (noise.uniform(_S.EX, t, k) < 1 / 250)
    kind = noise.uniform(_S.EX_KIND, t, k)  # < 0.85: cash dividend 0.5–4%; else bonus shares 1.2–1.5 ×
    ratio = np.where(kind < 0.85, 1.005 + 0.035 * kind / 0.85, 1.2 + 2.0 * (kind - 0.85))
    f0 = np.where(ipo, 1.0, np.round(np.exp(2.0 * noise.per_instrument(_S.FACTOR0, k)), 3))
    factor = f0[None, :] * np.cumprod(np.where(ex, ratio, 1.0), axis=0)
    return Life(ipo, list_pos, age, listed, st & listed, suspended, factor, f0)


def _fair_log_price(noise: Noise, n: int, t_len: int, board: np.ndarray) -> tuple[np.ndarray, ...]:
    """log A (adjusted fair price), the lagged and current quality q, and each stock's sigma (module docstring)."""
    t, k = np.arange(t_len), np.arange(n)
    vol_mult = np.array([b[4] for b in _BOARDS])[board]
    price_mult = np.array([b[3] for b in _BOARDS])[board]
    p0 = 12.0 * price_mult * np.exp(0.4 * noise.per_instrument(_S.PRICE, k, normal=True))
    sigma = (0.013 + 0.012 * noise.per_instrument(_S.SIGMA, k)) * vol_mult
    beta = 0.6 + 0.8 * noise.per_instrument(_S.BETA, k)
    market = -0.0001 + 0.011 * noise.normal(_S.MARKET, t, [0])[:, 0]
    eps = noise.normal(_S.EPS, np.arange(-5, t_len), k)
    ceps = np.vstack([np.zeros((1, n)), np.cumsum(eps, axis=0)])
    past5 = ceps[5:t_len + 5] - ceps[:t_len]
    qz = noise.normal(_S.QUALITY, np.arange(-QUALITY_WINDOW - 1, t_len), k)
    cq = np.vstack([np.zeros((1, n)), np.cumsum(qz, axis=0)])
    q = (cq[QUALITY_WINDOW + 1:] - cq[1:t_len + 2]) / np.sqrt(QUALITY_WINDOW)  # q[j] = quality at row j-1
    jump_draw = noise.uniform(_S.JUMP, t, k)
    size = noise.uniform(_S.JUMP_SIZE, t, k)
    jump_scale = _BOARD_RATE[board]  # news moves scale with the board's limit
    jump = np.where(jump_draw < 0.006, np.where(size < 0.5, -1.0, 1.0) * (0.7 + 1.8 * np.abs(size - 0.5)), 0.0)
    jump = jump * jump_scale
    x = beta * market[:, None] + K_Q * q[:-1] + sigma * (eps[5:] - C_REV * past5) + jump
    return np.log(p0) + np.cumsum(x, axis=0), q[1:], sigma, p0


def _clip_to_limits(target: np.ndarray, unlimited: np.ndarray, rate: np.ndarray, fac_ratio: np.ndarray,
                    before_first: np.ndarray) -> np.ndarray:
    """Closes = fair prices clipped into limits that depend on the previous close: a fixed point.

    Days away from a limit do not depend on the past, so each sweep settles at least one more day of every
    limit run; the loop ends when a sweep changes nothing (a handful of sweeps in practice).
    """
    close = target
    for _ in range(target.shape[0] + 1):
        ref = _tick(_prev_valid(close, before_first) * fac_ratio)
        up, down = limit_prices(ref, rate)
        new = np.where(unlimited, target, np.clip(target, down, up))
        if np.array_equal(new, close, equal_nan=True):
            break
        close = new
    return close


def _stock_bars(noise: Noise, n: int, t_len: int, board: np.ndarray, life: Life) -> tuple[dict, np.ndarray]:
    """Raw daily bars of the stocks, and the (ex-rights adjusted) previous close each day's limits use."""
    t, k = np.arange(t_len), np.arange(n)
    log_a, quality, sigma, p0 = _fair_log_price(noise, n, t_len, board)
    listed, suspended, factor = life.listed, life.suspended, life.factor
    traded = listed & ~suspended
    fair = np.exp(log_a) / factor
    unlimited = listed & life.ipo[None, :] & (life.age < 5)
    ipo_day = listed & life.ipo[None, :] & (life.age == 0)
    main = np.isin(board, (0, 1))
    rate = np.where(life.st & main[None, :], ST_LIMIT_RATE, _BOARD_RATE[board][None, :])
    fac_ratio = np.vstack([life.f0[None, :], factor[:-1]]) / factor
    before_first = _tick(p0 / life.f0)
    target = np.where(traded, _tick(fair), np.nan)
    close = _clip_to_limits(target, unlimited, rate, fac_ratio, before_first)
    prev = _prev_valid(close, before_first) * fac_ratio
    pop = 0.3 + 0.7 * noise.per_instrument(_S.POP, k)
    ref = np.where(ipo_day, _tick(fair * np.exp(-pop)[None, :]), _tick(prev))
    ref[~listed] = np.nan
    up, down = limit_prices(ref, rate)
    up[unlimited], down[unlimited] = np.nan, np.nan
    ret = np.log(close / ref)
    open_ = _tick(ref * np.exp(np.where(unlimited, 0.8, 0.3) * ret + 0.3 * sigma * noise.normal(_S.OPEN, t, k)))
    open_ = np.fmax(np.fmin(open_, up), down)
    spread = 0.45 * sigma
    high = np.fmin(np.ceil(np.maximum(open_, close) * np.exp(spread * np.abs(noise.normal(_S.HIGH, t, k))) * 100
                           - 1e-6) / 100, up)
    low = np.fmax(np.floor(np.minimum(open_, close) * np.exp(-spread * np.abs(noise.normal(_S.LOW, t, k))) * 100
                           + 1e-6) / 100, np.fmax(down, 0.01))
    with np.errstate(invalid="ignore", divide="ignore"):
        sealed = ~unlimited & ((close == up) | (close == down)) & (np.abs(np.log(target / close)) > 0.04)
    open_, high, low = (np.where(sealed, close, a) for a in (open_, high, low))
    tb = np.exp(np.log(0.012) + 0.5 * noise.per_instrument(_S.TURNOVER, k, normal=True)) * np.where(board >= 2, 1.6, 1)
    zv = noise.normal(_S.VOLUME, t, k)
    turnover = np.minimum(tb * np.exp(0.35 * quality + 0.35 * zv + 6 * np.abs(ret)), 0.35) * np.where(sealed, .12, 1)
    ipo_turnover = _IPO_DAY_TURNOVER[np.clip(life.age, 0, 4)] * np.exp(0.2 * zv)
    turnover = np.where(unlimited, ipo_turnover, turnover)
    shares = np.exp(np.log(4e8) + noise.per_instrument(_S.SHARES, k, normal=True)) * factor / life.f0
    volume = np.maximum(np.rint(turnover * shares / 100), 1) * 100
    vwap = (open_ + high + low + 2 * close) / 5
    change = np.where(ipo_day, np.nan, close / prev - 1)
    bars = {"open": open_, "high": high, "low": low, "close": close, "volume": volume,
            "amount": np.round(volume * vwap, 2), "vwap": vwap, "change": change}
    for arr in bars.values():
        arr[~traded] = np.nan
    bars.update(factor=factor, limit_up=up, limit_down=down, suspended=suspended.astype(np.float64),
                st=life.st.astype(np.float64), shares=shares)
    for name in ("factor", "suspended", "st"):
        bars[name][~listed] = np.nan
    return bars, ref


def _delist_below_par(life: Life, bars: dict, ref: np.ndarray) -> Life:
    """Exchange rule: 20 consecutive closes under 1 yuan and the stock is delisted the next session."""
    below = np.nan_to_num(bars["close"], nan=np.inf) < 1.0
    count = np.cumsum(below, axis=0)
    run = count - np.maximum.accumulate(np.where(below, 0, count), axis=0)
    gone = np.arange(len(below))[:, None] > _first_true(run >= 20)[None, :]
    for arr in (*bars.values(), ref):
        arr[gone] = np.nan
    return replace(life, listed=life.listed & ~gone, st=life.st & ~gone, suspended=life.suspended & ~gone)


def _seasoned(life: Life) -> np.ndarray:
    """Past the five unlimited IPO days (stocks listed before the window always are): index-eligible."""
    return (life.age >= 5) | (life.list_pos == 0)[None, :]


def _rebalance_rows(dates: pd.DatetimeIndex) -> np.ndarray:
    """Row 0 and the first session after the second Friday of each June and December (CSI index reviews)."""
    first = dates.to_period("M").to_timestamp()
    second_friday = first + pd.to_timedelta((4 - first.weekday) % 7 + 7, unit="D")
    prev = pd.DatetimeIndex([pd.NaT]).append(dates[:-1])  # NaT compares False: row 0 is added below
    review = dates.month.isin((6, 12)) & (dates > second_friday) & (prev <= second_friday)
    return np.union1d([0], np.nonzero(review)[0])


def _csi300(dates: pd.DatetimeIndex, life: Life, cap: np.ndarray) -> np.ndarray:
    """Members: the largest min(300, half of the eligible) stocks by float cap at each review (not ST, listed
    ≥ 60 sessions), held until the next review or their delisting. Half keeps it a proper subset of a small
    universe."""
    t_len, n = cap.shape
    rows = _rebalance_rows(dates)
    members = np.zeros((t_len, n), dtype=bool)
    for p, nxt in zip(rows, [*rows[1:], t_len], strict=True):
        eligible = life.listed[p] & ~life.st[p] & ((life.age[p] >= 60) | (life.list_pos == 0))
        size = min(CSI300_SIZE, int(eligible.sum()) // 2)
        chosen = np.argsort(-np.where(eligible, cap[p], -np.inf), kind="stable")[:size]
        members[p:nxt, chosen] = True
    return members & life.listed & _seasoned(life)


def _index_bars(members: np.ndarray, cap: np.ndarray, bars: dict, ref: np.ndarray, base: float) -> dict:
    """A cap-weighted price index: each day's return is the cap-weighted mean of members' returns vs their
    previous close (suspended: 0), and so is the open; high/low reach 40% of the way to the members' mean
    high/low beyond max/min(open, close), which keeps low ≤ open, close ≤ high."""
    weight = np.where(members, np.nan_to_num(cap), 0.0)
    total = weight.sum(axis=1)
    safe_total = np.where(total > 0, total, 1.0)

    def mean_ret(field: str) -> np.ndarray:
        ratio = np.nan_to_num(bars[field] / ref, nan=1.0)
        return (weight * (ratio - 1)).sum(axis=1) / safe_total

    level = base * np.cumprod(1 + mean_ret("close"))
    prev_level = np.concatenate([[base], level[:-1]])
    open_ = prev_level * (1 + mean_ret("open"))
    top, bottom = np.maximum(open_, level), np.minimum(open_, level)
    # members do not all peak at the same minute: the index range is a fraction of their mean range
    high = top + 0.4 * (prev_level * (1 + mean_ret("high")) - top)
    low = bottom - 0.4 * (bottom - prev_level * (1 + mean_ret("low")))
    out = {"open": np.round(open_, 2), "high": np.round(high, 2), "low": np.round(low, 2), "close": np.round(level, 2)}
    prev_close = np.concatenate([[base], out["close"][:-1]])
    traded = members & ~np.isnan(bars["close"])
    out["volume"] = np.where(traded, bars["volume"], 0).sum(axis=1)
    out["amount"] = np.where(traded, bars["amount"], 0).sum(axis=1)
    out["vwap"] = np.full(len(level), np.nan)  # a per-share average price means nothing for an index
    out["change"] = out["close"] / prev_close - 1
    out["factor"] = np.ones(len(level))
    out["limit_up"] = out["limit_down"] = np.full(len(level), np.nan)
    out["suspended"] = out["st"] = np.zeros(len(level))
    out["prev_close"] = prev_close
    return out


def generate(seed: int, n: int, dates: pd.DatetimeIndex) -> Market:
    """All arrays of a synthetic market on ``dates`` (stocks first, then the indexes in `INDEX_CODES`)."""
    noise = Noise(seed)
    t_len = len(dates)
    codes, board = _instruments(noise, n)
    life = _lifecycle(noise, n, t_len)
    bars, ref = _stock_bars(noise, n, t_len, board, life)
    life = _delist_below_par(life, bars, ref)
    cap = ref * bars.pop("shares")
    csi300 = _csi300(dates, life, cap)
    is_sh = np.array([c.endswith(".SH") for c in codes])
    sh_members = life.listed & _seasoned(life) & is_sh[None, :]
    indexes = [_index_bars(m, cap, bars, ref, base) for m, base in zip((csi300, sh_members), _INDEX_BASE,
                                                                      strict=True)]
    values = {f: np.column_stack([bars[f], *(ix[f] for ix in indexes)]) for f in bars}
    return Market(
        dates=dates,
        codes=pd.Index([*codes, *INDEX_CODES], name="instrument"),
        values=values,
        listed=np.column_stack([life.listed, np.ones((t_len, len(INDEX_CODES)), dtype=bool)]),
        prev_close=np.column_stack([ref, *(ix["prev_close"] for ix in indexes)]),
        csi300=csi300,
    )
