"""Instrument codes: every accepted spelling, boards, price-limit rates and lot rules."""

from __future__ import annotations

import pandas as pd
import pytest

from aistock_core.codes import (
    Board,
    board_of,
    normalise_index,
    to_internal,
    to_internal_many,
    to_qlib,
)
from aistock_core.errors import AistockError, InstrumentError


@pytest.mark.parametrize(
    ("spelling", "internal"),
    [
        ("600000.SH", "600000.SH"),
        ("600000.sh", "600000.SH"),
        ("SH600000", "600000.SH"),
        ("sh600000", "600000.SH"),
        ("Sh600000", "600000.SH"),
        ("600000.XSHG", "600000.SH"),
        ("600000.xshg", "600000.SH"),
        ("000001.XSHE", "000001.SZ"),
        ("430047.BJSE", "430047.BJ"),
        ("SZ000001", "000001.SZ"),
        ("bj430047", "430047.BJ"),
        ("  600000.SH \n", "600000.SH"),
        # bare codes are placed by their first digit(s)
        ("600000", "600000.SH"),
        ("601318", "601318.SH"),
        ("688981", "688981.SH"),
        ("900901", "900901.SH"),
        ("000001", "000001.SZ"),
        ("002594", "002594.SZ"),
        ("300750", "300750.SZ"),
        ("200002", "200002.SZ"),
        ("430047", "430047.BJ"),
        ("830799", "830799.BJ"),
        ("920002", "920002.BJ"),
        # indexes keep the exchange their suffix names
        ("000300.SH", "000300.SH"),
        ("SH000300", "000300.SH"),
        ("399006.SZ", "399006.SZ"),
    ],
)
def test_to_internal_accepts_every_spelling(spelling, internal):
    assert to_internal(spelling) == internal


@pytest.mark.parametrize("bad", ["60000", "6000000", "600000.SS", "XX600000", "600000.XSHX", "", "abc", "500000"])
def test_to_internal_rejects_and_names_the_code(bad):
    with pytest.raises(InstrumentError) as info:
        to_internal(bad)
    assert repr(bad) in str(info.value)
    assert isinstance(info.value, AistockError)


def test_bare_code_that_cannot_be_placed_says_how_to_write_it():
    with pytest.raises(InstrumentError, match=r"cannot place bare code '500000'.*600000\.SH"):
        to_internal("500000")


def test_non_string_code_is_an_instrument_error():
    with pytest.raises(InstrumentError, match="must be a string, got 600000"):
        to_internal(600000)  # type: ignore[arg-type]


def test_to_qlib_and_many():
    assert to_qlib("600000") == "SH600000"
    assert to_qlib("000300.SH") == "SH000300"
    assert to_qlib("bj430047") == "BJ430047"
    assert to_internal_many(["sh600000", "000001", "sh600000", "688001.XSHG"]) == [
        "600000.SH", "000001.SZ", "600000.SH", "688001.SH"]


@pytest.mark.parametrize(
    ("code", "board"),
    [
        ("600000.SH", Board.SH_MAIN),
        ("605499.SH", Board.SH_MAIN),
        ("688981.SH", Board.STAR),
        ("689009.SH", Board.STAR),
        ("000001.SZ", Board.SZ_MAIN),
        ("002594.SZ", Board.SZ_MAIN),
        ("300750.SZ", Board.CHINEXT),
        ("301269.SZ", Board.CHINEXT),
        ("430047.BJ", Board.BJ),
        ("830799", Board.BJ),
        ("000300.SH", Board.INDEX),
        ("000001.SH", Board.INDEX),
        ("399006.SZ", Board.INDEX),
    ],
)
def test_board_of(code, board):
    assert board_of(code) is board


def test_same_digits_are_a_stock_on_sz_and_an_index_on_sh():
    assert board_of("000001.SZ") is Board.SZ_MAIN
    assert board_of("000001.SH") is Board.INDEX


def test_normalise_index_converts_only_the_instrument_level():
    index = pd.MultiIndex.from_arrays(
        [pd.to_datetime(["2024-01-02", "2024-01-02"]), ["SH600000", "sz000001"]], names=["datetime", "instrument"]
    )
    out = normalise_index(index)
    assert list(out.get_level_values("instrument")) == ["600000.SH", "000001.SZ"]
    assert list(out.get_level_values("datetime")) == list(index.get_level_values("datetime"))
    flat = normalise_index(pd.Index(["600000", "300750"], name="instrument"))
    assert list(flat) == ["600000.SH", "300750.SZ"]
    assert flat.name == "instrument"


def test_normalise_index_names_a_bad_code():
    with pytest.raises(InstrumentError, match="'bogus'"):
        normalise_index(pd.Index(["600000.SH", "bogus"], name="instrument"))
