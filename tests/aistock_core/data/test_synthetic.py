"""SyntheticMarket daily bars: determinism, exchange rules, corporate events, indexes and the planted IC."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd
import pytest

from aistock_core.codes import Board, board_of, to_internal_many
from aistock_core.data.schema import check_panel
from aistock_core.data.synthetic import FIELDS, INDEX_CODES, SyntheticMarket
from aistock_core.data.synthetic_gen import MAX_INSTRUMENTS
from aistock_core.errors import DataError

START, END = "2021-01-04", "2023-12-29"
PRICES = ("open", "high", "low", "close")


@pytest.fixture(scope="module")
def market() -> SyntheticMarket:
    return SyntheticMarket(seed=11, n_instruments=160, start=START, end=END)


@pytest.fixture(scope="module")
def panel(market):
    return market.load(market.instruments("all"), market.calendar.sessions_in_range(START, END), FIELDS)


def _internal(market: SyntheticMarket, panel, name: str) -> np.ndarray:
    """A generator array (``prev_close``: the ex-rights adjusted reference close; ``csi300``) aligned to a panel."""
    cols = market._market.codes.get_indexer(panel.instruments)
    rows = market._market.dates.get_indexer(panel.dates)
    return getattr(market._market, name)[np.ix_(rows, cols)]


def _all_equal(a: dict, b: dict) -> bool:
    return all(np.array_equal(a[f], b[f], equal_nan=True) for f in a)


def test_same_arguments_give_bit_identical_arrays(market, panel):
    again = SyntheticMarket(seed=11, n_instruments=160, start=START, end=END)
    other = again.load(list(panel.instruments), panel.dates, FIELDS)
    assert _all_equal(panel.values, other.values)
    assert np.array_equal(panel.listed, other.listed)
    different = SyntheticMarket(seed=12, n_instruments=160, start=START, end=END)
    assert not np.array_equal(different._market.values["close"], market._market.values["close"], equal_nan=True)


def test_history_does_not_depend_on_size_or_end(market):
    small = SyntheticMarket(seed=11, n_instruments=40, start=START, end="2022-12-30")
    codes = small.instruments("all")
    assert set(codes) <= set(market.instruments("all"))
    dates = small.calendar.sessions_in_range(START, "2022-12-30")
    a, b = small.load(codes, dates, FIELDS), market.load(codes, dates, FIELDS)
    assert _all_equal(a.values, b.values)
    assert np.array_equal(a.listed, b.listed)


def test_bars_pass_the_schema_on_tick_and_nonnegative(panel):
    check_panel(panel, "synthetic")
    for f in PRICES:
        arr = panel[f][~np.isnan(panel[f])]
        assert np.allclose(arr * 100, np.round(arr * 100), atol=1e-6), f
    assert np.nanmin(panel["volume"]) >= 100 and np.nanmin(panel["amount"]) > 0
    vwap = panel["vwap"]
    with np.errstate(invalid="ignore"):
        assert not (vwap < panel["low"] - 1e-9).any() and not (vwap > panel["high"] + 1e-9).any()


def test_codes_span_every_board(market):
    boards = {board_of(c) for c in market.instruments("all")}
    assert {Board.SH_MAIN, Board.SZ_MAIN, Board.CHINEXT, Board.STAR, Board.BJ} <= boards
    prefixes = {c[:3] for c in market.instruments("all")}
    assert {"600", "601", "603", "605", "000", "001", "002", "300", "301", "688"} <= prefixes


@pytest.mark.parametrize("n", [5000, MAX_INSTRUMENTS])
def test_large_markets_get_valid_unique_codes_on_the_right_board(n):
    """Past ~4980 stocks a classic prefix ran out of 3-digit numbers ('0001000.SZ'); later stocks now spill to
    the board's newer prefixes (SZ 003, ...) and unused numbers, while earlier codes and histories stay put."""
    window = {"seed": 7, "start": "2024-03-01", "end": "2024-03-08"}
    big, small = SyntheticMarket(n_instruments=n, **window), SyntheticMarket(n_instruments=300, **window)
    codes = list(big._market.codes[:n])  # every generated stock, listed in the window or not
    assert len(set(codes)) == n
    assert to_internal_many(codes) == codes  # valid NNNNNN.SH|SZ|BJ spellings
    boards = pd.Series([board_of(c) for c in codes]).value_counts()
    mix = {Board.SH_MAIN: 7, Board.SZ_MAIN: 6, Board.CHINEXT: 4, Board.STAR: 2, Board.BJ: 1}
    assert boards.to_dict() == {b: k * n // 20 for b, k in mix.items()}
    # The generator's board (it sets the price limits) agrees with the board the code names.
    rate = big._market.values["limit_up"][:, :n] / big._market.prev_close[:, :n] - 1
    main = pd.Index(codes).str[:3].isin(["600", "601", "603", "605", "000", "001", "002", "003"])
    with np.errstate(invalid="ignore"):
        assert np.nanmax(rate[:, main]) < 0.11 and np.nanmin(rate[:, ~main]) > 0.15
    assert {c[:3] for c in codes} >= {"600", "601", "603", "605", "000", "001", "002", "003", "300", "301", "688"}
    assert codes[:300] == list(small._market.codes[:300])
    for field in ("close", "volume", "factor"):
        assert np.array_equal(big._market.values[field][:, :300], small._market.values[field][:, :300],
                              equal_nan=True)


def _limit(ref: float, rate: float) -> float:
    """The exchange computation in exact decimals: ref × (1 + rate), rounded half up to the cent."""
    exact = Decimal(str(float(ref))) * (1 + Decimal(str(float(rate))))
    return max(float(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)), 0.01)


