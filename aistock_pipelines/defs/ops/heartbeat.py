"""Daemon liveness, checked from outside the daemon: a dead daemon cannot run the sensor that would report it.

``aistock alerts check-daemon`` (cron or a systemd timer, every few minutes) reads the heartbeats every
``dagster-daemon run`` writes to the instance's storage (PostgreSQL in production) and alerts on each required
daemon (scheduler, sensors, queued-run coordinator, ...) that has not beaten within ``max_age_seconds``.
"""

from datetime import UTC, datetime

import dagster as dg

from aistock_core.alerts import Alert
from aistock_core.alerts.sources import daemon_heartbeat_alert


def last_heartbeats(instance: dg.DagsterInstance) -> dict[str, datetime | None]:
    """The last heartbeat (naive UTC) of every daemon the instance requires; None for one never seen."""
    beats = instance.get_daemon_heartbeats()
    return {
        daemon: (datetime.fromtimestamp(beats[daemon].timestamp, UTC).replace(tzinfo=None)
                 if daemon in beats else None)
        for daemon in sorted(instance.get_required_daemon_types())
    }


def daemon_alerts(heartbeats: dict[str, datetime | None], now: datetime, max_age_seconds: float) -> list[Alert]:
    """One alert per daemon whose last heartbeat is older than ``max_age_seconds`` (or missing)."""
    found = (daemon_heartbeat_alert(daemon, beat, now, max_age_seconds) for daemon, beat in heartbeats.items())
    return [alert for alert in found if alert is not None]
