"""The incidents worth waking someone for, each a function from what was observed to an `Alert` (or None).

Pure functions: the caller observes (a Dagster sensor reads the ledger, a cron job reads the daemon's heartbeat,
the execution loop compares positions) and passes plain values; nothing here reads a clock or a database. Keys
are chosen so that one incident is one key: a stale dataset is one incident per expected day, a daily loss one
per account and day, a failing job one per job (a retry storm is counted, not re-sent).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time

import pandas as pd

from aistock_core.alerts.model import Alert, Severity
from aistock_core.calendar import TradingCalendar

#: When a day's end-of-day data is due (Shanghai time): the EOD schedule starts at 16:30.
EOD_DATA_DUE = time(17, 30)


def _heartbeat(kind: str, component: str, last_beat: datetime | None, now: datetime,
               max_age_seconds: float, what: str) -> Alert | None:
    if last_beat is not None and (now - last_beat).total_seconds() <= max_age_seconds:
        return None
    age = "never" if last_beat is None else f"{(now - last_beat).total_seconds():.0f} s ago"
    last = "never" if last_beat is None else f"{last_beat:%Y-%m-%d %H:%M:%S}"
    return Alert(
        kind=kind, severity=Severity.CRITICAL, key=f"{kind}:{component}",
        title=f"{component}: no heartbeat for over {max_age_seconds:.0f} s",
        text=f"The last heartbeat of {component} was {age}. {what}",
        fields={"component": component, "last_heartbeat": last, "max_age_s": f"{max_age_seconds:.0f}"},
    )


def daemon_heartbeat_alert(daemon: str, last_beat: datetime | None, now: datetime,
                           max_age_seconds: float = 300) -> Alert | None:
    """CRITICAL when a Dagster daemon (SCHEDULER, SENSOR, QUEUED_RUN_COORDINATOR...) has not beaten recently:
    schedules, sensors and queued runs stop without it. ``last_beat`` and ``now`` in one time zone."""
    return _heartbeat("daemon_heartbeat", daemon, last_beat, now, max_age_seconds,
                      "Schedules, sensors and queued runs are not progressing: restart `dagster-daemon run`.")


def gateway_heartbeat_alert(gateway: str, last_beat: datetime | None, now: datetime,
                            max_age_seconds: float = 60) -> Alert | None:
    """CRITICAL when the broker gateway (e.g. miniQMT/xtquant) has not answered recently: orders and fills may be
    lost; the risk engine must treat the session as disconnected."""
    return _heartbeat("gateway_heartbeat", gateway, last_beat, now, max_age_seconds,
                      "Orders cannot be sent or confirmed: check the gateway process and its broker login.")


def position_mismatch_alert(account: str, day: date, expected: Mapping[str, int], actual: Mapping[str, int],
                            tolerance: int = 0) -> Alert | None:
    """CRITICAL when our book and the broker's positions differ by more than ``tolerance`` shares on any code."""
    codes = sorted(set(expected) | set(actual))
    diffs = {c: (expected.get(c, 0), actual.get(c, 0)) for c in codes
             if abs(expected.get(c, 0) - actual.get(c, 0)) > tolerance}
    if not diffs:
        return None
    shown = list(diffs.items())[:10]
    more = f" (+{len(diffs) - 10} more)" if len(diffs) > 10 else ""
    return Alert(
        kind="position_mismatch", severity=Severity.CRITICAL, key=f"position_mismatch:{account}:{day:%Y-%m-%d}",
        title=f"{account}: positions differ from the broker on {len(diffs)} instrument(s)",
        text="Reconcile before trading again (the risk engine should halt new orders): "
             + ", ".join(f"{c} ours {e} vs broker {a}" for c, (e, a) in shown) + more,
        fields={"account": account, "trade_date": f"{day:%Y-%m-%d}", "instruments": str(len(diffs))},
    )


