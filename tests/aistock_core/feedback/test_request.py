"""ExperimentRequest: built from the loop's own catalog configs, and read by RD-Agent's request tool without losing
a field.

`rdagent_parse` re-implements the parsing rules of RD-Agent's ``tools/run_experiment_from_request.py``
(``_parse_experiment_request`` and its helpers, over the dataclasses of ``rdagent/core/experiment_request_schema.py``)
as read from github.com/licong01-cloud/RD-Agent; it is written from those rules, not copied:

1. the root must be an object; ``kind`` falls back to "research" when missing or not research/benchmark/ab_test;
   ``name``, ``description`` are taken as they are, ``user_tags`` and ``extra`` default to []/{} when falsy;
2. ``factor_set``: falsy → None; ``factors`` must be a list (else []), entries that are not objects or have no
   non-empty string ``name`` are dropped, each keeps ``name``, ``source``, ``version`` only; ``tags`` must be a
   list, ``extra`` an object (else empty);
3. ``strategy``: falsy → None, and dropped whole when ``strategy_type`` is not a non-empty string; keeps
   strategy_type, name, description, risk_model, trading_rule, benchmark, prompt_template_id, extra (the
   mappings default to {} when falsy);
4. ``train_test``: falsy → None; the six dates as given, ``dataset_extra`` {} when falsy;
5. ``objective``: falsy → (ic, maximize, {}); ``primary_metric`` defaults to "ic", ``direction`` is "minimize"
   only when it says so (anything else is "maximize"), ``constraints`` {} when falsy;
6. ``model``: falsy → None; model_type, model_class, kwargs, extra (mappings {} when falsy);
7. ``dataset``: falsy → None; class_name defaults to "DatasetH" and handler_class to "Alpha158" only when the key
   is absent; handler_kwargs, segments, extra {} when falsy.
Any other key is ignored. "No field lost" = the parse, turned back into JSON, equals what we sent.
"""

from __future__ import annotations

import json

import pytest

from aistock_core.db.models.research import ResearchLoop
from aistock_core.errors import FeedbackError
from aistock_core.feedback.livefeedback import build_feedback
from aistock_core.feedback.periods import make_period
from aistock_core.feedback.request import breaches, build_request
from aistock_core.instances import resolve_instance
from aistock_core.preview.engine import SignalPreviewEngine
from aistock_core.preview.instances import create_instance
from aistock_core.preview.settle import settle
from aistock_core.research.export_dir import ExportDirSource
from aistock_core.research.sync import sync
from tests.aistock_core.feedback.conftest import DAYS, rotating_targets

_OBJECT_KEYS = {
    "factor_set": ("factors", "tags", "extra"),
    "strategy": ("strategy_type", "name", "description", "risk_model", "trading_rule", "benchmark",
                 "prompt_template_id", "extra"),
    "train_test": ("train_start", "train_end", "valid_start", "valid_end", "test_start", "test_end", "dataset_extra"),
    "model": ("model_type", "model_class", "kwargs", "extra"),
    "dataset": ("class_name", "handler_class", "handler_kwargs", "segments", "extra"),
}
_MAPPINGS = {"risk_model", "trading_rule", "extra", "dataset_extra", "kwargs", "handler_kwargs", "segments",
             "constraints"}


def _block(name: str, payload):
    if not payload:
        return None
    if name == "strategy" and not (isinstance(payload.get("strategy_type"), str) and payload["strategy_type"]):
        return None
    out = {}
    for key in _OBJECT_KEYS[name]:
        if key == "factors":
            raw = payload.get("factors") or []
            out[key] = [{"name": f["name"], "source": f.get("source"), "version": f.get("version")}
                        for f in (raw if isinstance(raw, list) else [])
                        if isinstance(f, dict) and isinstance(f.get("name"), str) and f["name"]]
        elif key == "tags":
            out[key] = payload.get("tags") if isinstance(payload.get("tags"), list) else []
        elif name == "dataset" and key in ("class_name", "handler_class"):
            out[key] = payload.get(key, "DatasetH" if key == "class_name" else "Alpha158")
        elif key in _MAPPINGS:
            value = payload.get(key) or {}
            out[key] = value if (name != "factor_set" or isinstance(value, dict)) else {}
        else:
            out[key] = payload.get(key)
    return out


