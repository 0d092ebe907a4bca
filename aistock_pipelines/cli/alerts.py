"""``aistock alerts test|check-daemon|history``: try the configured channels, watch the Dagster daemon, and see
what was sent.

``test`` sends one alert through every channel of ``AISTOCK_ALERT_CHANNELS`` and says, per channel, whether it
arrived (run it after changing the config). ``check-daemon`` is the daemon heartbeat check, meant for cron or a
systemd timer: the daemon cannot report its own death. ``history`` lists the latest delivery records.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import pandas as pd
import typer

from aistock_core.config import get_settings
from aistock_core.errors import AistockError, ConfigError
from aistock_pipelines.cli.render import AsJson, echo_json, make_console, print_frame

# aistock_core.alerts (httpx, SQLAlchemy, Alembic) is imported inside the commands: the CLI must start fast.

app = typer.Typer(help="Monitoring alerts: channels, daemon heartbeat, delivery history.", no_args_is_help=True)


class AlertDeliveryError(AistockError):
    """A test alert did not reach every channel."""


@app.command("test")
def test_channels(
    severity: Annotated[str, typer.Option(help="info, warning or critical (channels filter on it).")] = "warning",
    as_json: AsJson = False,
) -> None:
    """Send one test alert through every configured channel; exit 2 naming each channel that failed."""
    from aistock_core.alerts import Alert, Severity, dispatcher_from_settings
    from aistock_core.alerts.dispatcher import utc_now

    try:
        level = Severity(severity)
    except ValueError as exc:
        raise ConfigError(f"--severity {severity!r}: use one of {[s.value for s in Severity]}") from exc
    dispatcher = dispatcher_from_settings(get_settings())
    if not dispatcher.channels:
        raise ConfigError("no alert channels configured: set AISTOCK_ALERT_CHANNELS to a YAML/JSON file or list")
    now = utc_now()
    alert = Alert(kind="test", severity=level, key=f"test:{now:%Y%m%dT%H%M%S.%f}", title="aistock test alert",
                  text="If you read this, the channel works.", fields={"sent_at_utc": f"{now:%Y-%m-%d %H:%M:%S}"})
    result = dispatcher.dispatch(alert)
    rows = [{"channel": d.channel, "status": d.status.value, "error": d.error or ""} for d in result.deliveries]
    if as_json:
        echo_json(rows)
    else:
        print_frame(pd.DataFrame(rows, columns=["channel", "status", "error"]))
    failed = [row["channel"] for row in rows if row["status"] != "sent"]
    if failed:
        raise AlertDeliveryError(f"test alert not delivered on {failed}; see the error column (or the log) and fix "
                                 f"the channel config or the receiving end")


@app.command("check-daemon")
def check_daemon(
    max_age: Annotated[int, typer.Option(help="Seconds without a heartbeat before a daemon counts as down.")] = 300,
    as_json: AsJson = False,
) -> None:
    """Alert on every Dagster daemon of DAGSTER_HOME's instance without a recent heartbeat (run it from cron)."""
    if max_age <= 0:
        raise ConfigError(f"--max-age {max_age}: give the seconds without a heartbeat that mean down (> 0)")
    import dagster as dg

    from aistock_core.alerts import dispatcher_from_settings
    from aistock_core.alerts.dispatcher import utc_now
    from aistock_pipelines.defs.ops.heartbeat import daemon_alerts, last_heartbeats

    if get_settings().dagster_home is None:
        raise ConfigError("DAGSTER_HOME is not set: point it at the deployment's instance (its dagster.yaml)")
    with dg.DagsterInstance.get() as instance:
        beats = last_heartbeats(instance)
    now = utc_now()
    alerts = daemon_alerts(beats, now, max_age)
    dispatcher = dispatcher_from_settings(get_settings()) if alerts else None
    for alert in alerts:
        dispatcher.dispatch(alert)
    down = {alert.fields["component"] for alert in alerts}
    rows = [{"daemon": daemon, "last_heartbeat_utc": beat, "age_s": None if beat is None else
             round((now - beat) / timedelta(seconds=1)), "status": "DOWN" if daemon in down else "ok"}
            for daemon, beat in beats.items()]
    if as_json:
        echo_json(rows)
    else:
        print_frame(pd.DataFrame(rows, columns=["daemon", "last_heartbeat_utc", "age_s", "status"]))
    if down:
        make_console(stderr=True).print(f"daemon(s) down: {', '.join(sorted(down))}", style="bold red")
        raise typer.Exit(1)


@app.command("history")
def history(
    limit: Annotated[int, typer.Option(help="How many of the latest delivery records to show.")] = 20,
    as_json: AsJson = False,
) -> None:
    """The latest delivery records (sent, failed with the error, rate limited), newest last."""
    if limit < 1:
        raise ConfigError(f"--limit {limit}: give how many records to show (≥ 1)")
    from aistock_core.alerts import AlertLedger
    from aistock_core.db import Database

    db = Database(get_settings().sqlalchemy_url)
    try:
        records = AlertLedger(db).deliveries()[-limit:]
    finally:
        db.dispose()
    rows = [{"attempted_at_utc": r.attempted_at, "key": r.alert_key, "severity": r.severity, "channel": r.channel,
             "status": r.status, "error": r.error or ""} for r in records]
    if as_json:
        echo_json(rows)
    else:
        print_frame(pd.DataFrame(rows, columns=["attempted_at_utc", "key", "severity", "channel", "status", "error"]))
