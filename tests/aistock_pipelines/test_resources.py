"""Resources built from settings: defaults from the environment, the DB URL as an EnvVar."""

from __future__ import annotations

import dagster as dg
import pytest

from aistock_core.config import get_settings
from aistock_core.errors import ConfigError
from aistock_pipelines.resources import DatabaseResource, DataServiceResource, StoreResource, default_resources


def test_defaults_follow_aistock_home(aistock_home):
    assert StoreResource().resolved_root() == aistock_home.resolve() / "store"
    db = DatabaseResource().get_db()
    try:
        assert {"instruments", "bar_partitions"} <= set(db.table_names()), "migrated on first use"
        assert str(aistock_home.resolve()) in str(db.url)
    finally:
        db.dispose()


def test_database_url_is_bound_as_env_var(aistock_home, monkeypatch):
    assert default_resources()["database"].url is None
    monkeypatch.setenv("AISTOCK_DATABASE_URL", f"sqlite:///{aistock_home}/other.db")
    get_settings.cache_clear()
    bound = default_resources()["database"]
    assert isinstance(bound.url, dg.EnvVar) and bound.url.env_var_name == "AISTOCK_DATABASE_URL"


def test_resource_fields_override_settings_and_are_validated(aistock_home):
    assert DataServiceResource(data_source="qlib", provider_uri="/data/cn").settings().data_source == "qlib"
    with pytest.raises(ConfigError, match="data_source"):
        DataServiceResource(data_source="excel").settings()


def test_synthetic_market_is_built_once_per_settings(aistock_home, monkeypatch):
    monkeypatch.setenv("AISTOCK_SYNTHETIC_INSTRUMENTS", "12")
    monkeypatch.setenv("AISTOCK_SYNTHETIC_START", "2026-06-01")
    get_settings.cache_clear()
    first, again = DataServiceResource().get_service(), DataServiceResource().get_service()
    other = DataServiceResource(synthetic_seed=8).get_service()
    assert first is again, "in-process runs share the seeded market"
    assert other is not first and other.provider.seed == 8 and first.provider.n_instruments == 12
