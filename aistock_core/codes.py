"""Instrument codes: one converter to the internal Tushare/xtquant form (``600000.SH``) and the board a code
trades on (the rules per board live in `aistock_core.trading.rules`).

Codes from outside (Qlib's ``SH600000``, files' ``sh600000`` or ``600000``, Wind/JQ ``600000.XSHG``) are
converted at the edges with `to_internal`; everything inside uses the internal form.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum

import pandas as pd

from aistock_core.errors import InstrumentError

_INTERNAL = re.compile(r"^(\d{6})\.(SH|SZ|BJ)$")
_PREFIXED = re.compile(r"^(SH|SZ|BJ)(\d{6})$")
_JQ = re.compile(r"^(\d{6})\.(XSHG|XSHE|BJSE)$")
_BARE = re.compile(r"^\d{6}$")
_JQ_EXCHANGE = {"XSHG": "SH", "XSHE": "SZ", "BJSE": "BJ"}

#: Index codes known inside the project; a bare 000300/000001 is ambiguous, so indexes must carry a suffix.
INDEXES = frozenset({"000300.SH", "000001.SH", "000905.SH", "000852.SH", "399001.SZ", "399006.SZ"})


class Board(StrEnum):
    SH_MAIN = "sh_main"
    SZ_MAIN = "sz_main"
    CHINEXT = "chinext"
    STAR = "star"
    BJ = "bj"
    INDEX = "index"


def _exchange_of_bare(code: str) -> str:
    """Place a bare 6-digit stock code on its exchange (stocks only: indexes need a suffix)."""
    if code[:2] == "92":  # Beijing Stock Exchange codes since 2024 (920xxx); 900xxx are Shanghai B shares
        return "BJ"
    if code[0] in "69":
        return "SH"
    if code[0] in "0123":
        return "SZ"
    if code[0] in "48":
        return "BJ"
    raise InstrumentError(f"cannot place bare code {code!r} on an exchange; write it as e.g. 600000.SH")


def to_internal(code: str) -> str:
    """Convert any supported spelling to ``NNNNNN.SH|SZ|BJ``; raise `InstrumentError` naming the code."""
    if not isinstance(code, str):
        raise InstrumentError(f"instrument code must be a string, got {code!r}")
    text = code.strip().upper()
    if m := _INTERNAL.match(text):
        return text
    if m := _PREFIXED.match(text):
        return f"{m.group(2)}.{m.group(1)}"
    if m := _JQ.match(text):
        return f"{m.group(1)}.{_JQ_EXCHANGE[m.group(2)]}"
    if _BARE.match(text):
        return f"{text}.{_exchange_of_bare(text)}"
    raise InstrumentError(
        f"unrecognised instrument code {code!r}; expected 600000.SH, SH600000, sh600000, 600000 or 600000.XSHG"
    )


def to_internal_many(codes: Iterable[str]) -> list[str]:
    """Vector form of `to_internal`, converting each distinct code once."""
    codes = list(codes)
    mapping = {c: to_internal(c) for c in dict.fromkeys(codes)}
    return [mapping[c] for c in codes]


def to_qlib(code: str) -> str:
    """Internal ``600000.SH`` → Qlib's ``SH600000`` (directory and instrument-file spelling)."""
    internal = to_internal(code)
    return f"{internal[7:]}{internal[:6]}"


def board_of(code: str) -> Board:
    """The board a stock trades on (indexes in `INDEXES` give `Board.INDEX`)."""
    internal = to_internal(code)
    if internal in INDEXES:
        return Board.INDEX
    digits, exchange = internal[:6], internal[7:]
    if exchange == "BJ":
        return Board.BJ
    if exchange == "SH":
        return Board.STAR if digits[:3] in ("688", "689") else Board.SH_MAIN
    if digits[:3] in ("300", "301"):
        return Board.CHINEXT
    return Board.SZ_MAIN


def normalise_index(index: pd.MultiIndex | pd.Index) -> pd.Index:
    """Convert the ``instrument`` level (or a flat index of codes) to internal codes."""
    if isinstance(index, pd.MultiIndex):
        arrays = [index.get_level_values(i) for i in range(index.nlevels)]
        level = index.names.index("instrument")
        arrays[level] = pd.Index(to_internal_many(arrays[level]), name="instrument")
        return pd.MultiIndex.from_arrays(arrays, names=index.names)
    return pd.Index(to_internal_many(index), name=index.name)
