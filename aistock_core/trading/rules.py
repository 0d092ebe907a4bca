"""The A-share rule set per board: price-limit rates, sessions without limits after an IPO, lots and the tick.

Every number that decides whether an order is legal lives here (DESIGN §7); the backtest, the data layer's
derived limit fields, preview accounts, the simulated broker and the risk engine read them from this module.
Boards are classified by `aistock_core.codes.board_of` (a property of the code, not a rule).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from aistock_core.codes import Board, board_of
from aistock_core.errors import InstrumentError

#: Price tick of A-share stocks, in yuan.
TICK = 0.01
#: Daily price-limit rate against the reference price (previous close adjusted for the day's corporate action).
LIMIT_RATE = {
    Board.SH_MAIN: 0.10,
    Board.SZ_MAIN: 0.10,
    Board.CHINEXT: 0.20,
    Board.STAR: 0.20,
    Board.BJ: 0.30,
}
#: Limit rate of risk-warned (ST, *ST) stocks on the main boards; ChiNext/STAR ST stocks keep their 20%.
ST_LIMIT_RATE = 0.05
#: Sessions without a price limit after listing, by board (IPO rules since the 2020/2023 registration reforms):
#: main boards only the first session (44% / -36% bands are not modelled), ChiNext and STAR the first five, BJ
#: the first session.
IPO_FREE_SESSIONS = {Board.SH_MAIN: 1, Board.SZ_MAIN: 1, Board.CHINEXT: 5, Board.STAR: 5, Board.BJ: 1}
#: (minimum buy, step) in shares: STAR ``688/689`` 200 then steps of 1; every other board lots of 100.
LOT_RULE = {Board.STAR: (200, 1)}
DEFAULT_LOT = (100, 100)


def no_trade(close: np.ndarray, volume: np.ndarray | None = None) -> np.ndarray:
    """Cells that do not trade: no valid close, or (where volume is known) nothing traded. Suspended stocks take
    no orders at all, and a holding keeps its last price while suspended."""
    out = ~np.isfinite(np.asarray(close, dtype=np.float64))
    if volume is not None:
        out |= np.nan_to_num(np.asarray(volume, dtype=np.float64)) <= 0
    return out


def limit_rate(code: str, *, st: bool = False) -> float:
    """Daily price-limit rate of one stock (indexes have none: `InstrumentError`)."""
    board = board_of(code)
    if board is Board.INDEX:
        raise InstrumentError(f"{code} is an index; indexes have no price limit")
    if st and board in (Board.SH_MAIN, Board.SZ_MAIN):
        return ST_LIMIT_RATE
    return LIMIT_RATE[board]


def limit_rates(codes: Iterable[str], st: np.ndarray | None = None) -> np.ndarray:
    """`limit_rate` for many codes at once (``st``: booleans broadcastable against the codes, e.g. (T, N)).

    Indexes give NaN instead of raising, so a mixed list can be handled in one call.
    """
    boards = [board_of(c) for c in codes]
    base = np.array([LIMIT_RATE.get(b, np.nan) for b in boards], dtype=float)
    if st is None:
        return base
    main = np.array([b in (Board.SH_MAIN, Board.SZ_MAIN) for b in boards], dtype=bool)
    return np.where(np.asarray(st, dtype=bool) & main, ST_LIMIT_RATE, base)


def ipo_free_sessions(codes: Iterable[str]) -> np.ndarray:
    """Per code, how many sessions after listing trade without a price limit."""
    return np.array([IPO_FREE_SESSIONS.get(board_of(c), 1) for c in codes], dtype=np.int64)


def lot_rule(code: str) -> tuple[int, int]:
    """(minimum buy, step) in shares for one code."""
    return LOT_RULE.get(board_of(code), DEFAULT_LOT)


def lot_rules(codes: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """(minimum buy, step) arrays in shares, as floats (they multiply float share counts)."""
    rules = np.array([lot_rule(c) for c in codes], dtype=float).reshape(-1, 2)
    return rules[:, 0], rules[:, 1]


def round_buy_shares(shares: np.ndarray, min_lot: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Shares a buy can be placed for: down to the step, zero below the minimum lot."""
    out = np.floor(np.asarray(shares, dtype=float) / step + 1e-9) * step
    return np.where(out >= min_lot, out, 0.0)


def round_sell_shares(shares: np.ndarray, held: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Shares a sell can be placed for: a whole holding as is (odd lots may only leave that way), else down to
    the step."""
    shares = np.asarray(shares, dtype=float)
    clearing = (np.abs(shares - held) <= 1e-8 + 1e-5 * held) & (held > 0)
    return np.where(clearing, held, np.floor(shares / step + 1e-9) * step)
