"""The one place that reads the environment: a pydantic-settings `Settings` with prefix ``AISTOCK_``.

Everything else receives a `Settings` (or values taken from it); nothing else reads ``os.environ``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from aistock_core.errors import ConfigError

DataSource = Literal["synthetic", "qlib", "h5", "parquet", "csv"]


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
    market: str = Field(default="all", description="Default universe (a Qlib instruments file name).")
    benchmark: str = Field(default="000300.SH", description="Benchmark index code.")
    synthetic_seed: int = Field(default=7, description="Seed of the embedded synthetic market.")
    synthetic_instruments: int = Field(default=300, description="Stocks in the synthetic market.")
    synthetic_start: str = Field(default="2020-01-02", description="First day of the synthetic market.")
    synthetic_end: str | None = Field(
        default=None, description="Last day of the synthetic market; default: the last session before today."
    )
    rdagent_source: str | None = Field(default=None, description="RD-Agent results URL or export dir; None: demo.")
    calendar_start: str = Field(default="2005-01-04", description="First XSHG session the calendar knows.")
    dagster_home: Path | None = Field(
        default=None, validation_alias="DAGSTER_HOME",
        description="Dagster instance dir (Dagster's own DAGSTER_HOME); `aistock demo` defaults it to home/dagster.",
    )
    mlflow_tracking_uri: str | None = Field(
        default=None, validation_alias="MLFLOW_TRACKING_URI",
        description="MLflow tracking store (MLflow's own MLFLOW_TRACKING_URI); default: SQLite DB under `home`.",
    )

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def store_dir(self) -> Path:
        """Parquet store for large tables (bars, factor matrices, predictions)."""
        return self.resolved_home / "store"

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
