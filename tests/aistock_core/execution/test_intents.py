from __future__ import annotations

import pandas as pd
import pytest

from aistock_core.errors import ConfigError
from aistock_core.execution.intents import intent_key, normalise_slot, remark_of


def test_key_is_deterministic_and_names_its_parts():
    a = intent_key("alpha", pd.Timestamp("2024-07-01"), "09:35", "600000.SH", "buy")
    b = intent_key("alpha", "2024-07-01", "0935", "600000.SH", "buy")
    assert a == b == "alpha|20240701|0935|600000.SH|buy"
    assert a != intent_key("alpha", "2024-07-01", "10:35", "600000.SH", "buy")
    assert a != intent_key("alpha", "2024-07-01", "09:35", "600000.SH", "sell")


def test_remark_fits_miniqmt_and_differs_per_key():
    keys = [intent_key("alpha", "2024-07-01", "09:35", f"{600000 + i}.SH", "buy") for i in range(2000)]
    remarks = {remark_of(k) for k in keys}
    assert len(remarks) == len(keys)
    assert all(len(r) <= 24 for r in remarks)
    assert remark_of(keys[0]) == remark_of(keys[0])


@pytest.mark.parametrize("bad", ["9:35", "24:00", "0960", "", "morning"])
def test_bad_slot(bad):
    with pytest.raises(ConfigError, match="slot"):
        normalise_slot(bad)


def test_bad_side_and_instance():
    with pytest.raises(ConfigError, match="side"):
        intent_key("a", "2024-07-01", "0935", "600000.SH", "short")
    with pytest.raises(ConfigError, match="must not contain"):
        intent_key("a|b", "2024-07-01", "0935", "600000.SH", "buy")
