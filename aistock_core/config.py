"""The one place that reads the environment: a pydantic-settings `Settings` with prefix ``AISTOCK_``.

Everything else receives a `Settings` (or values taken from it); nothing else reads ``os.environ``.
"""

from __future__ import annotations

import os
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from aistock_core.errors import ConfigError

DataSource = Literal["synthetic", "qlib", "h5", "parquet", "csv"]
SandboxMode = Literal["bwrap", "unisolated"]


class Settings(BaseSettings):
    """Project settings. Every field can be set as ``AISTOCK_<NAME>`` (e.g. ``AISTOCK_HOME=/data/aistock``)."""

    model_config = SettingsConfigDict(env_prefix="AISTOCK_", extra="ignore")

    home: Path = Field(default=Path(".aistock"), description="Root for the SQLite DB, Parquet store, MLflow.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the app DB; default: SQLite file under `home`."
    )
    data_source: DataSource = Field(default="synthetic", description="Which market data provider to use.")
    provider_uri: Path | None = Field(
        default=None, description="Qlib directory, daily_pv.h5, or Parquet/CSV file for non-synthetic sources."
    )
    quote_source: Literal["auto", "xtquant"] = Field(
        default="auto", description="Live quotes: 'auto' (the provider's own, if any) or 'xtquant' (miniQMT, Windows)."
    )
    corporate_actions: Path | None = Field(
        default=None,
        description="CSV/Parquet table of ex-dates, cash and bonus/transfer shares per share; None: derive them "
        "from the adjustment factor.",
    )
    market: str = Field(default="all", description="Default universe (a Qlib instruments file name).")
    benchmark: str = Field(default="000300.SH", description="Benchmark index code.")
    trading_mode: Literal["paper", "live"] = Field(
        default="paper", description="Highest order mode this machine may run; 'live' also needs a recorded approval."
    )
    synthetic_seed: int = Field(default=7, description="Seed of the embedded synthetic market.")
    synthetic_instruments: int = Field(default=300, description="Stocks in the synthetic market.")
    synthetic_start: str = Field(default="2020-01-02", description="First day of the synthetic market.")
    synthetic_end: str | None = Field(
        default=None, description="Last day of the synthetic market; default: the last session before today."
    )
    rdagent_source: str | None = Field(default=None, description="RD-Agent results URL or export dir; None: demo.")
    specs_file: Path | None = Field(
        default=None, description="TOML file of the backtests and factor sets the pipelines run; None: the demo's."
    )
    calendar_start: str = Field(default="2005-01-04", description="First XSHG session the calendar knows.")
    calendar_holidays: Path | None = Field(
        default=None,
        description="Operator's XSHG holiday file (YAML) for years exchange_calendars does not know yet; "
        "default: `home`/xshg_holidays.yaml. Written by `aistock calendar holidays add`.",
    )
    calendar_provisional: Literal["off", "weekdays"] = Field(
        default="off",
        description="Past the authoritative horizon: 'off' fails loudly; 'weekdays' adds provisional sessions "
        "(weekdays minus estimated holidays) for research, preview and paper runs, never for real orders.",
    )
    partitions_start: str | None = Field(
        default=None,
        description="First trading-day partition of the Dagster assets (YYYY-MM-DD); default: the first day of the "
        "month a year before today. Set it earlier (and reload the code location) to backfill more history.",
    )
    now: str | None = Field(
        default=None,
        description="Pin the clock: 'YYYY-MM-DD[ HH:MM[:SS]]' in Shanghai time (tests, replays); default: the "
        "machine's clock.",
    )
    sandbox: SandboxMode = Field(
        default="bwrap",
        description="How untrusted code (RD-Agent factor code, model.py, pickles) runs: 'bwrap' (OS sandbox; "
        "refuses to run when bubblewrap or namespaces are missing) or 'unisolated' (a plain child process with "
        "rlimits: ONLY for trusted code on a machine without namespaces).",
    )
    dagster_home: Path | None = Field(
        default=None, validation_alias="DAGSTER_HOME",
        description="Dagster instance dir (Dagster's own DAGSTER_HOME); `aistock demo` defaults it to home/dagster.",
    )
    mlflow_tracking_uri: str | None = Field(
        default=None, validation_alias="MLFLOW_TRACKING_URI",
        description="MLflow tracking store (MLflow's own MLFLOW_TRACKING_URI); default: SQLite DB under `home`.",
    )

    alert_channels: str | None = Field(
        default=None,
        description="Alert channels: a YAML/JSON file path, or an inline JSON list (see aistock_core.alerts.config); "
        "secrets (webhook URLs, signing secrets, SMTP passwords) are named there and read from the environment.",
    )
    alert_dedup_seconds: int = Field(
        default=3600, ge=0, description="An alert with the same key is sent once per this many seconds."
    )

    executor: Literal["multiprocess", "celery", "k8s"] = Field(
        default="multiprocess",
        description="Default Dagster executor for asset jobs: 'multiprocess' (one machine), 'celery' (steps on "
        "Celery workers; the celery extra and a broker) or 'k8s' (one Kubernetes pod per step; the k8s extra).",
    )
    celery_broker: str | None = Field(
        default=None, description="Celery broker URL, e.g. pyamqp://guest@127.0.0.1:5672// or redis://127.0.0.1:6379/0."
    )
    celery_backend: str | None = Field(default=None, description="Celery result backend; default: rpc://.")
    celery_queue: str = Field(default="aistock", description="Celery queue the steps go to and the workers consume.")

    feedback_dir: Path | None = Field(
        default=None, description="Where LiveFeedback and ExperimentRequest JSON go (the folder RD-Agent scans); "
        "default: `home`/feedback."
    )
    feedback_url: str | None = Field(
        default=None, description="If set, every LiveFeedback file is also POSTed here (JSON body; retried)."
    )
    feedback_post_deadline: float = Field(
        default=30.0, gt=0, description="Seconds all POST attempts of one LiveFeedback file may take together."
    )
    optimizer_auto_apply: bool = Field(
        default=False, description="Apply the optimizer's proposals without a human approval (recorded as "
        "approved by 'auto'). Off by default: proposals wait for `aistock loop approve`."
    )

    @field_validator("now")
    @classmethod
    def _iso_moment(cls, value: str | None) -> str | None:
        """Refuse a pinned clock that is not an ISO date/time, here rather than in the first command using it."""
        if value is not None and value.strip():
            try:
                datetime.fromisoformat(value.strip())
            except ValueError as exc:
                raise ValueError("not a date/time; write YYYY-MM-DD or 'YYYY-MM-DD HH:MM'") from exc
            return value.strip()
        return None

    @field_validator("home")
    @classmethod
    def _home_is_a_folder(cls, value: Path) -> Path:
        """Everything lives under home; a file there would fail each command later with a confusing error."""
        if value.expanduser().exists() and not value.expanduser().is_dir():
            raise ValueError(f"{value} exists and is not a directory; point it at a folder (created if missing)")
        return value

    @field_validator("calendar_start", "partitions_start")
    @classmethod
    def _calendar_start_is_a_date(cls, value: str | None) -> str | None:
        """Checked here so a typo stops every command with one line naming the variable."""
        if value is None:
            return None
        try:
            date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a date; write it as YYYY-MM-DD") from None
        return value.strip()

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def store_dir(self) -> Path:
        """Parquet store for large tables (bars, factor matrices, predictions)."""
        return self.resolved_home / "store"

    @property
    def feedback_root(self) -> Path:
        """LiveFeedback folder: ``AISTOCK_FEEDBACK_DIR`` or ``home``/feedback."""
        return self.feedback_dir.expanduser().resolve() if self.feedback_dir else self.resolved_home / "feedback"

    @property
    def holidays_file(self) -> Path:
        """Where the XSHG holiday file is read from and written to."""
        if self.calendar_holidays is not None:
            return self.calendar_holidays.expanduser().resolve()
        return self.resolved_home / "xshg_holidays.yaml"

    @property
    def tracking_uri(self) -> str:
        """MLflow tracking store: a SQLite DB under ``home`` unless overridden (the registry needs a DB store)."""
        return self.mlflow_tracking_uri or f"sqlite:///{self.resolved_home / 'mlflow.db'}"

    @property
    def artifact_root(self) -> str | None:
        """Where new experiments keep artifacts: under ``home`` for the default store, the server's choice else."""
        return None if self.mlflow_tracking_uri else (self.resolved_home / "mlartifacts").as_uri()

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_home / 'aistock.db'}"


