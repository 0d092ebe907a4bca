"""Dagster resources built from `Settings`: the data service, the app database, the Parquet store, alerts.

Every field is optional and falls back to `get_settings()` (the one reader of the environment), so the same
`Definitions` serve a laptop (``.aistock`` under the working directory) and a deployment (``AISTOCK_*`` env).
Secrets never appear in run config: `default_resources` passes the database URL as ``dg.EnvVar`` when one is
configured, so the UI shows the variable's name, not the password.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import PrivateAttr, ValidationError

from aistock_core.alerts import Alert, AlertDispatcher, AlertLedger, DispatchResult, load_channels
from aistock_core.calendar import exchange_today
from aistock_core.config import Settings, get_settings
from aistock_core.data.factory import build_service
from aistock_core.data.service import DataService
from aistock_core.data.store import ParquetStore
from aistock_core.db import Database
from aistock_core.errors import ConfigError


def _settings(**overrides: Any) -> Settings:
    """Process settings with the non-empty resource fields laid over them (validated, like the env would be)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    base = get_settings()
    if not given:
        return base
    try:
        return Settings.model_validate({**base.model_dump(by_alias=True), **given})
    except ValidationError as exc:
        raise ConfigError(f"invalid resource configuration {given}: {exc}") from exc


class DataServiceResource(dg.ConfigurableResource):
    """The `DataService` over the configured provider (synthetic by default), built once per step process."""

    data_source: str | None = None
    provider_uri: str | None = None
    synthetic_seed: int | None = None
    synthetic_instruments: int | None = None

    _service: DataService | None = PrivateAttr(default=None)

    def settings(self) -> Settings:
        uri = Path(self.provider_uri) if self.provider_uri else None
        return _settings(data_source=self.data_source, provider_uri=uri, synthetic_seed=self.synthetic_seed,
                         synthetic_instruments=self.synthetic_instruments)

    def get_service(self) -> DataService:
        """The service, built on first use (a provider may read a large Qlib directory: do it once)."""
        if self._service is None:
            settings = self.settings()
            if settings.data_source == "synthetic":
                today = f"{exchange_today():%Y-%m-%d}"
                self._service = _synthetic_service(settings.model_dump_json(by_alias=True), today)
            else:
                self._service = build_service(settings)
        return self._service


@lru_cache(maxsize=2)
def _synthetic_service(settings_json: str, today: str) -> DataService:
    """One synthetic market per (settings, day) and process, shared by the runs of that process.

    In-process runs (``aistock demo``, tests, sensors) each get a fresh resource; without this every run would
    regenerate the same seeded market (0.5 s for 300 stocks, seconds for thousands). Safe because the market
    is a pure function of its settings and, when no end is set, of today's date (part of the key). File
    sources are not cached: their files can change under a long-lived process.
    """
    return build_service(Settings.model_validate_json(settings_json))


class DatabaseResource(dg.ConfigurableResource):
    """The app database; migrated to head on first use so an asset never writes to a stale schema."""

    url: str | None = None

    _db: Database | None = PrivateAttr(default=None)

    def resolved_url(self) -> str:
        return self.url or get_settings().sqlalchemy_url

    def get_db(self) -> Database:
        if self._db is None:
            self._db = Database(self.resolved_url(), migrate=True)
        return self._db

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Release pooled connections when the run's step ends (SQLite locks, PostgreSQL slots)."""
        if self._db is not None:
            self._db.dispose()
            self._db = None


class StoreResource(dg.ConfigurableResource):
    """The Parquet store for large tables (default ``AISTOCK_HOME/store``)."""

    root: str | None = None

    def resolved_root(self) -> Path:
        return Path(self.root).expanduser().resolve() if self.root else get_settings().store_dir

    def get_store(self) -> ParquetStore:
        return ParquetStore(self.resolved_root())


def default_resources(settings: Settings | None = None) -> dict[str, dg.ConfigurableResource]:
    """The resources every box's assets use, keyed by the names asset functions declare.

    The database URL is bound as ``dg.EnvVar("AISTOCK_DATABASE_URL")`` when one is set (it may carry a
    password); otherwise the resource derives the SQLite file under ``AISTOCK_HOME`` at run time.
    """
    settings = settings or get_settings()
    database = DatabaseResource(url=dg.EnvVar("AISTOCK_DATABASE_URL")) if settings.database_url \
        else DatabaseResource()
    return {"data": DataServiceResource(), "database": database, "store": StoreResource()}


class AlertsResource(dg.ConfigurableResource):
    """Monitoring alerts through the operator's channels (``AISTOCK_ALERT_CHANNELS``), de-duplicated and
    rate-limited in the app DB. `send` never raises: an alert that cannot go out must not fail the run or the
    sensor tick that raised it (the problem is logged, and recorded as a failed delivery where the DB allows)."""

    channels: str | None = None
    dedup_seconds: int | None = None
    database_url: str | None = None

    _dispatcher: AlertDispatcher | None = PrivateAttr(default=None)

    def dispatcher(self) -> AlertDispatcher:
        """The `AlertDispatcher` (built once; a bad channel config raises `ConfigError` here)."""
        if self._dispatcher is None:
            settings = get_settings()
            channels = load_channels(self.channels if self.channels is not None else settings.alert_channels)
            try:
                ledger = AlertLedger(Database(self.database_url or settings.sqlalchemy_url))
            except ConfigError as exc:  # the app DB is down: alert without de-duplication rather than not at all
                dg.get_dagster_logger().warning(f"alerts without de-duplication: {exc}")
                ledger = None
            dedup = self.dedup_seconds if self.dedup_seconds is not None else settings.alert_dedup_seconds
            self._dispatcher = AlertDispatcher(channels, ledger, dedup_seconds=dedup)
        return self._dispatcher

    def send(self, alert: Alert) -> DispatchResult | None:
        """Dispatch ``alert`` (an `aistock_core.alerts.Alert`); returns the `DispatchResult`, or None when the
        channel config itself is broken (logged as an error)."""
        try:
            dispatcher = self.dispatcher()
        except Exception as exc:
            dg.get_dagster_logger().error(f"alert {alert.key} not sent: {exc}")
            return None
        return dispatcher.dispatch(alert)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._dispatcher is not None and self._dispatcher.ledger is not None:
            self._dispatcher.ledger.db.dispose()
        self._dispatcher = None