def daily_loss_alert(account: str, day: date, pnl: float, start_equity: float,
                     limit_fraction: float) -> Alert | None:
    """CRITICAL when the day's loss reaches ``limit_fraction`` of the equity at the start of the day (the point at
    which the execution risk engine halts: ``max_daily_loss_ratio``)."""
    if start_equity <= 0:
        raise ValueError(f"start_equity of {account} must be positive, got {start_equity}")
    loss = -pnl / start_equity
    if loss < limit_fraction:
        return None
    return Alert(
        kind="daily_loss", severity=Severity.CRITICAL, key=f"daily_loss:{account}:{day:%Y-%m-%d}",
        title=f"{account}: daily loss {loss:.2%} at or beyond the {limit_fraction:.2%} limit",
        text=f"P&L {pnl:,.2f} on a starting equity of {start_equity:,.2f}. New risk should stop for the day.",
        fields={"account": account, "trade_date": f"{day:%Y-%m-%d}", "pnl": f"{pnl:,.2f}",
                "loss": f"{loss:.2%}", "limit": f"{limit_fraction:.2%}"},
    )


def run_failure_alert(job: str, run_id: str, error: str, *, partition: str | None = None,
                      url: str | None = None) -> Alert:
    """ERROR-level alert for a failed Dagster run; keyed by job, so a failing retry loop sends once per window."""
    fields = {"job": job, "run_id": run_id}
    if partition:
        fields["partition"] = partition
    if url:
        fields["url"] = url
    return Alert(kind="run_failure", severity=Severity.CRITICAL, key=f"run_failure:{job}",
                 title=f"run of {job} failed" + (f" ({partition})" if partition else ""),
                 text=error.strip()[:1500] or "no error message", fields=fields)


def expected_data_day(calendar: TradingCalendar, now: pd.Timestamp, due: time = EOD_DATA_DUE) -> pd.Timestamp:
    """The latest session whose end-of-day data should exist at ``now`` (Shanghai wall time): today's once
    ``due`` has passed on a session, else the previous session."""
    local = now.tz_convert("Asia/Shanghai").tz_localize(None) if now.tzinfo is not None else now
    today = local.normalize()
    if calendar.is_session(today) and local.time() >= due:
        return today
    return calendar.last_session_before(today)


def stale_data_alert(dataset: str, last_day: date | None, expected_day: date,
                     calendar: TradingCalendar) -> Alert | None:
    """WARNING (CRITICAL from 3 missing sessions) when ``dataset``'s latest day is behind ``expected_day``."""
    if last_day is not None and pd.Timestamp(last_day) >= pd.Timestamp(expected_day):
        return None
    missing = len(calendar.sessions_in_range(
        pd.Timestamp(last_day) + pd.Timedelta(days=1) if last_day else calendar.first, expected_day))
    return Alert(
        kind="stale_data", severity=Severity.CRITICAL if missing >= 3 else Severity.WARNING,
        key=f"stale_data:{dataset}:{expected_day:%Y-%m-%d}",
        title=f"{dataset} is {missing} session(s) behind",
        text=f"The latest {dataset} day is {last_day or 'none'}; {expected_day:%Y-%m-%d} was expected. Check the "
             "end-of-day run and the data source; never trade on a stale signal.",
        fields={"dataset": dataset, "latest": str(last_day or "none"), "expected": f"{expected_day:%Y-%m-%d}",
                "missing_sessions": str(missing)},
    )


def calendar_horizon_alert(calendar: TradingCalendar, today: date) -> Alert | None:
    """WARNING when the authoritative trading calendar ends within 30 days (the text names the fix)."""
    warning = calendar.horizon_warning(today)
    if warning is None:
        return None
    return Alert(
        kind="calendar_horizon", severity=Severity.WARNING,
        key=f"calendar_horizon:{calendar.name}:{calendar.authoritative_until:%Y-%m-%d}",
        title=f"trading calendar {calendar.name} runs out on {calendar.authoritative_until:%Y-%m-%d}",
        text=warning,
        fields={"calendar": calendar.name, "authoritative_until": f"{calendar.authoritative_until:%Y-%m-%d}",
                "sessions_left": str(calendar.sessions_left(today))},
    )
