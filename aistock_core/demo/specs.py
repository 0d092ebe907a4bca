"""The demo configuration of the pipelines (what runs when ``AISTOCK_SPECS_FILE`` is unset).

One backtest, the replay of the demo research's reference loop (same strategy and backtest blocks, window rule
and signal as `export.REPLAY_LOOP`; research ran it on float32 Qlib bins and we on the provider's bars, hence
the float32 tolerances), Alpha158 checked against Qlib, the demo's RD-Agent factors checked against their
own code, twelve preview instances and one paper trading instance on the simulated broker.
"""

from __future__ import annotations

from aistock_core.config import Settings, get_settings
from aistock_core.demo.export import LOOPS, REPLAY_BACKTEST, REPLAY_SESSIONS, REPLAY_STRATEGY, REPLAY_TAG, loop_key
from aistock_core.demo.factors import DEMO_FACTORS
from aistock_core.factors.sets import FactorSet, alpha158_set
from aistock_core.specs import InstanceDecl, PipelineSpecs
from aistock_core.strategy.reconcile import FLOAT32_TOLERANCES
from aistock_core.strategy.spec import BacktestSpec

#: RD-Agent's plain Qlib template replaying the catalog's reference loop (reconciled with its recorded KPIs).
REPLAY_SPEC = BacktestSpec(
    name="topk_dropout",
    strategy=REPLAY_STRATEGY,
    backtest=REPLAY_BACKTEST,
    sessions=REPLAY_SESSIONS,
    recorded_tag=REPLAY_TAG,
    tolerances=FLOAT32_TOLERANCES,
)


def demo_rdagent_set(name: str = "rdagent_factors") -> FactorSet:
    """The demo export's RD-Agent factors, migrated to our engine and checked against their own code.

    Code and expressions are the demo export's own: `DEMO_FACTORS` is what `write_demo_export` writes as each
    workspace's ``<name>_factor.py`` and as the catalog's ``expression`` (a test holds the two byte for byte).
    They are taken from there rather than read from the export directory because the export is generated on
    first research sync, after the definitions load. Cost of the check: one sandboxed run per factor per
    partition, on a daily_pv.h5 of the day plus the look-back (20 sessions).
    """
    return FactorSet(name=name, expressions={f.name: f.expression for f in DEMO_FACTORS}, reference="code",
                     source="rdagent_generated", code_sources={f.name: f.source for f in DEMO_FACTORS},
                     deps=("market_bars",))


#: The model the demo retrains and scores (the models box's default `RetrainSpec`), at its champion alias.
DEMO_MODEL = "aistock_lgb@champion"


def demo_previews(seed: int) -> tuple[InstanceDecl, ...]:
    """Twelve preview instances: the pipeline's own targets, each demo research loop (its catalog strategy on the
    champion's scores), top-k variants of the champion, the reversal signal without a model, a fee-free twin."""
    loops = tuple(InstanceDecl(f"demo-loop-{loop.task}-{loop.loop_id}", loop=loop_key(loop, seed)) for loop in LOOPS)
    variants = tuple(InstanceDecl(f"demo-lgb-top{k}-drop{d}", model=DEMO_MODEL, params={"topk": k, "n_drop": d})
                     for k, d in ((10, 2), (20, 3), (30, 5), (50, 10)))
    return (InstanceDecl("demo-pipeline"), *loops, *variants,
            InstanceDecl("demo-reversal-top30", params={"signal": REPLAY_SPEC.signal, "topk": 30, "n_drop": 5}),
            InstanceDecl("demo-lgb-top30-nofees", model=DEMO_MODEL, params={"topk": 30, "n_drop": 5, "fees": False}))


def demo_specs(settings: Settings | None = None) -> PipelineSpecs:
    """The demo configuration; the research loops are named by the demo export's ids (derived from the seed)."""
    seed = (settings or get_settings()).synthetic_seed
    return PipelineSpecs(backtests=(REPLAY_SPEC,), factor_sets=(alpha158_set(), demo_rdagent_set()),
                         previews=demo_previews(seed),
                         paper=(InstanceDecl("demo-paper", capital=1_000_000.0, model=DEMO_MODEL),))
