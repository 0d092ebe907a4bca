"""An instance without its own strategy block previews the configured target-positions strategy (specs), not a
demo constant."""

from __future__ import annotations

import pytest

from aistock_core.config import get_settings
from aistock_core.errors import ConfigError
from aistock_core.preview.instances import PreviewInstance
from aistock_core.preview.targets import configured_strategy_block, strategy_block

SPECS = """
targets = "weekly"

[[backtest]]
name = "daily"
strategy = { class = "TopkDropoutStrategy", kwargs = { topk = 30, n_drop = 3 } }

[[backtest]]
name = "weekly"
strategy = { class = "TopkDropoutStrategy", kwargs = { topk = 12, n_drop = 2, hold_thresh = 5 } }
"""


def instance(**params) -> PreviewInstance:
    return PreviewInstance(1, "p", 1e6, "active", None, None, None, params, None)


@pytest.fixture
def specs_file(tmp_path, monkeypatch):
    path = tmp_path / "specs.toml"
    monkeypatch.setenv("AISTOCK_SPECS_FILE", str(path))
    get_settings.cache_clear()
    return path


def test_the_default_block_is_the_configured_targets_strategy_with_the_instances_overrides(specs_file):
    specs_file.write_text(SPECS)
    default = configured_strategy_block()
    assert default == {"class": "TopkDropoutStrategy", "kwargs": {"topk": 12, "n_drop": 2, "hold_thresh": 5}}
    block = strategy_block(instance(n_drop=1), default)
    assert block["kwargs"] == {"topk": 12, "n_drop": 1, "hold_thresh": 5}
    assert default["kwargs"]["n_drop"] == 2, "the configured block is not modified"
    own = {"class": "topk-equal", "kwargs": {"topk": 5}}
    assert strategy_block(instance(strategy=own, topk=9), default) == own


def test_without_a_configured_backtest_the_instance_must_bring_its_block(specs_file):
    specs_file.write_text('[[factor_set]]\nname = "a158"\nkind = "alpha158"\n')
    with pytest.raises(ConfigError, match=r"params\.strategy"):
        configured_strategy_block()