def test_limits_use_the_exchange_rule_and_board_rates(market, panel):
    ref = _internal(market, panel, "prev_close")
    up, down, close, st = panel["limit_up"], panel["limit_down"], panel["close"], panel["st"] == 1
    limited = ~np.isnan(up)
    with np.errstate(invalid="ignore"):
        assert not (close > up).any() and not (close < down).any()
    rate = np.empty(up.shape)
    for i, code in enumerate(panel.instruments):
        board = board_of(code)
        base = {Board.CHINEXT: 0.2, Board.STAR: 0.2, Board.BJ: 0.3}.get(board, 0.1)
        rate[:, i] = np.where(st[:, i] & (board in (Board.SH_MAIN, Board.SZ_MAIN)), 0.05, base)
    t, i = np.nonzero(limited)
    sample = np.random.default_rng(0).choice(len(t), 3000, replace=False)
    for k in sample:
        r, p = rate[t[k], i[k]], ref[t[k], i[k]]
        assert up[t[k], i[k]] == _limit(p, r), (panel.instruments[i[k]], panel.dates[t[k]])
        assert down[t[k], i[k]] == _limit(p, -r)
    st_main = st & (rate == 0.05)
    assert st_main.sum() > 100, "ST stocks on the main boards (5% limit) exist"
    for r in (0.05, 0.1, 0.2, 0.3):
        assert ((close == up) & (rate == r)).any(), f"a limit-up close at rate {r}"
        assert ((close == down) & (rate == r)).any() or r == 0.3, f"a limit-down close at rate {r}"


def test_ipos_have_five_unlimited_days_then_limits(market, panel):
    spans = market.instrument_spans("all")
    ipos = spans[spans["start"] > panel.dates[0]]
    assert len(ipos) >= 5
    big_first_day = 0
    for code, start in zip(ipos["instrument"], ipos["start"], strict=True):
        i, t0 = panel.instruments.get_loc(code), panel.dates.get_loc(start)
        assert np.isnan(panel["limit_up"][t0:t0 + 5, i]).all()
        assert np.isnan(panel["change"][t0, i])
        if t0 + 5 < len(panel.dates) and panel["suspended"][t0 + 5, i] == 0:
            assert not np.isnan(panel["limit_up"][t0 + 5, i])
        issue = _internal(market, panel, "prev_close")[t0, i]
        big_first_day += panel["close"][t0, i] / issue - 1 > 0.3
    assert big_first_day >= len(ipos) // 2, "IPO first days move far past any limit"


