"""What the pipelines run, chosen by configuration: the backtests, the factor sets and the research source.

``AISTOCK_SPECS_FILE`` names a TOML file; unset, the pipelines run the demo configuration
(`aistock_core.demo.specs`: the replay of the demo research's reference loop, Alpha158 and the demo's
RD-Agent factors). The Dagster definitions build one asset (and check) per entry, so production code never
names a demo constant. A file looks like::

    targets = "topk_dropout"          # the backtest whose strategy computes target_positions (default: first)

    [[backtest]]                      # fields of `aistock_core.strategy.spec.BacktestSpec`
    name = "topk_dropout"
    strategy = { class = "TopkDropoutStrategy", kwargs = { topk = 50, n_drop = 5 } }
    backtest = { account = 100000000, benchmark = "SH000300" }
    sessions = 250
    recorded_loop = ["<task_run_id>", 3]

    [[factor_set]]
    name = "alpha158_factors"
    kind = "alpha158"                 # alpha158 | code (code_dir + expressions) | expressions (+ reference)

    [[preview]]                       # preview instances kept in existence by name (`InstanceDecl`)
    name = "lgb-top20"
    capital = 1000000
    model = "aistock_lgb@champion"    # and/or loop = "RUN/LOOP", strategy_id = "...", params = { topk = 20 }

    [[paper]]                         # paper trading instances on the simulated broker (loop, model only)
    name = "paper-lgb"
    model = "aistock_lgb@champion"

Likewise the research source: ``AISTOCK_RDAGENT_SOURCE`` if set, else the demo export (generated on first use).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from aistock_core.config import Settings
from aistock_core.errors import AistockError, ConfigError
from aistock_core.factors.sets import FactorSet, alpha158_set, code_factor_set
from aistock_core.strategy.config import strategy_from_config
from aistock_core.strategy.spec import BacktestSpec


@dataclass(frozen=True)
class InstanceDecl:
    """A strategy instance the pipelines keep in existence, by name: a preview (``[[preview]]``) or a paper
    trading instance on the simulated broker (``[[paper]]``: ``loop`` and ``model`` only). Where its targets
    come from is `aistock_core.strategy.sources.TargetSource`'s fields."""

    name: str
    capital: float = 1_000_000.0
    loop: str | None = None
    strategy_id: str | None = None
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PipelineSpecs:
    """The backtests and factor sets the pipelines run; ``targets`` names the backtest whose strategy computes
    the daily target positions (None: the first one); the preview and paper instances they keep."""

    backtests: tuple[BacktestSpec, ...] = ()
    factor_sets: tuple[FactorSet, ...] = ()
    targets: str | None = None
    previews: tuple[InstanceDecl, ...] = ()
    paper: tuple[InstanceDecl, ...] = ()

    def targets_spec(self) -> BacktestSpec | None:
        if self.targets is None:
            return self.backtests[0] if self.backtests else None
        by_name = {spec.name: spec for spec in self.backtests}
        if self.targets not in by_name:
            raise ConfigError(f"specs: targets = {self.targets!r} names no backtest; known: {sorted(by_name)}")
        return by_name[self.targets]


def load_specs(settings: Settings) -> PipelineSpecs:
    """The configured specs: ``settings.specs_file``, else the demo's."""
    if settings.specs_file is None:
        from aistock_core.demo.specs import demo_specs

        return demo_specs(settings)
    return read_specs_file(settings.specs_file)


def _backtest(entry: dict[str, Any], where: str) -> BacktestSpec:
    known = {f.name for f in fields(BacktestSpec)}
    unknown = sorted(set(entry) - known)
    if unknown or "name" not in entry or "strategy" not in entry:
        raise ConfigError(f"{where}: needs name and strategy; unknown key(s) {unknown}; accepted: {sorted(known)}")
    values = dict(entry)
    if "recorded_loop" in values:
        run_id, loop_id = values["recorded_loop"]
        values["recorded_loop"] = (str(run_id), int(loop_id))
    if "tolerances" in values:
        values["tolerances"] = {k: (float(r), float(a)) for k, (r, a) in values["tolerances"].items()}
    spec = BacktestSpec(**values)
    strategy_from_config(spec.strategy), spec.settings()  # a bad block fails when the definitions load
    return spec


def _instance(entry: dict[str, Any], where: str, *, paper: bool = False) -> InstanceDecl:
    known = {"name", "capital", "loop", "model"} if paper else {f.name for f in fields(InstanceDecl)}
    unknown = sorted(set(entry) - known)
    if unknown or "name" not in entry:
        raise ConfigError(f"{where}: needs name; unknown key(s) {unknown}; accepted: {sorted(known)}")
    decl = InstanceDecl(**entry)
    if not isinstance(decl.capital, int | float) or decl.capital <= 0:
        raise ConfigError(f"{where}: capital must be a positive amount of yuan, got {decl.capital!r}")
    return decl


def _factor_set(entry: dict[str, Any], where: str) -> FactorSet:
    values = dict(entry)
    kind = values.pop("kind", "expressions")
    for key in ("universe", "deps"):
        if isinstance(values.get(key), list):
            values[key] = tuple(values[key])
    if kind == "alpha158":
        return alpha158_set(**values)
    if kind == "code":
        return code_factor_set(values.pop("name"), values.pop("code_dir"), values.pop("expressions"), **values)
    if kind == "expressions":
        return FactorSet(**values)
    raise ConfigError(f"{where}: kind {kind!r} is not alpha158, code or expressions")


def read_specs_file(path: str | Path) -> PipelineSpecs:
    """Parse a specs TOML file; any mistake is a `ConfigError` naming the file and the entry."""
    path = Path(path).expanduser()
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"AISTOCK_SPECS_FILE {path}: cannot read it as TOML: {exc}") from exc
    unknown = sorted(set(doc) - {"backtest", "factor_set", "targets", "preview", "paper"})
    if unknown:
        raise ConfigError(f"AISTOCK_SPECS_FILE {path}: unknown top-level key(s) {unknown}; "
                          f"accepted: backtest, factor_set, targets, preview, paper")
    try:
        backtests = tuple(_backtest(e, f"{path} backtest #{k + 1}") for k, e in enumerate(doc.get("backtest", [])))
        sets = tuple(_factor_set(e, f"{path} factor_set #{k + 1}") for k, e in enumerate(doc.get("factor_set", [])))
        previews = tuple(_instance(e, f"{path} preview #{k + 1}") for k, e in enumerate(doc.get("preview", [])))
        paper = tuple(_instance(e, f"{path} paper #{k + 1}", paper=True) for k, e in enumerate(doc.get("paper", [])))
    except ConfigError:
        raise
    except AistockError as exc:
        raise ConfigError(f"AISTOCK_SPECS_FILE {path}: {exc}") from exc
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigError(f"AISTOCK_SPECS_FILE {path}: invalid entry: {exc!r}") from exc
    specs = PipelineSpecs(backtests, sets, doc.get("targets"), previews, paper)
    for kind, decls in (("preview", previews), ("paper", paper)):
        names = [d.name for d in decls]
        if len(set(names)) != len(names):
            raise ConfigError(f"AISTOCK_SPECS_FILE {path}: {kind} names must be unique, got {names}")
    specs.targets_spec()  # a dangling name fails now, not when the definitions are built
    return specs


def research_source(settings: Settings) -> str:
    """``rdagent_source`` if set, else the demo export under AISTOCK_HOME, generated from the market on first use."""
    if settings.rdagent_source:
        return settings.rdagent_source
    from aistock_core.demo.export import ensure_demo_export

    return str(ensure_demo_export(settings))
