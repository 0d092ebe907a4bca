"""The horizon warning every command prints, remembered for the day.

`xshg.horizon_warning` needs exchange_calendars' XSHG bounds, and importing that package loads every exchange
it knows (about 0.09 s of a command that may take one second). The answer depends only on the exchange day,
the machine's day (the package's default end is a year from it), the holiday file, the calendar settings and
the installed package, so it is stored under `Settings.home` keyed by exactly those, and any change to one of
them computes it afresh. A cache that cannot be read or written is ignored: the warning is then computed, as
without one.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
from pathlib import Path

from aistock_core.config import get_settings

CACHE_NAME = "horizon_warning.json"


def _stamp(path: Path | None) -> list | None:
    """(path, mtime, size) of a file, None when there is none: a rewrite of the file changes it."""
    try:
        st = path.stat() if path is not None else None
    except OSError:
        return None
    return None if st is None else [str(path), st.st_mtime_ns, st.st_size]


def _package_file() -> Path | None:
    """exchange_calendars' XSHG module, found without importing the package (an upgrade rewrites it)."""
    spec = importlib.util.find_spec("exchange_calendars")
    return Path(spec.origin).with_name("exchange_calendar_xshg.py") if spec and spec.origin else None


def cache_key(today: dt.date) -> dict:
    """Everything the warning depends on."""
    settings = get_settings()
    return {"today": today.isoformat(), "machine_day": dt.date.today().isoformat(),
            "holidays": _stamp(settings.holidays_file), "start": str(settings.calendar_start),
            "provisional": settings.calendar_provisional, "package": _stamp(_package_file())}


def cached_horizon_warning(today: dt.date) -> str | None:
    """`xshg.horizon_warning(today)`, read from the day's cache when its key still holds."""
    path = get_settings().home / "cache" / CACHE_NAME
    key = cache_key(today)
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored["key"] == key:
            return stored["warning"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    from aistock_core.calendar.xshg import horizon_warning

    warning = horizon_warning(today)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{CACHE_NAME}.{os.getpid()}")
        tmp.write_text(json.dumps({"key": key, "warning": warning}), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass
    return warning
