"""``aistock feedback``: LiveFeedback files and the ExperimentRequests that follow from them.

``build`` writes one instance's LiveFeedback for a period: to ``--out`` when given, else into
``AISTOCK_FEEDBACK_DIR`` (with the ExperimentRequest beside it on a breach, POSTed when a URL is set, recorded for
``aistock loop status``). ``request`` turns a LiveFeedback file into its ExperimentRequest. Every refusal (unknown
instance, empty period, a period without sessions, a file that is not LiveFeedback v1) is one line, exit 2, and
nothing is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from aistock_pipelines.cli.options import JsonOpt
from aistock_pipelines.cli.render import echo_json, kv_table, make_console

app = typer.Typer(help="LiveFeedback to research: build feedback files and ExperimentRequests.",
                  no_args_is_help=True)



def _context():
    from aistock_core.config import get_settings
    from aistock_core.data.factory import build_service
    from aistock_core.db import Database

    settings = get_settings()
    return settings, Database(settings.sqlalchemy_url), build_service(settings)


@app.command()
def build(
    instance: Annotated[str, typer.Option("--instance", help="preview-<id> or trade-<name>.")],
    start: Annotated[str, typer.Option("--start", help="First day of the period (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option("--end", help="Last day of the period (YYYY-MM-DD).")],
    kind: Annotated[str, typer.Option("--kind", help="day, week, month or custom.")] = "custom",
    out: Annotated[Path | None, typer.Option("--out", help="Write here instead of AISTOCK_FEEDBACK_DIR.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the LiveFeedback of one instance over a period (validated against schema v1)."""
    from aistock_core.feedback.livefeedback import build_feedback, write_feedback
    from aistock_core.feedback.periods import make_period
    from aistock_core.feedback.publish import publish

    settings, db, service = _context()
    period = make_period(service.calendar, start, end, kind)
    if out is None:
        delivery = publish(db, service, settings, instance, period)
        path, request, doc = delivery.path, delivery.request_path, json.loads(delivery.path.read_text())
    else:
        doc = build_feedback(db, service, instance, period)
        path, request = write_feedback(doc, out), None
    perf = doc["performance"]
    summary = {"feedback": str(path), "request": str(request) if request else None, "sessions":
               doc["period"]["sessions"], "total_return": perf["total_return"], "sharpe": perf["sharpe"],
               "max_drawdown": perf["max_drawdown"], "breach": (doc.get("suggested_objective") or {}).get("why")}
    if as_json:
        echo_json(summary)
    else:
        make_console().print(kv_table(summary, title=f"LiveFeedback {doc['strategy_instance_id']}"))


@app.command()
def request(
    source: Annotated[Path, typer.Option("--from", help="A LiveFeedback v1 JSON file.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the ExperimentRequest JSON.")],
    objective: Annotated[str | None, typer.Option("--objective", help="Primary metric (default: from the "
                                                  "breach, else sharpe).")] = None,
    force: Annotated[bool, typer.Option(help="Replace --out even if aistock did not write it.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write the ExperimentRequest for a LiveFeedback file (with or without a breach)."""
    from aistock_core.errors import FeedbackError
    from aistock_core.feedback.livefeedback import validate
    from aistock_core.feedback.publish import write_request
    from aistock_core.feedback.request import build_request
    from aistock_core.instances import resolve_instance

    try:
        doc = json.loads(Path(source).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FeedbackError(f"cannot read LiveFeedback {source}: {exc}") from None
    if not isinstance(doc, dict):
        raise FeedbackError(f"{source} is not a LiveFeedback object")
    validate(doc)
    _, db, _ = _context()
    made = build_request(db, doc, resolve_instance(db, doc["strategy_instance_id"]), metric=objective,
                         feedback_ref=str(Path(source).resolve()))
    path = write_request(made, out, force=force)
    summary = {"request": str(path), "objective": made["objective"]["primary_metric"],
               "direction": made["objective"]["direction"], "why": made["description"]}
    if as_json:
        echo_json(summary)
    else:
        make_console().print(kv_table(summary, title="ExperimentRequest"))
