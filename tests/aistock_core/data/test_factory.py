"""build_provider/build_service: each data_source gives the right provider; misconfiguration is a ConfigError."""

from __future__ import annotations

import pytest

from aistock_core.config import Settings
from aistock_core.data.factory import build_provider, build_service
from aistock_core.data.h5 import DailyPVProvider, write_daily_pv
from aistock_core.data.qlib_bin import QlibBinProvider, write_qlib_dir
from aistock_core.data.tabular import FrameProvider
from aistock_core.errors import ConfigError, DataError


def test_synthetic_is_provider_and_quote_source(aistock_home):
    from aistock_core.data.synthetic import SyntheticMarket

    settings = Settings(data_source="synthetic", synthetic_seed=11, synthetic_instruments=12,
                        synthetic_start="2024-01-02", synthetic_end="2024-03-29")
    service = build_service(settings)
    assert isinstance(service.provider, SyntheticMarket)
    assert service.quotes is service.provider
    assert (service.provider.seed, service.provider.n_instruments) == (11, 12)
    assert 0 < len(service.instruments("all")) <= 12  # some synthetic stocks list after the window
    assert service.provider.data_range()[1].strftime("%Y-%m-%d") == "2024-03-29"


def test_file_sources(frame_service, bars_frame, tmp_path, aistock_home):
    qlib_dir = write_qlib_dir(frame_service, tmp_path / "qd", markets=("all",))
    h5 = write_daily_pv(frame_service, "all", tmp_path / "daily_pv.h5")
    bars_frame.reset_index().to_parquet(tmp_path / "bars.parquet")
    bars_frame.reset_index().to_csv(tmp_path / "bars.csv", index=False)
    cases = [("qlib", qlib_dir, QlibBinProvider), ("h5", h5, DailyPVProvider),
             ("parquet", tmp_path / "bars.parquet", FrameProvider), ("csv", tmp_path / "bars.csv", FrameProvider)]
    for source, uri, kind in cases:
        service = build_service(Settings(data_source=source, provider_uri=uri))
        assert type(service.provider) is kind, source
        assert service.quotes is None
        assert service.instruments() == ["000001.SZ", "300750.SZ", "600000.SH", "688001.SH"], source


@pytest.mark.parametrize("source", ["qlib", "h5", "parquet", "csv"])
def test_file_source_without_uri_is_a_config_error(source, aistock_home):
    with pytest.raises(ConfigError, match="AISTOCK_PROVIDER_URI is not set"):
        build_provider(Settings(data_source=source, provider_uri=None))


def test_wrong_file_for_source(tmp_path, aistock_home):
    with pytest.raises(ConfigError, match=r"not a \.parquet file"):
        build_provider(Settings(data_source="parquet", provider_uri=tmp_path / "bars.csv"))
    with pytest.raises(DataError, match="not a Qlib data directory"):
        build_provider(Settings(data_source="qlib", provider_uri=tmp_path))
    with pytest.raises(DataError, match="does not exist"):
        build_provider(Settings(data_source="h5", provider_uri=tmp_path / "none.h5"))
