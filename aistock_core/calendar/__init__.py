"""Trading calendar: the only authority on what a trading day is, and the one clock that says what today is.

XSHG comes from exchange_calendars, extended by the operator's holiday file and, on opt-in, by flagged provisional
days (`xshg`); a Qlib directory's ``calendars/day.txt`` (+ ``day_future.txt``) is the other source (`sessions`).
"""

from aistock_core.calendar.clock import exchange_now, exchange_today
from aistock_core.calendar.sessions import (
    SESSION_TZ,
    TradingCalendar,
    is_trading_time,
    qlib_calendar,
    session_minutes,
)
from aistock_core.calendar.xshg import xshg_calendar

__all__ = [
    "SESSION_TZ",
    "TradingCalendar",
    "exchange_now",
    "exchange_today",
    "is_trading_time",
    "qlib_calendar",
    "session_minutes",
    "xshg_calendar",
]
