"""Turn RD-Agent's loosely typed values into the numbers and names AIstock stores (rdagent.md §3, §4, §14).

The exporters write what they happen to hold: ``best_performance`` is a display string, metrics come as
Qlib keys (sometimes with stray whitespace) or in a legacy ``{"Unnamed: 0": name, "0": value}`` form,
max drawdown may carry either sign, codes may be Qlib-style (``SH000300``) and field names may keep
Qlib's ``$``. Each helper here fixes exactly one of these, so the pydantic models stay declarative.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from aistock_core.codes import to_internal
from aistock_core.errors import InstrumentError

#: The literal the factor exporter writes when a factor has no backtest ("no backtest record").
NO_BACKTEST = "无回测记录"
_BEST_PERF = re.compile(
    r"sharpe\s*:\s*(?P<sharpe>[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"
    r"(?:\s*,\s*ann\.?\s*ret\s*:\s*(?P<ret>[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)\s*(?P<pct>%)?)?",
    re.IGNORECASE,
)
COST_BASES = ("without_cost", "with_cost")
_EXCESS = "1day.excess_return_{cost}.{name}"


def parse_best_performance(text: str | None) -> tuple[float | None, float | None]:
    """``"Sharpe: 1.42, Ann.Ret: 23.10%"`` → ``(1.42, 0.231)``; the no-record literal or None → ``(None, None)``.

    Raises ValueError on any other text, so a changed exporter format is noticed instead of read as "no data".
    """
    if text is None:
        return None, None
    stripped = text.strip()
    if not stripped or stripped == NO_BACKTEST:
        return None, None
    match = _BEST_PERF.search(stripped)
    if match is None:
        raise ValueError(
            f"unrecognised best_performance {text!r}; expected 'Sharpe: x, Ann.Ret: y%' or {NO_BACKTEST!r}"
        )
    sharpe = float(match["sharpe"])
    ret = match["ret"]
    ann = None if ret is None else float(ret) / (100.0 if match["pct"] else 1.0)
    return sharpe, ann


def _number(value: Any) -> float | None:
    """A finite float, or None for null/NaN/inf/non-numeric strings (JSON from pandas may hold "NaN")."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def flatten_metrics(metrics: Any) -> dict[str, float | None]:
    """Metrics as ``{stripped qlib key: float|None}`` from a dict, the legacy record form, or a list of records.

    Legacy files hold ``{"Unnamed: 0": "<metric>", "0": value}`` (a ``to_csv`` round trip), either alone or
    as a list; whitespace around keys is stripped because one registry path writes a trailing space.
    """
    if metrics is None:
        return {}
    if isinstance(metrics, str):
        try:
            metrics = json.loads(metrics) if metrics.strip() else {}
        except json.JSONDecodeError as exc:
            raise ValueError(f"metrics is a string but not JSON: {exc}") from None
    records = metrics if isinstance(metrics, list) else [metrics]
    flat: dict[str, float | None] = {}
    for record in records:
        if not isinstance(record, Mapping):
            raise ValueError(f"metrics entry must be an object, got {type(record).__name__}")
        if "Unnamed: 0" in record:
            name = str(record["Unnamed: 0"]).strip()
            flat[name] = _number(record.get("0", next((v for k, v in record.items() if k != "Unnamed: 0"), None)))
            continue
        for key, value in record.items():
            if isinstance(value, (Mapping, list)):
                continue  # nested structures (e.g. "_raw") are not metrics
            flat[str(key).strip()] = _number(value)
    return flat


def negative_drawdown(value: float | None) -> float | None:
    """Max drawdown is a loss: always ≤ 0 (some payloads report its magnitude)."""
    return None if value is None else -abs(value)


def _first(flat: Mapping[str, float | None], *keys: str) -> float | None:
    """The first key present with a value. Not an ``or``-chain: 0.0 is a value (rdagent.md §14.8)."""
    for key in keys:
        value = flat.get(key)
        if value is not None:
            return value
    return None


def kpis_from_metrics(flat: Mapping[str, float | None]) -> dict[str, dict[str, float | None]]:
    """KPIs per cost basis from flattened Qlib metrics; a basis with no return figures is left out.

    IC-type figures do not depend on costs and are repeated on each basis so that each row stands alone.
    Bare ``annualized_return``/``max_drawdown``/``sharpe`` keys (factor_perf, loop catalog) are
    *without cost* by the exporters' rule, so they fill that basis when the Qlib key is absent.
    """
    ic = {
        "ic": _first(flat, "IC", "ic"),
        "ic_ir": _first(flat, "ICIR", "ic_ir", "icir"),
        "rank_ic": _first(flat, "Rank IC", "rank_ic"),
        "rank_ic_ir": _first(flat, "Rank ICIR", "rank_icir", "rank_ic_ir"),
    }
    out: dict[str, dict[str, float | None]] = {}
    for cost in COST_BASES:
        def key(name: str, cost: str = cost) -> str:
            return _EXCESS.format(cost=cost, name=name)

        bare = cost == "without_cost"
        row = {
            "annualized_return": _first(flat, key("annualized_return"), *(["annualized_return"] if bare else [])),
            "max_drawdown": negative_drawdown(_first(flat, key("max_drawdown"), *(["max_drawdown"] if bare else []))),
            "information_ratio": _first(flat, key("information_ratio"), *(["sharpe"] if bare else [])),
            "mean_return": _first(flat, key("mean")),
            "std_return": _first(flat, key("std")),
            "win_rate": _first(flat, "win_rate") if bare else None,
        }
        if any(v is not None for v in row.values()):
            out[cost] = {**row, **ic}
    if not out and any(v is not None for v in ic.values()):
        out["without_cost"] = {"annualized_return": None, "max_drawdown": None, "information_ratio": None,
                               "mean_return": None, "std_return": None, "win_rate": None, **ic}
    return out


def bare_field(name: str) -> str:
    """``$close`` / ``Close`` → ``close`` (factor code and DataService speak bare lower-case names)."""
    return name.strip().lstrip("$").lower()


def internal_code(value: str) -> str:
    """A code in any spelling → ``000300.SH``; market names (``csi300``, ``all``) pass through unchanged."""
    try:
        return to_internal(value)
    except InstrumentError:
        return value


def expression_key(expression: str | None, name: str) -> str:
    """The exporter's dedup key: md5 of the expression without whitespace, lower-cased (else of the name)."""
    basis = re.sub(r"\s+", "", expression).lower() if expression else f"name:{name}"
    return hashlib.md5(basis.encode("utf-8")).hexdigest()


def content_hash(payload: Any) -> str:
    """sha256 of canonical JSON: what "changed" means for a synced row."""
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


__all__ = [
    "COST_BASES",
    "NO_BACKTEST",
    "bare_field",
    "content_hash",
    "expression_key",
    "flatten_metrics",
    "internal_code",
    "kpis_from_metrics",
    "negative_drawdown",
    "parse_best_performance",
]
