"""Deterministic intent keys: what makes "run the same slot twice" send nothing new.

An order's identity is what it is *for* — (instance, trading day, slot, symbol, side[, child index]) — never a
random id, so a re-run after a crash computes the same keys, finds them in ``trade_intent`` and submits nothing
again. The broker only carries a 24-character ``order_remark`` (miniQMT), so each key also has a short fixed-length
digest that goes to the broker and lets reconciliation match the broker's orders to ours after a lost
acknowledgement.
"""

from __future__ import annotations

import hashlib
import re

import pandas as pd

from aistock_core.errors import ConfigError

SIDES = ("buy", "sell")
#: miniQMT truncates ``order_remark`` beyond 24 characters; the remark is "ai" + 20 hex digits (80 bits).
REMARK_LENGTH = 22
_SLOT = re.compile(r"^([01]\d|2[0-3]):?[0-5]\d$")


def normalise_slot(slot: str) -> str:
    """``"09:35"`` or ``"0935"`` → ``"0935"``; anything else is a `ConfigError`."""
    if not _SLOT.match(slot or ""):
        raise ConfigError(f"slot {slot!r} is not a time of day HH:MM (e.g. 09:35)")
    return slot.replace(":", "")


def intent_key(instance: str, day: pd.Timestamp | str, slot: str, symbol: str, side: str,
               child: int | None = None) -> str:
    """``instance|YYYYMMDD|HHMM|symbol|side`` (the natural key of a trade intent), ``|N`` appended for the N-th
    child of an order split by the participation cap."""
    if side not in SIDES:
        raise ConfigError(f"side {side!r} must be one of {SIDES}")
    if "|" in instance:
        raise ConfigError(f"instance name {instance!r} must not contain '|'")
    key = f"{instance}|{pd.Timestamp(day):%Y%m%d}|{normalise_slot(slot)}|{symbol}|{side}"
    return key if child is None else f"{key}|{int(child)}"


def remark_of(key: str) -> str:
    """The broker-side tag of an intent key: ``"ai"`` + 20 hex digits of its SHA-256 (fits miniQMT's remark)."""
    return "ai" + hashlib.sha256(key.encode()).hexdigest()[: REMARK_LENGTH - 2]
