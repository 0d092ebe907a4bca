"""Pydantic shapes of what RD-Agent serves (rdagent.md §1, §3–§6), normalised on the way in.

Every model tolerates extra fields (RD-Agent adds keys between versions; they are kept in the stored payload)
and is strict on the fields AIstock keys or joins on. `parse_entries` turns a validation failure into a
`CatalogError` that names the catalog, the entry and the field, which is what a user needs to find the bad
line in a 10,000-entry JSON file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from aistock_core.errors import CatalogError
from aistock_core.research.normalise import (
    bare_field,
    flatten_metrics,
    internal_code,
    negative_drawdown,
    parse_best_performance,
)

M = TypeVar("M", bound=BaseModel)
#: Metrics in any of the exporters' forms, flattened to ``{qlib key: float|None}`` (`flatten_metrics`).
Metrics = Annotated[dict[str, float | None], BeforeValidator(flatten_metrics)]
#: A max drawdown, always ≤ 0 whatever sign the payload used (`negative_drawdown`).
Drawdown = Annotated[float | None, AfterValidator(negative_drawdown)]


class _Entry(BaseModel):
    """Base: keep unknown fields, accept ``model_config`` as a payload key through aliases."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())

    def payload(self) -> dict[str, Any]:
        """The normalised entry as JSON-ready data (what the DB stores and hashes)."""
        return self.model_dump(mode="json", by_alias=True)


class FactorEntry(_Entry):
    """factor_catalog.json item (rdagent.md §3.1): an alpha-meta entry or a factor_meta item, plus
    ``best_performance``."""

    name: str = Field(min_length=1)
    source: str = "rdagent_generated"
    expression: str | None = None
    description_cn: str | None = None
    tags: list[str] = Field(default_factory=list)
    best_performance: str | None = None
    best_sharpe: float | None = None
    best_ann_return: float | None = None
    impl_module: str | None = None
    impl_func: str | None = None
    impl_version: str | None = None
    input_schema: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _normalise(self) -> FactorEntry:
        self.best_sharpe, self.best_ann_return = parse_best_performance(self.best_performance)
        if self.input_schema:
            for key in ("required_fields", "optional_fields"):
                fields = self.input_schema.get(key)
                if isinstance(fields, list):
                    self.input_schema[key] = [bare_field(str(f)) for f in fields]
        return self


class AlphaFactor(_Entry):
    """alpha158/alpha360 meta item (rdagent.md §3.5): a Qlib expression over ``$close`` etc. (kept as Qlib syntax)."""

    name: str = Field(min_length=1)
    expression: str = Field(min_length=1)
    source: str | None = None
    region: str | None = None
    tags: list[str] = Field(default_factory=list)


class StrategyEntry(_Entry):
    """strategy_catalog.json item (rdagent.md §3.2). ``portfolio_config`` is the Qlib strategy block; benchmark
    in backtest."""

    strategy_id: str = Field(min_length=1)
    step_name: str | None = None
    action: str | None = None
    template_files: list[str] = Field(default_factory=list)
    portfolio_config: dict[str, Any] | None = None
    backtest_config: dict[str, Any] | None = None
    model_cfg: dict[str, Any] | None = Field(default=None, alias="model_config")
    market: str | None = None
    instruments: Any = None

    @model_validator(mode="after")
    def _normalise(self) -> StrategyEntry:
        if self.backtest_config and isinstance(self.backtest_config.get("benchmark"), str):
            self.backtest_config["benchmark"] = internal_code(self.backtest_config["benchmark"])
        return self

    @property
    def strategy_class(self) -> str | None:
        return (self.portfolio_config or {}).get("class")

    def strategy_kwarg(self, name: str) -> Any:
        return ((self.portfolio_config or {}).get("kwargs") or {}).get(name)

    @property
    def benchmark(self) -> str | None:
        return (self.backtest_config or {}).get("benchmark")


class LoopEntry(_Entry):
    """loop_catalog.json item (rdagent.md §3.3): the catalog's view of one solidified loop and its KPIs."""

    task_run_id: str = Field(min_length=1)
    loop_id: int
    workspace_id: str | None = None
    step_name: str | None = None
    action: str | None = None
    status: str | None = None
    asset_bundle_id: str | None = None
    strategy_id: str | None = None
    factor_names: list[str] = Field(default_factory=list)
    annualized_return: float | None = None
    max_drawdown: Drawdown = None
    sharpe: float | None = None
    ic: float | None = None
    ic_ir: float | None = None
    win_rate: float | None = None
    metrics: Metrics = Field(default_factory=dict)
    decision: bool | None = None
    summary_texts: dict[str, Any] = Field(default_factory=dict)


class ModelEntry(_Entry):
    """model_catalog.json item (rdagent.md §3.4). ``model_type`` may be an nn.Module name: rebuild from
    ``model_config``."""

    model_id: str = Field(min_length=1)
    task_run_id: str | None = None
    loop_id: int | None = None
    workspace_id: str | None = None
    model_type: str | None = None
    model_cfg: dict[str, Any] | None = Field(default=None, alias="model_config")
    dataset_config: dict[str, Any] | None = None

    @property
    def model_class(self) -> str | None:
        return (self.model_cfg or {}).get("class") or self.model_type