def rdagent_parse(obj) -> dict:
    """The request as RD-Agent's tool holds it after parsing (``asdict`` of its ExperimentRequest)."""
    if not isinstance(obj, dict):
        raise SystemExit("ExperimentRequest JSON root must be an object")
    objective = obj.get("objective")
    kind = obj.get("kind") or "research"
    return {
        "kind": kind if kind in ("research", "benchmark", "ab_test") else "research",
        **{name: _block(name, obj.get(name)) for name in ("strategy", "factor_set", "train_test")},
        "objective": {"primary_metric": str(objective.get("primary_metric") or "ic"),
                      "direction": "minimize" if objective.get("direction") == "minimize" else "maximize",
                      "constraints": objective.get("constraints") or {}} if objective else
        {"primary_metric": "ic", "direction": "maximize", "constraints": {}},
        **{name: _block(name, obj.get(name)) for name in ("model", "dataset")},
        "name": obj.get("name"), "description": obj.get("description"),
        "user_tags": obj.get("user_tags") or [], "extra": obj.get("extra") or {},
    }


def _without_nulls(value):
    """Our JSON minus keys whose value is null (the dataclass fills those in as None, which is no loss)."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def test_the_reimplementation_drops_what_rdagent_drops():
    parsed = rdagent_parse({"kind": "grid", "strategy": {"name": "no type"}, "factor_set": {"factors": [
        {"name": "a"}, {"source": "x"}, "b", {"name": ""}]}, "dataset": {"handler_class": None}})
    assert parsed["kind"] == "research" and parsed["strategy"] is None
    assert [f["name"] for f in parsed["factor_set"]["factors"]] == ["a"]
    assert parsed["dataset"]["class_name"] == "DatasetH" and parsed["dataset"]["handler_class"] is None
    assert parsed["objective"] == {"primary_metric": "ic", "direction": "maximize", "constraints": {}}


@pytest.fixture
def looped(db, service, export_dir, tmp_path):
    """A preview instance of a synced research loop, with a drawdown limit its NAV breaches."""
    sync(db, ExportDirSource(export_dir), tmp_path / "blobs")
    with db.session() as s:
        loop = s.query(ResearchLoop).filter(ResearchLoop.factor_names.isnot(None)).order_by(
            ResearchLoop.task_run_id, ResearchLoop.loop_id).first()
        key = f"{loop.task_run_id}/{loop.loop_id}"
    inst = create_instance(db, "looped", 1e6, loop=key, params={"limits": {"max_drawdown": 0.005}})
    engine = SignalPreviewEngine(db, service, rotating_targets(service, 2))
    for day in DAYS:
        engine.run(day, ids=[inst.id])
        settle(db, service, day)
    return f"preview-{inst.id}", key


def test_request_from_the_loops_configs_survives_rdagents_parser(db, service, looped):
    ref, loop = looped
    doc = build_feedback(db, service, ref, make_period(service.calendar, DAYS[0], DAYS[-1]))
    assert doc["experiment_id"] == loop and doc["expectation"]["expected_sharpe"] is not None
    instance = resolve_instance(db, ref)
    assert breaches(doc, instance.limits())[0]["constraint"] == "max_drawdown"
    request = build_request(db, doc, instance, feedback_ref="fb.json")
    sent = json.loads(json.dumps(request))
    parsed = rdagent_parse(sent)
    assert _without_nulls(parsed) == _without_nulls(sent)  # nothing dropped, nothing renamed
    assert parsed["strategy"]["strategy_type"] == "topk" and parsed["factor_set"]["factors"]
    assert "." in parsed["model"]["model_class"] and parsed["extra"]["config_source"] == "loop"
    assert parsed["objective"]["primary_metric"] == "max_drawdown"
    assert parsed["objective"]["constraints"]["max_drawdown"] == -0.005
    assert parsed["train_test"]["test_end"] >= doc["period"]["end_date"]
    run, number = loop.split("/")
    with db.session() as s:
        names = s.get(ResearchLoop, (run, int(number))).factor_names
    assert [f["name"] for f in parsed["factor_set"]["factors"]] == names


def test_objective_override_and_unknown_metric(db, service, traded):
    doc = build_feedback(db, service, traded["calm"], make_period(service.calendar, DAYS[0], DAYS[-1]))
    instance = resolve_instance(db, traded["calm"])
    request = build_request(db, doc, instance, metric="volatility")
    assert request["objective"]["primary_metric"] == "volatility" and request["objective"]["direction"] == "minimize"
    assert request["extra"]["config_source"] == "reference" and request["model"]["model_class"].endswith(".LGBModel")
    assert rdagent_parse(request)["strategy"] is not None
    with pytest.raises(FeedbackError, match="unknown objective metric 'alpha'"):
        build_request(db, doc, instance, metric="alpha")