#: Environment variables an alert channel config may name for its secrets (webhook URLs, signing secrets, SMTP
#: passwords): kept in our own namespace so a config file cannot read arbitrary variables of the process.
SECRET_PREFIX = "AISTOCK_"


def env_secret(name: str) -> str:
    """The value of the environment variable ``name`` (an ``AISTOCK_…`` secret a config file refers to).

    Secrets are not `Settings` fields because their names are the operator's (one per channel); they are still
    read here, the one module that reads the environment. Raises `ConfigError` naming the variable when it is
    unset or outside the ``AISTOCK_`` namespace.
    """
    if not name.startswith(SECRET_PREFIX):
        raise ConfigError(f"secret variable {name!r} must start with {SECRET_PREFIX}; rename it in the alert "
                          f"channel config and the environment")
    value = os.environ.get(name)
    if not value:
        raise ConfigError(f"secret variable {name} is not set; export it in the environment of every process "
                          f"that sends alerts (webserver, daemon, run workers)")
    return value


def _describe(exc: ValidationError) -> str:
    """One line per bad setting, named as the user spells it (``AISTOCK_DATA_SOURCE``), not as pydantic does."""
    parts = []
    for err in exc.errors():
        field = "_".join(str(p) for p in err["loc"])
        # Fields read under their own name (an alias such as DAGSTER_HOME) carry no AISTOCK_ prefix.
        name = f"AISTOCK_{field.upper()}" if field in Settings.model_fields else field
        parts.append(f"{name}={err.get('input')!r}: {err['msg']}")
    return "; ".join(parts)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once; an invalid environment raises `ConfigError` naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(f"invalid setting(s): {_describe(exc)}; fix the environment variable(s)") from exc