class RegistryFactor(_Entry):
    """A ``factor_registry`` row as returned inside ``/catalog/incremental`` (rdagent.md §5)."""

    factor_name: str = Field(min_length=1)
    asset_bundle_id: str = Field(min_length=1)
    expression: str | None = None
    performance: dict[str, Any] = Field(default_factory=dict, alias="performance_json")
    workspace_id: str | None = None
    task_run_id: str | None = None
    loop_id: int | None = None
    updated_at_utc: str | None = None

    @field_validator("performance", mode="before")
    @classmethod
    def _perf(cls, value: Any) -> Any:
        import json

        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value or {}


class IncrementalLoop(_Entry):
    """A raw ``loops`` row from ``/catalog/incremental``: 0/1 ints, ``metrics_json`` a string (rdagent.md §1.C)."""

    task_run_id: str = Field(min_length=1)
    loop_id: int
    action: str | None = None
    status: str | None = None
    has_result: bool | None = None
    best_workspace_id: str | None = None
    asset_bundle_id: str | None = None
    is_solidified: bool | None = None
    sync_status: str | None = None
    metrics: Metrics = Field(default_factory=dict, alias="metrics_json")
    updated_at_utc: str = Field(min_length=1)
    factors: list[RegistryFactor] = Field(default_factory=list)


class ArtifactFile(_Entry):
    file_id: str
    path: str
    sha256: str | None = None
    size_bytes: int | None = None
    mtime_utc: str | None = None
    kind: str | None = None


class Artifact(_Entry):
    """One registry artifact of a loop (``/loops/{task_run_id}/{loop_id}/artifacts``)."""

    artifact_id: str = Field(min_length=1)
    artifact_type: str
    name: str | None = None
    status: str | None = None
    primary_flag: bool = False
    entry_path: str | None = None
    summary: dict[str, Any] = Field(default_factory=dict)
    files: list[ArtifactFile] = Field(default_factory=list)

    @field_validator("files", mode="before")
    @classmethod
    def _files(cls, value: Any) -> Any:
        # the LEFT JOIN yields one all-null file for an artifact without files, in no defined order: sort by path
        files = [f for f in (value or []) if isinstance(f, dict) and f.get("file_id")]
        return sorted(files, key=lambda f: (str(f.get("path")), str(f.get("file_id"))))


class TaskItem(_Entry):
    task_id: str = Field(min_length=1)
    updated_at_utc: str | None = None
    has_sota: bool = False


class TaskSummary(_Entry):
    task_id: str = Field(min_length=1)
    log_dir: str | None = None
    workspace_ids: list[str] = Field(default_factory=list)
    session_anchor: dict[str, Any] = Field(default_factory=dict)
    sota_factor_anchor: dict[str, Any] = Field(default_factory=dict)


class TaskLoop(_Entry):
    """``/tasks/{id}/loops`` item. Its return/drawdown/IR are **with cost** first (rdagent.md §1.D ⚠)."""

    loop_id: int
    exp_type: str | None = None
    hypothesis: str | None = None
    reason: str | None = None
    valid_score: float | None = None
    test_score: float | None = None
    annualized_return: float | None = None
    max_drawdown: Drawdown = None
    information_ratio: float | None = None
    is_sota: bool = False
    feedback: bool | None = None


class AlignedFactor(_Entry):
    """``/api/extractors/sota_factors/v2/{id}/aligned`` item: the authoritative factor.py source (rdagent.md §7)."""

    factor_name: str = Field(min_length=1)
    source_code: str = Field(min_length=1)
    original_name: str | None = None
    source_from: str | None = None
    factor_formulation: str | None = None
    factor_description: str | None = None
    variables: Any = None
    metrics: dict[str, Any] = Field(default_factory=dict)


def _ident(item: Any, keys: Sequence[str], index: int) -> str:
    if isinstance(item, dict):
        parts = [f"{k}={item[k]!r}" for k in keys if k in item]
        if parts:
            return f"#{index} ({', '.join(parts)})"
    return f"#{index}"


def parse_entries(catalog: str, model: type[M], items: Any, ident: Sequence[str] = ("name",)) -> list[M]:
    """Validate every item; the first failure raises `CatalogError` naming catalog, entry and field."""
    if not isinstance(items, list):
        raise CatalogError(f"{catalog}: expected a list of entries, got {type(items).__name__}; is the file complete?")
    parsed: list[M] = []
    for index, item in enumerate(items):
        try:
            parsed.append(model.model_validate(item))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "<entry>"
            raise CatalogError(
                f"{catalog} entry {_ident(item, ident, index)}: field {field!r}: {err['msg']}; fix the entry on the "
                f"RD-Agent side (or re-run its exporter) and sync again"
            ) from None
        except ValueError as exc:
            raise CatalogError(f"{catalog} entry {_ident(item, ident, index)}: {exc}") from None
    return parsed


def section(catalog: str, payload: Any, key: str) -> Any:
    """``payload[key]`` of an envelope, or a `CatalogError` saying the envelope is not what the contract says."""
    if not isinstance(payload, dict) or key not in payload:
        found = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
        raise CatalogError(f"{catalog}: envelope has no {key!r} list (found {found}); is this an RD-Agent catalog?")
    return payload[key]


def unique_by(items: Iterable[M], key: Any) -> list[M]:
    """Last wins per key, first-seen order (a snapshot must not hold two rows for one key)."""
    out: dict[Any, M] = {}
    for item in items:
        out[key(item)] = item
    return list(out.values())
