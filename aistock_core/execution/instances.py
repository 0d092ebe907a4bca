"""Trading instances: validated creation, the guards in front of every submission, and their gateways.

The guards are the line between a plan and money moving: a paper or live run needs a trading session; a live
run additionally needs an authoritative (not provisional) calendar day, ``AISTOCK_TRADING_MODE=live`` on this
machine and a recorded approval for the instance. Each refusal is one `AistockError` line and nothing is sent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from aistock_core.calendar import TradingCalendar
from aistock_core.data.service import DataService
from aistock_core.db.models.execution import TradeInstance
from aistock_core.errors import CalendarError, ConfigError, GatewayError
from aistock_core.execution.feed import MinuteFeed
from aistock_core.execution.gateway import Gateway
from aistock_core.execution.risk import RiskPolicy, policy_from_mapping
from aistock_core.execution.simulated import SimulatedBroker, load_state, save_state
from aistock_core.execution.store import ExecutionStore

if TYPE_CHECKING:
    from aistock_core.specs import InstanceDecl

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class InstanceSpec(BaseModel):
    """What `aistock trade instance create` accepts."""

    model_config = ConfigDict(extra="forbid")

    name: str
    capital: float = Field(gt=0)
    mode: Literal["paper", "live"] = "paper"
    gateway: Literal["simulated", "qmt"] = "simulated"
    account_id: str | None = None
    loop: str | None = None
    model: str | None = None
    frequency: Literal["daily", "hourly"] = "daily"


def create_instance(store: ExecutionStore, policy: RiskPolicy, **fields) -> int:
    """Validate and insert an instance; bad input is a `ConfigError` naming the field."""
    try:
        spec = InstanceSpec(**fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}={e.get('input')!r}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid trading instance: {problems}") from None
    if not _NAME.match(spec.name):
        raise ConfigError(f"instance name {spec.name!r}: use letters, digits, '_', '.', '-' (≤ 64 characters)")
    row = spec.model_dump()
    row.update(account_id=spec.account_id or f"SIM-{spec.name}", policy=policy.model_dump(mode="json"),
               trading_state="active")
    return store.create_instance(row)


def ensure_paper_instances(store: ExecutionStore, policy: RiskPolicy, decls: Sequence[InstanceDecl]) -> list[str]:
    """Create the declared paper instances (simulated broker) whose names do not exist yet; returns their names.
    Existing ones are left as they are, so running this again changes nothing."""
    with store.db.session() as session:
        have = set(session.scalars(select(TradeInstance.name).where(TradeInstance.name.in_([d.name for d in decls]))))
    new = [d for d in decls if d.name not in have]
    for d in new:
        create_instance(store, policy, name=d.name, capital=d.capital, loop=d.loop, model=d.model, mode="paper",
                        gateway="simulated")
    return [d.name for d in new]


def instance_policy(store: ExecutionStore, name: str) -> RiskPolicy:
    return policy_from_mapping(store.instance(name).policy, where=f"of instance {name!r}")


def require_can_submit(store: ExecutionStore, name: str, day: pd.Timestamp, calendar: TradingCalendar,
                       trading_mode: str) -> None:
    """Every guard in front of a paper or live submission (see the module docstring)."""
    inst = store.instance(name)
    if not calendar.is_session(day):
        raise CalendarError(f"{day:%Y-%m-%d} is not a trading session on {calendar.name}; instance {name!r} "
                            f"sends orders on sessions only")
    if inst.mode != "live":
        return
    calendar.require_authoritative(day, "send live orders")  # an estimated (provisional) day never moves money
    if trading_mode != "live":
        raise ConfigError(f"instance {name!r} is live but AISTOCK_TRADING_MODE is {trading_mode!r}; set "
                          f"AISTOCK_TRADING_MODE=live on the trading machine to allow real orders")
    if store.latest_approval(name) is None:
        raise ConfigError(f"instance {name!r} is live but has no recorded approval; run "
                          f"`aistock trade approve --instance {name} --by NAME` first")


def paper_state_path(home: Path, account_id: str) -> Path:
    return home / "paper" / f"{account_id}.json"


def open_gateway(store: ExecutionStore, name: str, data: DataService, home: Path, day: pd.Timestamp,
                 universe: list[str] | None = None) -> Gateway:
    """The instance's gateway, connected, its session on ``day``: the paper broker from its saved state (a new
    one holding the instance's capital the first time), or miniQMT."""
    inst = store.instance(name)
    if inst.gateway == "qmt":
        raise GatewayError(f"instance {name!r} uses the qmt gateway, which needs miniQMT and the `qmt` extra on "
                           f"Windows; run it there, or create a simulated instance here")
    feed = MinuteFeed(data)
    path = paper_state_path(home, inst.account_id)
    broker = load_state(path, feed) if path.exists() else SimulatedBroker(feed, account_id=inst.account_id,
                                                                          cash=inst.capital)
    if broker.day is None or broker.day < day:
        broker.start_day(day, universe)
    elif broker.day > day:
        raise GatewayError(f"the paper account {inst.account_id} is already on {broker.day:%Y-%m-%d}; it cannot "
                           f"go back to {day:%Y-%m-%d}")
    broker.connect()
    return broker


def close_gateway(gateway: Gateway, home: Path) -> None:
    """Persist the paper broker's state (miniQMT keeps its own)."""
    if isinstance(gateway, SimulatedBroker):
        save_state(gateway, paper_state_path(home, gateway.account_id))
