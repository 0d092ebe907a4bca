"""The broker as a Dagster resource: which gateway this deployment drives and where the paper accounts live."""

from pathlib import Path
from typing import Literal

import dagster as dg

from aistock_core.config import get_settings


class BrokerResource(dg.ConfigurableResource):
    """``kind``: ``simulated`` (paper accounts under ``AISTOCK_HOME/paper``) or ``qmt`` (miniQMT on Windows).

    An instance whose gateway differs from the deployment's is refused by the order op, so a Linux deployment
    with the simulated broker can never be pointed at a live account by accident.
    """

    kind: Literal["simulated", "qmt"] = "simulated"
    home: str | None = None

    def home_path(self) -> Path:
        return Path(self.home).expanduser().resolve() if self.home else get_settings().resolved_home

    def trading_mode(self) -> str:
        return get_settings().trading_mode
