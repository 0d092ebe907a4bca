"""LiveFeedback v1 documents: built from the account tables, validated, written atomically, optionally POSTed.

Every document is validated against the JSON Schema shipped with the package (``schema/livefeedback.v1.json``)
before it touches the disk; the file goes to ``<root>/<instance>/<kind>/<start>_<end>.json`` through a temporary
sibling and a rename, so RD-Agent's scanner never reads half a file. A re-run rewrites the same file.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import numpy as np
import pandas as pd
from sqlalchemy import select

from aistock_core.calendar import SESSION_TZ, exchange_now
from aistock_core.data.service import DataService
from aistock_core.data.store import atomic_path
from aistock_core.db import Database
from aistock_core.db.models.execution import RiskEvent, TradeHalt
from aistock_core.db.models.feedback import FeedbackFile
from aistock_core.db.upsert import upsert
from aistock_core.errors import FeedbackError
from aistock_core.feedback import figures
from aistock_core.feedback.history import AccountHistory
from aistock_core.feedback.loopconfig import LoopConfigs, loop_configs
from aistock_core.feedback.periods import Period
from aistock_core.feedback.request import breaches, objective
from aistock_core.instances import Instance, resolve_instance, strategy_of

SCHEMA_VERSION = 1
#: First bytes of every LiveFeedback file (what `atomic_path` lets a re-run replace).
MAGIC = b'{\n  "schema_version": 1'
#: risk_events kinds → contract event types.
_EVENT_TYPES = {"reconcile": "position_mismatch", "verdict": "risk_limit_hit"}


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(resources.files("aistock_core.feedback").joinpath("schema/livefeedback.v1.json").read_text())


def validate(doc: dict) -> None:
    """Raise `FeedbackError` naming the first field that breaks the v1 schema (or a NaN anywhere)."""
    try:
        json.dumps(doc, allow_nan=False)
    except ValueError:
        raise FeedbackError("LiveFeedback carries NaN or infinity; numbers must be finite or null") from None
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema()).iter_errors(doc))
    if error is not None:
        where = "/".join(map(str, error.absolute_path)) or "(root)"
        raise FeedbackError(f"LiveFeedback breaks schema v1 at {where}: {error.message}")
    _check_meaning(doc)


def _check_meaning(doc: dict) -> None:
    """What the schema's patterns cannot say but a request built from the file relies on: the period's dates
    are real days in order, and the strategy's ``kwargs`` (its trading rule) is an object."""
    period = doc["period"]
    days = {}
    for key in ("start_date", "end_date"):
        try:
            days[key] = pd.Timestamp(period[key])
        except ValueError:
            raise FeedbackError(f"LiveFeedback period/{key} {period[key]!r} is not a date") from None
    if days["start_date"] > days["end_date"]:
        raise FeedbackError(f"LiveFeedback period {period['start_date']}..{period['end_date']} ends before it starts")
    kwargs = doc["config"]["strategy"].get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise FeedbackError(f"LiveFeedback config/strategy/kwargs must be an object, not {kwargs!r}")


