"""Factor sets: a named group of migrated factors and the reference that verifies them.

The pipelines compute one trading-day asset per set and check it against its reference before anything
downstream uses the values; which sets exist is configuration (`aistock_core.specs`), not code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aistock_core.errors import FactorError

#: How a set is verified: Qlib itself, the sandboxed RD-Agent code, or a bundle's Parquet file.
REFERENCES = ("qlib", "code", "parquet")


@dataclass(frozen=True)
class FactorSet:
    """A named set of migrated factors and how to verify them.

    ``reference``: ``qlib`` (Qlib itself; a WARN failure with a note when pyqlib is missing), ``code`` (the
    sandboxed RD-Agent code in ``code_sources``; values are then computed on the qfq view the code sees) or
    ``parquet`` (a bundle file). ``universe``: a market or codes; None = the configured market. ``source`` is
    the factor registry's source tag (``qlib_alpha158`` or ``rdagent_generated``, as RD-Agent's catalogs
    spell them). ``deps``: upstream asset keys shown as lineage (the values are read through the data service,
    which serves the same bars the market box stores).
    """

    name: str
    expressions: Mapping[str, str]
    reference: str = "qlib"
    source: str = "qlib_alpha158"
    code_sources: Mapping[str, str] = field(default_factory=dict)
    parquet: str | None = None
    universe: str | tuple[str, ...] | None = None
    lookback: int | None = None
    deps: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.reference not in REFERENCES:
            raise FactorError(f"factor set {self.name!r}: reference {self.reference!r} is not one of {REFERENCES}")

    @property
    def adjust(self) -> str:
        return "qfq" if self.reference == "code" else "qlib"

    def universe_for(self, default_market: str) -> str | list[str]:
        if self.universe is None:
            return default_market
        return self.universe if isinstance(self.universe, str) else list(self.universe)


def code_factor_set(name: str, code_dir: str, expressions: Mapping[str, str], **options) -> FactorSet:
    """A set of RD-Agent code factors re-expressed in our engine, checked against their sandboxed code.

    ``code_dir`` holds the original files (see `aistock_core.factors.sandbox.load_code_dir`); every name in
    ``expressions`` must have one, else a `FactorError` when the definitions load, not at 16:30 on a trading day.
    """
    from aistock_core.factors.sandbox import load_code_dir

    sources = load_code_dir(code_dir, list(expressions))
    return FactorSet(name=name, expressions=dict(expressions), reference="code", source="rdagent_generated",
                     code_sources=sources, **options)


def alpha158_set(name: str = "alpha158_factors", **options) -> FactorSet:
    """Alpha158 (Qlib's expressions), checked against Qlib itself."""
    from aistock_core.factors.alpha158 import alpha158_expressions

    return FactorSet(name=name, expressions=alpha158_expressions(), reference="qlib", source="qlib_alpha158",
                     **({"deps": ("market_bars",)} | options))
