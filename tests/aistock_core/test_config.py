"""Settings: the AISTOCK_ prefix, defaults, derived paths and URLs, and clear errors for a bad environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from aistock_core.config import Settings, get_settings
from aistock_core.errors import ConfigError


@pytest.fixture
def clean_env(monkeypatch):
    """No AISTOCK_* variable from the machine leaks into these tests."""
    import os

    for name in list(os.environ):
        if name.startswith("AISTOCK_"):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_defaults(clean_env):
    s = Settings()
    assert s.home == Path(".aistock")
    assert s.database_url is None
    assert s.data_source == "synthetic"
    assert s.provider_uri is None
    assert (s.market, s.benchmark) == ("all", "000300.SH")
    assert (s.synthetic_seed, s.synthetic_instruments, s.synthetic_start, s.synthetic_end) == (
        7, 300, "2020-01-02", None)
    assert s.calendar_start == "2005-01-04"


def test_env_prefix_sets_fields(clean_env, tmp_path):
    clean_env.setenv("AISTOCK_HOME", str(tmp_path / "h"))
    clean_env.setenv("AISTOCK_DATA_SOURCE", "qlib")
    clean_env.setenv("AISTOCK_PROVIDER_URI", "~/.qlib/qlib_data/cn_data")
    clean_env.setenv("AISTOCK_SYNTHETIC_SEED", "11")
    clean_env.setenv("HOME_WITHOUT_PREFIX", "ignored")
    s = get_settings()
    assert s.home == tmp_path / "h"
    assert s.data_source == "qlib"
    assert s.provider_uri == Path("~/.qlib/qlib_data/cn_data")
    assert s.synthetic_seed == 11
    assert get_settings() is s  # read once


def test_unprefixed_variables_are_ignored(clean_env):
    clean_env.setenv("DATA_SOURCE", "qlib")
    clean_env.setenv("HOME", "/somewhere")
    assert Settings().data_source == "synthetic"
    assert Settings().home == Path(".aistock")


def test_sqlalchemy_url_defaults_to_sqlite_under_home(clean_env, tmp_path):
    clean_env.setenv("AISTOCK_HOME", str(tmp_path / "home"))
    s = Settings()
    assert s.sqlalchemy_url == f"sqlite:///{tmp_path / 'home' / 'aistock.db'}"
    assert s.store_dir == tmp_path / "home" / "store"
    assert s.resolved_home == (tmp_path / "home").resolve()


def test_relative_home_resolves_against_the_working_directory(clean_env, tmp_path):
    clean_env.chdir(tmp_path)
    assert Settings().sqlalchemy_url == f"sqlite:///{tmp_path.resolve() / '.aistock' / 'aistock.db'}"


def test_database_url_overrides_sqlite(clean_env):
    url = "postgresql+psycopg2://aistock@db.internal:5432/aistock"
    clean_env.setenv("AISTOCK_DATABASE_URL", url)
    assert Settings().sqlalchemy_url == url


def test_invalid_environment_is_a_config_error_naming_the_variable(clean_env):
    clean_env.setenv("AISTOCK_DATA_SOURCE", "bloomberg")
    clean_env.setenv("AISTOCK_SYNTHETIC_INSTRUMENTS", "many")
    with pytest.raises(ConfigError) as info:
        get_settings()
    text = str(info.value)
    assert "AISTOCK_DATA_SOURCE='bloomberg'" in text
    assert "'synthetic', 'qlib', 'h5', 'parquet' or 'csv'" in text
    assert "AISTOCK_SYNTHETIC_INSTRUMENTS='many'" in text


def test_every_setting_is_documented_in_the_readme():
    """The README's configuration table is the user's reference; a new setting must appear there."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for name, field in Settings.model_fields.items():
        env = field.validation_alias if isinstance(field.validation_alias, str) else f"AISTOCK_{name.upper()}"
        assert f"`{env}`" in readme, f"{env} is not documented in README.md's configuration table"
