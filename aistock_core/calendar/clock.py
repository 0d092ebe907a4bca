"""The one clock: what "now" and "today" are in exchange time.

Every piece of code that needs the current date asks here, never `datetime.now()` directly, so one setting
(``AISTOCK_NOW``) moves the whole process in time: tests pin it (the suite must pass whatever the machine's
date is), and an operator can replay a past session ("what would the schedule have done on 2026-12-31?").
"""

from __future__ import annotations

import pandas as pd

from aistock_core.calendar.sessions import SESSION_TZ
from aistock_core.config import get_settings


def exchange_now() -> pd.Timestamp:
    """The current moment in Shanghai time (tz-aware): ``AISTOCK_NOW`` when set, else the machine's clock.

    A pinned value is read as Shanghai wall time (``2026-12-31`` is midnight, ``2026-12-31 10:15`` mid-morning).
    """
    pinned = get_settings().now
    if pinned is None:
        return pd.Timestamp.now(tz=SESSION_TZ)
    stamp = pd.Timestamp(pinned)
    return stamp.tz_convert(SESSION_TZ) if stamp.tzinfo is not None else stamp.tz_localize(SESSION_TZ)


def exchange_today() -> pd.Timestamp:
    """Today's date in exchange time (Asia/Shanghai), as a naive midnight Timestamp."""
    return exchange_now().tz_localize(None).normalize()