def test_sealed_one_price_limit_bars_exist(panel):
    one_price = np.logical_and.reduce([panel[f] == panel["close"] for f in ("open", "high", "low")])
    at_limit = (panel["close"] == panel["limit_up"]) | (panel["close"] == panel["limit_down"])
    assert (one_price & at_limit).sum() >= 20
    assert ((panel["close"] == panel["limit_up"]) & ~one_price).any(), "limit-up days that opened below the limit"


def test_suspensions_are_listed_nan_rows_with_multi_day_runs(panel):
    susp = panel["suspended"] == 1
    assert susp.sum() > 50
    assert panel.listed[susp].all()
    for f in (*PRICES, "volume", "amount", "vwap", "change"):
        assert np.isnan(panel[f][susp]).all(), f
    assert not np.isnan(panel["limit_up"][susp & ~np.isnan(panel["factor"])]).all()
    runs = np.diff(np.vstack([np.zeros((1, susp.shape[1])), susp, np.zeros((1, susp.shape[1]))]).T, axis=1)
    lengths = np.nonzero(runs.ravel() == -1)[0] - np.nonzero(runs.ravel() == 1)[0]
    assert lengths.max() >= 3 and (lengths == 1).any()


def test_listing_spans_match_the_listed_mask(market, panel):
    spans = market.instrument_spans("all")
    assert list(spans.columns) == ["instrument", "start", "end"]
    assert (spans["end"] < panel.dates[-1]).sum() >= 2, "delistings before the end"
    assert (spans["start"] > panel.dates[0]).sum() >= 2, "listings after the start"
    rebuilt = np.zeros_like(panel.listed)
    for code, start, end in spans.itertuples(index=False):
        rebuilt[(panel.dates >= start) & (panel.dates <= end), panel.instruments.get_loc(code)] = True
    assert np.array_equal(rebuilt, panel.listed)
    for f in FIELDS:
        assert np.isnan(panel[f][~panel.listed]).all(), f
    assert market.instruments("all", at=START) != market.instruments("all", at=END)


def test_ex_rights_gap_raw_prices_but_not_adjusted_ones(market, panel):
    factor, close = panel["factor"], panel["close"]
    prev_factor = np.vstack([factor[:1], factor[:-1]])
    ex = (factor > prev_factor) & ~np.isnan(close)
    assert ex.sum() > 50 and (factor / prev_factor > 1.15)[ex].any(), "dividends and bonus issues"
    ref = _internal(market, panel, "prev_close")
    prev_close = pd.DataFrame(close).ffill().shift(1).to_numpy()
    t, i = np.nonzero(ex)
    ratio = prev_factor[t, i] / factor[t, i]
    assert np.allclose(ref[t, i], np.round(prev_close[t, i] * ratio, 2), atol=0.0051)
    adjusted = close * factor
    prev_adjusted = pd.DataFrame(adjusted).ffill().shift(1).to_numpy()
    change = adjusted / prev_adjusted - 1
    both = ~np.isnan(change)
    assert np.allclose(change[both], panel["change"][both], rtol=1e-9, atol=1e-12)
    assert np.isnan(panel["change"][both]).sum() == 0
    # on ex-rights days the adjusted return stays inside the (widest) limit, while raw prices gap down
    assert np.abs(panel["change"][ex]).max() < 0.3 + 0.01
    big = ex & (factor / prev_factor > 1.15)
    assert (close[big] < prev_close[big] * 0.9).mean() > 0.5


