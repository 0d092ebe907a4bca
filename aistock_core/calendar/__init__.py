"""Trading calendar: the only authority on what a trading day is (XSHG, or a Qlib directory's calendar)."""

from aistock_core.calendar.sessions import (
    SESSION_TZ,
    TradingCalendar,
    exchange_today,
    is_trading_time,
    qlib_calendar,
    session_minutes,
    xshg_calendar,
)

__all__ = [
    "SESSION_TZ",
    "TradingCalendar",
    "exchange_today",
    "is_trading_time",
    "qlib_calendar",
    "session_minutes",
    "xshg_calendar",
]
