"""`SyntheticMarket`: the embedded default data source, a seeded A-share market on the real XSHG calendar.

Everything downstream (factors, models, backtests, preview, the demo) must run with no data files, and the
edge cases of the real market must show up in it: boards with different price limits, ST stocks, IPOs with
five unlimited days, delistings, multi-day suspensions, ex-rights days, sealed one-price limit bars, indexes.

Randomness is counter-based: every draw is a hash of (seed, stream, session position, instrument number), so
the arrays are bit-identical for the same arguments, an instrument's history does not depend on how many
others are generated, and a later ``end`` only appends days (everything is causal in time).

Price model (per stock i, session t; log returns of the adjusted "fair" price A, raw fair price F = A / factor):

    x[t,i] = beta_i * m[t] + K_Q * q[t-1,i] + sigma_i * (e[t,i] - C_REV * sum_{j=1..5} e[t-j,i]) + jump[t,i]

- ``m`` market return (-0.01% ± 1.1% a day), ``beta_i`` 0.6–1.4, ``sigma_i`` 1.3–2.5% (× 1.3 ChiNext/STAR,
  × 1.5 Beijing), ``e`` i.i.d. N(0, 1), ``jump`` rare (0.6% of days) news moves of ±0.7–1.6 × the board's limit.
- ``q`` is a slow latent "quality": a 60-day moving sum of white noise scaled to unit variance, K_Q = 0.0008.
  It is never published but leaks into turnover: ``turnover = base_i · exp(0.35 q + 0.35 z + 6 |return|)``.
- ``C_REV`` = 0.02 gives short-term reversal: the 5-day return predicts the next day's with the opposite sign.

The raw close is F on the 0.01 tick, clipped into the day's limits; limits follow the exchange rule
``round_half_up(ref_prev_close × (1 ± rate), 2)`` (main 10%, ST on the main boards 5%, ChiNext/STAR 20%,
Beijing 30%, none on an IPO's first five days) with ``ref_prev_close`` the last traded close adjusted for that
day's ex-rights. A fair price more than 4% past a limit gives a sealed one-price bar; limit runs go on until
the close catches up with F (a fixed-point iteration, converging in "longest limit run" sweeps).

Life cycle: 18% of stocks list after the first session (hazard 1/700 a day), 3% are ST from the start, 3%
have an ST episode, 6% go ST and are delisted 60–250 sessions later; 20 closes under 1 yuan also delist.
Suspensions start on 1/400 of days and last 1 + Exp(3) sessions; ex-rights days on 1/250 (85% cash
dividends of 0.5–4%, 15% bonus issues of 1.2–1.5×); ``factor`` is Tushare's adj_factor (raw × factor is
continuous; 1.0 at an IPO).

Expected daily cross-sectional rank IC against the next day's return (seed 7, 300 stocks, 2020–2024):
``-(5-day return)`` ≈ +0.030 (IC/std ≈ 0.45), the unobservable ``q`` ≈ +0.037, a 5/60-day volume ratio
≈ +0.017, a 20-day mean volume ≈ +0.007; -(1-day return) ≈ +0.011. Asserted in
tests/aistock_core/data/test_synthetic.py::test_reversal_signal_has_modest_positive_ic.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np
import pandas as pd

from aistock_core.calendar import SESSION_TZ, TradingCalendar, exchange_today, xshg_calendar
from aistock_core.codes import to_internal_many
from aistock_core.data import intraday
from aistock_core.data.panel import Panel
from aistock_core.data.provider import SPAN_COLUMNS, BarProvider, QuoteSource
from aistock_core.data.schema import check_panel
from aistock_core.data.synthetic_gen import INDEX_CODES, MAX_INSTRUMENTS, Market, Noise, generate
from aistock_core.errors import CalendarError, DataError

__all__ = ["FIELDS", "INDEX_CODES", "SyntheticMarket"]

FIELDS = ("open", "high", "low", "close", "volume", "amount", "vwap", "factor", "change", "limit_up",
          "limit_down", "suspended", "st")

#: Minute paths are keyed by the code itself (not the generation order), so 000001.SZ ≠ 000001.SH.
_EXCHANGE_KEY = {"SH": 0, "SZ": 1, "BJ": 2}


def _spans(mask: np.ndarray, dates: pd.DatetimeIndex, codes: Sequence[str]) -> pd.DataFrame:
    """Continuous runs of True per column as ``instrument, start, end`` rows, sorted."""
    padded = np.vstack([np.zeros((1, mask.shape[1]), bool), mask, np.zeros((1, mask.shape[1]), bool)])
    edges = np.diff(padded.astype(np.int8), axis=0).T  # (N, T+1)
    col_s, start = np.nonzero(edges == 1)
    _, stop = np.nonzero(edges == -1)
    frame = pd.DataFrame({"instrument": np.asarray(codes, dtype=object)[col_s], "start": dates[start],
                          "end": dates[stop - 1]}, columns=list(SPAN_COLUMNS))
    return frame.sort_values(["instrument", "start"], ignore_index=True)


class SyntheticMarket(BarProvider, QuoteSource):
    """A seeded synthetic A-share market: daily bars (raw prices + ``factor``) and simulated intraday quotes.

    Bars cover the sessions ``start..end`` (``end=None``: the last session strictly before today, Shanghai
    time). The next session after ``end`` is generated too but only visible through `snapshot` and
    `minute_path`: it is "today" for a live-like loop. Construction is cheap; arrays are built on first use.
    """

    native_adjust = None

    def __init__(self, seed: int = 7, n_instruments: int = 300, start="2020-01-02", end=None,
                 calendar: TradingCalendar | None = None) -> None:
        if not 1 <= int(n_instruments) <= MAX_INSTRUMENTS:
            raise DataError(f"n_instruments must be between 1 and {MAX_INSTRUMENTS}, got {n_instruments}")
        self.seed, self.n_instruments = int(seed), int(n_instruments)
        self._calendar = calendar or xshg_calendar()
        cal = self._calendar
        end_day = cal.last_session_before(exchange_today()) if end is None else cal.last_session_on_or_before(end)
        self._dates = pd.DatetimeIndex(cal.sessions_in_range(start, end_day), name="datetime")
        if len(self._dates) == 0:
            raise CalendarError(f"no sessions between {start} and {end_day:%Y-%m-%d} on {cal.name}; check start/end")
        live = cal.sessions_in_range(end_day + pd.Timedelta(days=1))[:1]
        self._gen_dates = self._dates.append(pd.DatetimeIndex(live)).rename("datetime")
        self._span_cache: dict[str, pd.DataFrame] = {}
        self.name = f"synthetic(seed={self.seed}, n={self.n_instruments})"

    # -- BarProvider ----------------------------------------------------------------------------------------
    @property
    def calendar(self) -> TradingCalendar:
        return self._calendar

    def fields(self) -> tuple[str, ...]:
        return FIELDS

    def markets(self) -> list[str]:
        return ["all", "csi300", "index"]

    def data_range(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        return self._dates[0], self._dates[-1]

    def instrument_spans(self, market: str = "all") -> pd.DataFrame:
        """Listing spans of ``market``; computed once per market (every universe resolution asks, and the
        simulated broker resolves one per order), returned as a copy."""
        self._require_market(market)
        if market not in self._span_cache:
            mk, t = self._market, len(self._dates)
            n = self.n_instruments
            if market == "all":
                spans = _spans(mk.listed[:t, :n], self._dates, mk.codes[:n])
            elif market == "csi300":
                spans = _spans(mk.csi300[:t], self._dates, mk.codes[:n])
            else:
                spans = _spans(mk.listed[:t, n:], self._dates, mk.codes[n:])
            self._span_cache[market] = spans
        return self._span_cache[market].copy()

    def load(self, instruments: Sequence[str], dates: pd.DatetimeIndex, fields: Sequence[str]) -> Panel:
        unknown = [f for f in fields if f not in FIELDS]
        if unknown:
            raise DataError(f"field(s) {unknown} not in {self.name}; available: {', '.join(FIELDS)}")
        cols = self._columns(instruments)
        rows = self._dates.get_indexer(pd.DatetimeIndex(dates))
        if (rows < 0).any():
            bad = pd.DatetimeIndex(dates)[rows < 0][0]
            raise DataError(f"{bad:%Y-%m-%d} is not a session of {self.name} (bars cover "
                            f"{self._dates[0]:%Y-%m-%d}..{self._dates[-1]:%Y-%m-%d}); pass sessions in that range")
        mk = self._market
        grid = np.ix_(rows, cols)
        return Panel(dates=pd.DatetimeIndex(dates, name="datetime"),
                     instruments=pd.Index(mk.codes[cols], name="instrument"),
                     values={f: mk.values[f][grid] for f in fields}, listed=mk.listed[grid])

    # -- intraday -------------------------------------------------------------------------------------------
    def minute_path(self, day, instruments: Sequence[str]) -> np.ndarray:
        """(240, N) minute closes of ``day`` (bars ending 09:31..15:00, see `session_minutes`), raw prices.

        Consistent with the daily bar: ``max = high``, ``min = low``, last = close, the first minute opens at
        the day's open; NaN for suspended or unlisted instruments. Deterministic per (seed, day, instrument).
        """
        return self._day_path(self._gen_row(day), self._columns(instruments))[1:]

    def snapshot(self, instruments: Sequence[str], at) -> pd.DataFrame:
        """Simulated quotes at ``at`` (naive = Shanghai time): the running day bar, last price as ``close``.

        Before 09:30 the previous session's final state; lunch break = the 11:30 state; after 15:00 the day's
        final bar; on a non-trading day the last session's final state. ``datetime`` (tz-aware) is the moment
        the state describes (the last completed minute bar's end). ``prev_close`` is the exchange's reference
        close (ex-rights adjusted; the issue price on an IPO day). An extra boolean column ``suspended``
        marks suspended stocks (no prices, volume 0); unlisted instruments are all-NaN rows.
        """
        stamp = pd.Timestamp(at)
        local = stamp.tz_convert(SESSION_TZ).tz_localize(None) if stamp.tzinfo is not None else stamp
        cols = self._columns(instruments)
        day = local.normalize()
        done = intraday.bars_done(local) if self._calendar.is_session(day) else intraday.N_MINUTES
        if done is None:
            day, done = self._calendar.previous(day), intraday.N_MINUTES
        row = self._gen_row(self._calendar.last_session_on_or_before(day))
        mk = self._market
        v = {f: mk.values[f][row, cols] for f in ("volume", "amount", "limit_up", "limit_down", "suspended")}
        state = intraday.cumulative_state(self._day_path(row, cols), v["volume"], v["amount"], done)
        listed = mk.listed[row, cols]
        for name in ("volume", "amount"):
            state[name] = np.where(v["suspended"] == 1, 0.0, state[name])
        frame = pd.DataFrame(state, index=pd.Index(mk.codes[cols], name="instrument"))
        frame.insert(0, "datetime", intraday.state_time(mk.dates[row], done))
        frame["prev_close"] = np.where(listed, mk.prev_close[row, cols], np.nan)
        frame["limit_up"], frame["limit_down"] = v["limit_up"], v["limit_down"]
        frame["suspended"] = v["suspended"] == 1
        return frame

    def _day_path(self, row: int, cols: np.ndarray) -> np.ndarray:
        mk = self._market
        o, h, lo, c = (mk.values[f][row, cols] for f in ("open", "high", "low", "close"))
        day_key = int(mk.dates[row].value // 86_400_000_000_000)
        keys = np.array([int(code[:6]) * 4 + _EXCHANGE_KEY[code[7:]] for code in mk.codes[cols]])
        noise = Noise(self.seed)
        z = noise.normal(101, day_key * 256 + np.arange(intraday.N_MINUTES), keys)
        u = noise.uniform(102, day_key * 4 + np.arange(3), keys)
        t_high, t_low = intraday.knot_minutes(u[0], u[1], u[2])
        return intraday.bridge_path(o, h, lo, c, z, t_high, t_low)

    def _gen_row(self, day) -> int:
        stamp = pd.Timestamp(day).normalize()
        pos = self._gen_dates.get_indexer([stamp])[0]
        if pos < 0:
            raise DataError(f"{stamp:%Y-%m-%d} is not a session of {self.name}, which simulates "
                            f"{self._gen_dates[0]:%Y-%m-%d}..{self._gen_dates[-1]:%Y-%m-%d}; construct it with a "
                            f"later end (or pass a day in range)")
        return int(pos)

    def _columns(self, instruments: Sequence[str]) -> np.ndarray:
        codes = to_internal_many([instruments] if isinstance(instruments, str) else instruments)
        cols = self._market.codes.get_indexer(codes)
        if (cols < 0).any():
            missing = [c for c, k in zip(codes, cols, strict=True) if k < 0]
            raise DataError(f"unknown instrument(s) {', '.join(missing[:10])} in {self.name}; see instruments()")
        return cols

    @cached_property
    def _market(self) -> Market:
        market = generate(self.seed, self.n_instruments, self._gen_dates)
        # The generator is held to the same rules as any outside source, once per generation.
        check_panel(Panel(dates=market.dates, instruments=market.codes, values=market.values,
                          listed=market.listed), self.name)
        return market
