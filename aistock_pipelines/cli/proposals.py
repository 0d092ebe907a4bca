"""The optimizer's proposals on the command line: ``proposals`` lists them, ``approve`` / ``reject`` decide.

These are commands of the ``aistock loop`` group: `register` attaches them to it. An approval records who and
why, then creates the next parameter version of every instance it touches; a rejection only records. A malformed
decision (unknown id, a proposal already decided, no ``--by``) is one line, exit 2, and nothing is written.
"""

from __future__ import annotations

from typing import Annotated

import typer

from aistock_pipelines.cli.options import JsonOpt
from aistock_pipelines.cli.render import echo_json, make_console, print_frame

By = Annotated[str, typer.Option("--by", help="Who decides (recorded).")]
Note = Annotated[str | None, typer.Option("--note", help="Why (recorded).")]


def _db():
    from aistock_core.config import get_settings
    from aistock_core.db import Database

    return Database(get_settings().sqlalchemy_url)


def proposals(
    status: Annotated[str, typer.Option("--status", help="pending, approved, rejected or all.")] = "pending",
    as_json: JsonOpt = False,
) -> None:
    """List the optimizer's proposals (default: those waiting for a decision)."""
    import pandas as pd

    from aistock_core.db.models.feedback import PROPOSAL_STATUSES
    from aistock_core.errors import FeedbackError
    from aistock_core.feedback.proposals import list_proposals

    if status != "all" and status not in PROPOSAL_STATUSES:
        raise FeedbackError(f"unknown status {status!r}; use {', '.join(PROPOSAL_STATUSES)} or all")
    rows = list_proposals(_db(), None if status == "all" else status)
    if as_json:
        echo_json([r.as_dict() for r in rows])
        return
    if not rows:
        make_console().print(f"no {'' if status == 'all' else status + ' '}proposals")
        return
    frame = pd.DataFrame([{
        "id": r.id, "day": r.day, "kind": r.kind, "scope": r.scope, "status": r.status,
        "change": "; ".join(f"{ref}: {', '.join(f'{k}={v}' for k, v in c.items())}" for ref, c in r.changes.items()),
        "metric": r.evidence.get("metric"), "before": (r.evidence.get("before") or {}).get("value"),
        "after": (r.evidence.get("after") or {}).get("value")} for r in rows])
    print_frame(frame, title="optimizer proposals")


def _decide(action: str, proposal_id: str, by: str, note: str | None, as_json: bool) -> None:
    from aistock_core.errors import FeedbackError
    from aistock_core.feedback.proposals import decide

    if not proposal_id.strip().isdigit():
        raise FeedbackError(f"proposal id {proposal_id!r} is not a number; see `aistock loop proposals`")
    view = decide(_db(), int(proposal_id), action, by, note)
    if as_json:
        echo_json(view.as_dict())
    else:
        make_console().print(f"proposal {view.id} ({view.kind} {view.scope}) {view.status} by {by.strip()}")


def approve(proposal_id: Annotated[str, typer.Argument(help="Proposal id (see `aistock loop proposals`).")],
            by: By, note: Note = None, as_json: JsonOpt = False) -> None:
    """Approve a proposal: record the decision and create the new parameter version(s)."""
    _decide("approve", proposal_id, by, note, as_json)


def reject(proposal_id: Annotated[str, typer.Argument(help="Proposal id (see `aistock loop proposals`).")],
           by: By, note: Note = None, as_json: JsonOpt = False) -> None:
    """Reject a proposal: record the decision; nothing changes."""
    _decide("reject", proposal_id, by, note, as_json)


def register(app: typer.Typer) -> None:
    """Attach ``proposals``, ``approve`` and ``reject`` to ``app`` (the ``aistock loop`` group)."""
    app.command("proposals")(proposals)
    app.command("approve")(approve)
    app.command("reject")(reject)