def test_indexes_are_cap_weighted_over_their_members(market):
    dates = market.calendar.sessions_in_range(START, END)
    idx = market.load(list(INDEX_CODES), dates, FIELDS)
    assert idx.listed.all() and (idx["factor"] == 1).all() and (idx["suspended"] == 0).all()
    check_panel(idx, "synthetic indexes")
    assert market.instruments("index") == sorted(INDEX_CODES)
    assert set(market.markets()) == {"all", "csi300", "index"}
    stocks = market.load(market.instruments("all"), dates, ["volume", "change"])
    sh = np.array([c.endswith(".SH") for c in stocks.instruments])
    sh_volume = np.nansum(np.where(sh, stocks["volume"], 0), axis=1)
    sse = idx.instruments.get_loc("000001.SH")
    assert np.all(idx["volume"][:, sse] <= sh_volume + 1e-6) and np.mean(idx["volume"][:, sse] / sh_volume) > 0.9
    csi = market.instrument_spans("csi300")
    assert csi["instrument"].isin(market.instruments("all")).all()
    for day in (START, "2022-06-30", END):
        members = market.instruments("csi300", at=day)
        assert 0 < len(members) <= 300
    assert market.instruments("csi300", at=START) != market.instruments("csi300", at=END), "rebalanced"
    # CSI300 moves like the cap-weighted members: correlation of daily returns with the members' mean
    members_mask = _internal(market, stocks, "csi300")
    mean_ret = np.nanmean(np.where(members_mask, stocks["change"], np.nan), axis=1)
    csi_ret = idx["change"][:, idx.instruments.get_loc("000300.SH")]
    assert np.corrcoef(mean_ret[1:], csi_ret[1:])[0, 1] > 0.8
    # a weighted mean lies between its members' extremes (suspended members count as 0)
    member_ret = np.where(members_mask, np.nan_to_num(stocks["change"]), np.nan)
    slack = 2e-6  # the index level is published to the cent
    assert np.all(csi_ret >= np.nanmin(member_ret, axis=1) - slack)
    assert np.all(csi_ret <= np.nanmax(member_ret, axis=1) + slack)


def _daily_rank_ic(signal: pd.DataFrame, nxt: pd.DataFrame) -> pd.Series:
    return signal.rank(axis=1).corrwith(nxt.rank(axis=1), axis=1).dropna()


def test_reversal_signal_has_modest_positive_ic():
    """Documented in the module docstring: −(5-day return) has a daily rank IC of about +0.03, and the latent
    quality leaks into volume (a 5/60-day volume ratio has a small positive IC)."""
    m = SyntheticMarket(seed=7, n_instruments=300, start="2020-01-02", end="2023-12-29")
    dates = m.calendar.sessions_in_range("2020-01-02", "2023-12-29")
    p = m.load(m.instruments("all"), dates, ["close", "factor", "change", "volume"])
    adjusted = pd.DataFrame(p["close"] * p["factor"])
    nxt = pd.DataFrame(p["change"]).shift(-1)
    ic = _daily_rank_ic(-adjusted.pct_change(5, fill_method=None), nxt)
    assert len(ic) > 900
    assert 0.015 < ic.mean() < 0.07, ic.mean()
    assert (ic > 0).mean() > 0.55
    volume = pd.DataFrame(p["volume"] / p["factor"])
    ratio = volume.rolling(5, min_periods=3).mean() / volume.rolling(60, min_periods=20).mean()
    assert 0.005 < _daily_rank_ic(ratio, nxt).mean() < 0.05


@pytest.mark.clock
@pytest.mark.parametrize(("now", "last"), [("2024-10-08 09:00", "2024-09-30"),  # the day after National Day
                                           ("2026-11-16 10:00", "2026-11-13"),  # a Monday: the Friday before
                                           ("2027-03-01", "2026-12-31")])  # past the horizon: the last session
def test_default_end_is_the_last_session_before_today(set_now, now, last):
    set_now(now)
    assert SyntheticMarket(n_instruments=5).data_range()[1] == pd.Timestamp(last)


def test_bad_requests_raise_clear_errors(market):
    dates = market.calendar.sessions_in_range("2022-01-04", "2022-01-10")
    with pytest.raises(DataError, match="unknown instrument"):
        market.load(["600999.SH"], dates, ["close"])
    with pytest.raises(DataError, match="not in synthetic"):
        market.load(market.instruments("all")[:2], dates, ["turnover"])
    with pytest.raises(DataError, match="not a session"):
        market.load(market.instruments("all")[:2], pd.DatetimeIndex(["2022-01-08"]), ["close"])
    with pytest.raises(DataError, match="unknown market"):
        market.instrument_spans("csi500")
    with pytest.raises(DataError, match="n_instruments"):
        SyntheticMarket(n_instruments=0)
    with pytest.raises(DataError, match="n_instruments"):
        SyntheticMarket(n_instruments=MAX_INSTRUMENTS + 1)