def sha256_of(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def shanghai_time(value) -> str:
    """ISO 8601 with ``+08:00``; a naive stamp is UTC (the databases' ``now()``)."""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    return stamp.tz_convert(SESSION_TZ).isoformat(timespec="seconds")


def _replay_tracking_error(db: Database, instance: Instance, period: Period) -> float | None:
    """The tracking error against our backtest replay that the day's evaluation (`performance_report`, which runs
    before this asset) recorded for the instance at the period's end; None when there is none."""
    from aistock_core.db.models.signals import PerformanceReportRow as R

    with db.session() as s:
        return s.scalar(select(R.tracking_error).where(R.instance == instance.id, R.trading_day == period.end.date()))


def _model(instance: Instance, configs: LoopConfigs) -> dict:
    """The instance's model: its registry reference resolved to the version it points to when the file is written
    and the last day that version's training read labels for; name only for a loop's model without one."""
    from aistock_core.config import get_settings
    from aistock_core.errors import ModelError
    from aistock_core.models.scoring import ServedModel
    from aistock_core.models.tracking import store_exists

    out = {"name": instance.model or configs.model.get("model_type"), "version": None, "trained_until": None}
    uri = get_settings().tracking_uri
    if instance.model and store_exists(uri):
        try:
            served = ServedModel.load(uri, instance.model)
        except ModelError:
            return out  # a reference the registry no longer resolves: the name as configured, nothing invented
        out["version"] = str(served.version)
        out["trained_until"] = max(str(end)[:10] for _, end in served.meta["window"].values())
    return out


def _expectation(configs: LoopConfigs, performance: dict, tracking_error: float | None = None) -> dict:
    kpis = configs.kpis
    expected_dd = kpis.get("max_drawdown")
    out = {"source": "loop KPIs", "expected_return": figures.number(kpis.get("annualized_return")),
           "expected_sharpe": figures.number(kpis.get("information_ratio")),
           "expected_max_drawdown": figures.number(-abs(expected_dd)) if expected_dd is not None else None,
           "tracking_error": figures.number(tracking_error)}
    realised, expected = performance["sharpe"], out["expected_sharpe"]
    if configs.experiment_id is None:
        out["divergence"] = "no research loop: nothing to compare with"
    elif expected is None:
        out["divergence"] = f"loop {configs.experiment_id} has no KPIs in the synced catalog"
    elif realised is None:
        out["divergence"] = f"too few sessions for a Sharpe ratio; research expected {expected:.2f}"
    else:
        out["divergence"] = f"Sharpe {realised:.2f} live vs {expected:.2f} expected ({realised - expected:+.2f})"
    if out["tracking_error"] is not None:
        out["divergence"] += f"; tracking error {out['tracking_error']:.2%} against the backtest replay"
    return out


def _events(db: Database, instance: Instance, period: Period, history: AccountHistory,
            limit: float) -> list[dict]:
    chain = np.concatenate([[history.base_value], history.value.to_numpy(float)])
    drawdown = chain[1:] / np.maximum.accumulate(chain)[1:] - 1.0
    out = [{"time": shanghai_time(pd.Timestamp(day).tz_localize(SESSION_TZ) + pd.Timedelta(hours=15)),
            "type": "drawdown_alert", "detail": f"drawdown {dd:.2%} beyond the limit -{limit:.2%}"}
           for day, dd in zip(history.value.index, drawdown, strict=True) if dd <= -limit]
    if instance.is_preview:
        return out
    first, last = period.start.date(), period.end.date()
    with db.session() as s:
        risk = s.scalars(select(RiskEvent).where(
            RiskEvent.instance == instance.name, RiskEvent.trading_day >= first, RiskEvent.trading_day <= last,
            RiskEvent.kind.in_(list(_EVENT_TYPES)), RiskEvent.allowed.isnot(True)).order_by(RiskEvent.id)).all()
        halts = s.scalars(select(TradeHalt).where(TradeHalt.instance == instance.name)).all()
    out += [{"time": shanghai_time(e.created_at), "type": _EVENT_TYPES[e.kind], "detail": f"{e.rule}: {e.message}",
             **({"order_id": e.intent_key} if e.intent_key else {})} for e in risk]
    out += [{"time": shanghai_time(h.halted_at), "type": "kill_switch",
             "detail": f"halted by {h.halted_by}: {h.reason}"} for h in halts
            if f"{first}" <= shanghai_time(h.halted_at)[:10] <= f"{last}"]
    return sorted(out, key=lambda e: e["time"])


def build_feedback(db: Database, service: DataService, ref: str, period: Period) -> dict:
    """The LiveFeedback document of instance ``ref`` over ``period`` (validated)."""
    instance = resolve_instance(db, ref)
    history, performance = figures.instance_performance(db, service, instance, period)
    configs = loop_configs(db, instance.loop)
    strategy = strategy_of(db, instance)
    doc = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": shanghai_time(exchange_now()),
        "strategy_instance_id": instance.id,
        "experiment_id": configs.experiment_id,
        "env": instance.env,
        "period": {**period.as_dict(), "sessions": len(history.value)},
        "config": {"strategy_config_hash": sha256_of(strategy),
                   "factor_set_hash": sha256_of(sorted(configs.factor_names)),
                   "model": _model(instance, configs),
                   "strategy": strategy},
        "performance": performance,
        "execution": figures.execution(history, instance.is_preview),
        "expectation": _expectation(configs, performance, _replay_tracking_error(db, instance, period)),
        "events": _events(db, instance, period, history, instance.limits()["max_drawdown"]),
    }
    found = breaches(doc, instance.limits())
    doc["suggested_objective"] = objective(doc, found, instance.limits()) if found else None
    validate(doc)
    return doc


def feedback_path(root: Path, doc: dict) -> Path:
    p = doc["period"]
    return Path(root) / doc["strategy_instance_id"] / p["kind"] / f"{p['start_date']}_{p['end_date']}.json"


def dump(doc: dict) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(doc: dict, out: Path, magic: bytes, *, force: bool = False) -> Path:
    """Write ``doc`` to ``out`` atomically (an existing file is replaced only if it starts with ``magic``, or
    with ``force``)."""
    with atomic_path(Path(out), magic=magic, force=force) as tmp:
        tmp.write_text(dump(doc), encoding="utf-8")
    return Path(out)


def write_feedback(doc: dict, out: Path) -> Path:
    validate(doc)
    return write_json(doc, out, MAGIC)


@dataclass(frozen=True)
class PostResult:
    ok: bool
    attempts: int
    detail: str


def post_feedback(doc: dict, url: str, *, deadline: float = 30.0, attempts: int = 4,
                  transport: httpx.BaseTransport | None = None) -> PostResult:
    """POST the document as JSON, retrying transport errors and 5xx/429 answers with exponential back-off (0.5 s,
    1 s, 2 s, …) until ``attempts`` or ``deadline`` seconds are spent; a 4xx answer is final (retrying the same
    body cannot help)."""
    started, delay, detail = time.monotonic(), 0.5, ""
    with httpx.Client(transport=transport) as client:
        for attempt in range(1, attempts + 1):
            left = deadline - (time.monotonic() - started)
            if left <= 0:
                break
            try:
                response = client.post(url, content=dump(doc), timeout=left,
                                        headers={"content-type": "application/json"})
            except httpx.HTTPError as exc:
                detail = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 300:
                    return PostResult(True, attempt, f"HTTP {response.status_code}")
                detail = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code != 429:
                    return PostResult(False, attempt, detail)
            if attempt < attempts:
                time.sleep(max(0.0, min(delay, deadline - (time.monotonic() - started))))
                delay *= 2
    return PostResult(False, attempt, detail or "deadline passed")


def record_file(db: Database, doc: dict, path: Path, breaches: list[dict], request_path: Path | None,
                posted: str | None) -> None:
    """Remember what was written (upsert by instance, kind, start, end): `aistock loop status` reads it."""
    p = doc["period"]
    with db.session() as s:
        upsert(s, FeedbackFile, [{
            "instance": doc["strategy_instance_id"], "env": doc["env"], "kind": p["kind"],
            "start_date": pd.Timestamp(p["start_date"]).date(), "end_date": pd.Timestamp(p["end_date"]).date(),
            "path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "breaches": breaches,
            "request_path": str(request_path) if request_path else None, "posted": posted,
            "written_at": exchange_now().to_pydatetime()}])
