"""Instances, virtual trading, refresh, settlement and reconciliation on SQLite and PostgreSQL (`db_url`)."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, func, select, text

from aistock_core.db.models.preview import PreviewAccount, PreviewPosition, PreviewTrade
from aistock_core.errors import PreviewError
from aistock_core.preview.check import reconcile_values
from aistock_core.preview.engine import SignalPreviewEngine
from aistock_core.preview.instances import (
    archive_instance,
    create_instance,
    get_instance,
    list_instances,
    stop_instance,
)
from aistock_core.preview.marks import MARK_LOCK
from aistock_core.preview.refresh import refresh
from aistock_core.preview.settle import settle, settle_range
from tests.aistock_core.preview.conftest import DAYS, rotating_targets

pytestmark = pytest.mark.usefixtures("db")


def _table(db, model, preview_id) -> pd.DataFrame:
    with db.engine.connect() as conn:
        frame = pd.read_sql(select(model).where(model.preview_id == preview_id), conn)
    keys = [c for c in ("trading_day", "slot", "symbol", "side") if c in frame.columns]
    return frame.drop(columns=["id", "preview_id"]).sort_values(keys).reset_index(drop=True)


def test_a_row_with_only_the_issue_columns_is_valid(db):
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO preview_strategy (id, strategy_id, name, initial_capital, status, created_at, "
                          "updated_at) VALUES (7, 's', 'raw', 1000, 'running', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        conn.execute(text("INSERT INTO preview_trade (preview_id, trading_day, datetime, symbol, side, price, volume,"
                          " amount, reason) VALUES (7, '2024-04-01', '2024-04-01 09:35:00', '600000.SH', 'buy', 10,"
                          " 100, 1000, 'manual')"))
        conn.execute(text("INSERT INTO preview_position (preview_id, trading_day, symbol, volume, avg_cost, "
                          "last_price, market_value) VALUES (7, '2024-04-01', '600000.SH', 100, 10, 10, 1000)"))
        conn.execute(text("INSERT INTO preview_account (preview_id, trading_day, cash, total_value, daily_pnl, "
                          "cum_pnl) VALUES (7, '2024-04-01', 0, 1000, 0, 0)"))
        assert conn.scalar(text("SELECT status || fee || stale FROM preview_trade JOIN preview_position USING "
                                "(preview_id)")) in ("filled00", "filled0false", "filled0.0false", "filled0.00")


def test_instances_refuse_bad_input_with_one_clear_error(db):
    with pytest.raises(PreviewError, match="positive"):
        create_instance(db, "x", 0)
    with pytest.raises(PreviewError, match="positive"):
        create_instance(db, "x", -1e6)
    with pytest.raises(PreviewError, match="positive"):
        create_instance(db, "x", float("nan"))
    assert list_instances(db) == [], "a refused instance writes nothing"
    with pytest.raises(PreviewError, match="no preview instance with id 999"):
        get_instance(db, 999)
    a = create_instance(db, "a", 1e6)
    with pytest.raises(PreviewError, match="already exists"):
        create_instance(db, "a", 1e6)
    assert stop_instance(db, a.id).status == "stopped"
    assert archive_instance(db, a.id).status == "archived"
    with pytest.raises(PreviewError, match="archived; it cannot become stopped"):
        stop_instance(db, a.id)


def test_trading_a_stopped_instance_or_a_holiday_changes_nothing(db, service):
    a = create_instance(db, "a", 1e6)
    stop_instance(db, a.id)
    engine = SignalPreviewEngine(db, service, rotating_targets(service))
    with pytest.raises(PreviewError, match="only running instances trade"):
        engine.run(DAYS[0], ids=[a.id])
    with pytest.raises(PreviewError, match="not an XSHG session"):
        engine.run("2024-04-04", ids=[a.id])  # Qingming holiday
    with pytest.raises(PreviewError, match="outside the sessions"):
        engine.run(DAYS[0], slot="12:00", ids=[a.id])
    with pytest.raises(PreviewError, match="no preview instance with id 999"):
        engine.run(DAYS[0], ids=[999])
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(PreviewTrade)) == 0


def test_a_missing_quote_stops_the_trade_before_anything_is_written(db, service, monkeypatch):
    a = create_instance(db, "a", 1e6)
    engine = SignalPreviewEngine(db, service, rotating_targets(service))
    real = service.get_realtime_snapshot
    monkeypatch.setattr(service, "get_realtime_snapshot", lambda universe, at=None: real(universe, at=at).iloc[1:])
    with pytest.raises(PreviewError, match=r"no quote at 2024-04-01 09:35 for 1 symbol\(s\)"):
        engine.run(DAYS[0])
    for model in (PreviewTrade, PreviewPosition, PreviewAccount):
        assert _table(db, model, a.id).empty
    monkeypatch.setattr(service, "get_realtime_snapshot", real)
    assert engine.run(DAYS[0]).instances[a.id]["filled"] > 0, "the slot trades once the quotes are back"


def test_rerunning_a_slot_changes_nothing_and_fills_use_the_snapshot(db, service):
    a = create_instance(db, "a", 1e6)
    engine = SignalPreviewEngine(db, service, rotating_targets(service))
    first = engine.run(DAYS[0], "10:00")
    before = [_table(db, m, a.id) for m in (PreviewTrade, PreviewPosition, PreviewAccount)]
    again = engine.run(DAYS[0], "10:00")
    assert a.id in again.skipped and not again.instances
    after = [_table(db, m, a.id) for m in (PreviewTrade, PreviewPosition, PreviewAccount)]
    for x, y in zip(before, after, strict=True):
        pd.testing.assert_frame_equal(x, y)
    trades = before[0]
    assert first.instances[a.id]["filled"] == (trades["status"] == "filled").sum() > 0
    snap = service.get_realtime_snapshot(list(trades["symbol"]), at=DAYS[0] + pd.Timedelta(hours=10))
    np.testing.assert_allclose(trades["price"], snap["close"].reindex(trades["symbol"]).to_numpy())
    filled = trades[trades["status"] == "filled"]
    star = filled["symbol"].str.startswith("688")
    assert (filled.loc[~star, "volume"] % 100 == 0).all() and (filled.loc[star, "volume"] >= 200).all()


def test_refresh_marks_every_holding_and_flags_missing_quotes_stale(db, service, monkeypatch):
    a = create_instance(db, "a", 1e6)
    b = create_instance(db, "b", 2e6)
    SignalPreviewEngine(db, service, rotating_targets(service)).run(DAYS[0])
    at = DAYS[0] + pd.Timedelta(hours=14, minutes=1)
    held = _table(db, PreviewPosition, a.id)
    gone = held["symbol"].iloc[0]
    real = service.get_realtime_snapshot
    monkeypatch.setattr(service, "get_realtime_snapshot",
                        lambda universe, at=None: real([u for u in universe if u != gone], at=at))
    result = refresh(db, service, at)
    assert (result.instances, result.stale) == (2, 2)
    snap = real(sorted(set(held["symbol"])), at=at)["close"]
    for preview_id in (a.id, b.id):
        pos = _table(db, PreviewPosition, preview_id).set_index("symbol")
        fresh = pos.drop(index=gone)
        np.testing.assert_allclose(fresh["last_price"], snap.reindex(fresh.index))
        np.testing.assert_allclose(fresh["market_value"], fresh["volume"] * snap.reindex(fresh.index))
        assert pos.loc[gone, "stale"] and not fresh["stale"].any()
        assert pos.loc[gone, "last_price"] == pytest.approx(held.set_index("symbol").loc[gone, "last_price"])
        account = _table(db, PreviewAccount, preview_id).iloc[0]
        assert account["total_value"] == pytest.approx(account["cash"] + pos["market_value"].sum())
        assert account["stale_positions"] == 1


def test_refresh_leaves_an_instance_stopped_during_the_day_alone(db, service):
    a = create_instance(db, "a", 1e6)
    b = create_instance(db, "b", 1e6)
    SignalPreviewEngine(db, service, rotating_targets(service)).run(DAYS[0])
    stop_instance(db, b.id)
    frozen = [_table(db, m, b.id) for m in (PreviewPosition, PreviewAccount)]
    before = _table(db, PreviewPosition, a.id)
    result = refresh(db, service, DAYS[0] + pd.Timedelta(hours=14, minutes=30))
    assert result.instances == 1 and result.positions == len(before)
    for old, model in zip(frozen, (PreviewPosition, PreviewAccount), strict=True):
        pd.testing.assert_frame_equal(old, _table(db, model, b.id))
    assert not np.allclose(before["last_price"], _table(db, PreviewPosition, a.id)["last_price"])


def test_refresh_skips_while_another_holds_the_lock(db, service, db_url):
    if db.is_sqlite:
        pytest.skip("SQLite serialises refreshes on its write lock; the advisory lock is PostgreSQL's")
    a = create_instance(db, "a", 1e6)
    SignalPreviewEngine(db, service, rotating_targets(service)).run(DAYS[0])
    before = _table(db, PreviewPosition, a.id)
    other = create_engine(db_url)
    with other.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MARK_LOCK})
        result = refresh(db, service, DAYS[0] + pd.Timedelta(hours=14))
    other.dispose()
    assert result.skipped
    pd.testing.assert_frame_equal(before, _table(db, PreviewPosition, a.id))


def _closes(market, day) -> dict[str, float]:
    """Raw closes straight from the provider (not through the settlement code), last known for suspended."""
    dates = market.calendar.sessions_in_range("2024-01-02", day)
    panel = market.load(market.instruments("all"), dates, ["close"])
    return pd.DataFrame(panel["close"], columns=panel.instruments).ffill().iloc[-1].to_dict()


def test_backfill_equals_day_by_day_and_values_reconcile_to_the_cent(db, service, market):
    daily = create_instance(db, "daily", 1e6)
    backfill = create_instance(db, "backfill", 1e6)
    engine = SignalPreviewEngine(db, service, rotating_targets(service))
    for day in DAYS:
        engine.run(day, ids=[daily.id])
        settle(db, service, day)  # settles both; "backfill" has no trades yet on the first days
        stop_instance(db, daily.id) if day == DAYS[-1] else None
    # The second instance replays the same decisions, then settles the whole range at once.
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM preview_account WHERE preview_id = :i"), {"i": backfill.id})
        conn.execute(text("DELETE FROM preview_position WHERE preview_id = :i"), {"i": backfill.id})
    for day in DAYS:
        engine.run(day, ids=[backfill.id])
    settle_range(db, service, DAYS[0], DAYS[-1])
    cols = ["trading_day", "cash", "total_value", "daily_pnl", "cum_pnl", "peak", "drawdown", "nav", "settled"]
    one, two = _table(db, PreviewAccount, daily.id), _table(db, PreviewAccount, backfill.id)
    pd.testing.assert_frame_equal(one[cols], two[cols])
    assert one["settled"].all() and len(one) == len(DAYS)

    # Independent replay of preview_trade + closes, in plain Python.
    trades = _table(db, PreviewTrade, daily.id)
    for day in DAYS:
        shares: dict[str, float] = {}
        cash = 1e6
        for row in trades[trades["trading_day"] <= day.date()].itertuples():
            if row.status != "filled":
                continue
            if row.side == "buy":
                shares[row.symbol] = shares.get(row.symbol, 0) + row.volume
                cash -= row.amount + row.fee
            elif row.side == "sell":
                shares[row.symbol] = shares.get(row.symbol, 0) - row.volume
                cash += row.amount - row.fee
            elif row.side == "bonus":
                shares[row.symbol] = shares.get(row.symbol, 0) + row.volume
            else:
                cash += row.amount
        close = _closes(market, day)
        expected = cash + sum(v * close[s] for s, v in shares.items())
        recorded = one.set_index("trading_day").loc[day.date(), "total_value"]
        assert abs(recorded - expected) < 0.005, (day, recorded, expected)
    prev = 1e6
    for row in one.itertuples():
        assert row.daily_pnl == pytest.approx(row.total_value - prev, abs=1e-6)
        prev = row.total_value
    check = reconcile_values(db, service, DAYS[-1])
    assert check["ok"].all() and len(check) == 2


def test_settling_a_holiday_is_refused(db, service):
    create_instance(db, "a", 1e6)
    with pytest.raises(PreviewError, match="not an XSHG session"):
        settle(db, service, date(2024, 4, 4))


@pytest.mark.parametrize("dividend", [0.0, 0.5])
def test_corporate_actions_are_credited_when_the_day_opens(db, market, dividend):
    """601004.SH has a factor step (bonus shares) on 2024-04-09 in this market; a dividend comes from a table."""
    from aistock_core.data.service import DataService

    actions = None
    if dividend:
        index = pd.MultiIndex.from_tuples([(pd.Timestamp("2024-04-09"), "601004.SH")], names=["datetime", "instrument"])
        actions = pd.DataFrame({"cash": [dividend], "bonus": [0.1]}, index=index)
    service = DataService(market, quotes=market, actions=actions)
    bonus = 0.1 if dividend else float(service.corporate_actions(["601004.SH"], start="2024-04-09",
                                                                 end="2024-04-09")["bonus"].iloc[0])
    a = create_instance(db, "a", 1e6, params={"fees": False})
    engine = SignalPreviewEngine(db, service, lambda instance, day: pd.Series({"601004.SH": 0.9}))
    engine.run("2024-04-08")
    settle(db, service, "2024-04-08")
    held = _table(db, PreviewPosition, a.id).set_index("symbol").loc["601004.SH", "volume"]
    cash = _table(db, PreviewAccount, a.id)["cash"].iloc[0]
    settle(db, service, "2024-04-09")  # opens the day: bonus shares and the dividend are credited first
    trades = _table(db, PreviewTrade, a.id)
    credits = trades[trades["trading_day"] == date(2024, 4, 9)].set_index("side")
    extra = math.floor(held * bonus + 1e-9)
    assert credits.loc["bonus", "volume"] == extra and credits.loc["bonus", "slot"] == "open"
    positions = _table(db, PreviewPosition, a.id)
    position = positions[positions["trading_day"] == date(2024, 4, 9)].iloc[0]
    assert position["volume"] == held + extra and position["sellable"] == held + extra
    account = _table(db, PreviewAccount, a.id).iloc[-1]
    assert account["cash"] == pytest.approx(cash + held * dividend)
    if dividend:
        assert credits.loc["dividend", "amount"] == pytest.approx(held * dividend)
    assert reconcile_values(db, service, "2024-04-09")["ok"].all()


def test_two_concurrent_trades_of_one_slot_apply_once(db, service):
    if db.is_sqlite:
        pytest.skip("SQLite lets one writer in at a time; the concurrent path under test is PostgreSQL's row lock")
    from concurrent.futures import ThreadPoolExecutor

    a = create_instance(db, "a", 1e6)
    engine = SignalPreviewEngine(db, service, rotating_targets(service))
    with ThreadPoolExecutor(2) as pool:
        summaries = list(pool.map(lambda _: engine.run(DAYS[0], "10:00", ids=[a.id]), range(2)))
    filled = [s.instances.get(a.id, {}).get("filled", 0) for s in summaries]
    assert sorted(filled)[0] == 0 and sorted(filled)[1] > 0
    trades = _table(db, PreviewTrade, a.id)
    assert (trades["status"] == "filled").sum() == max(filled)
    bought = trades[trades["side"] == "buy"].groupby("symbol")["volume"].sum()
    held = _table(db, PreviewPosition, a.id).set_index("symbol")["volume"]
    pd.testing.assert_series_equal(held.sort_index(), bought[bought > 0].sort_index(), check_names=False)


@pytest.mark.parametrize("sold_share", [1.0, 0.5])
def test_a_sale_after_an_ex_dividend_day_pays_the_dividend_tax(db, market, sold_share):
    """Bought 2024-04-08, 0.5 yuan a share paid on 2024-04-09, sold 2024-04-10 (held ≤ 1 month: 20 % of the
    sold shares' dividends, by hand); the rest of the holding still owes the tax on its own part."""
    from aistock_core.data.service import DataService

    index = pd.MultiIndex.from_tuples([(pd.Timestamp("2024-04-09"), "601004.SH")], names=["datetime", "instrument"])
    service = DataService(market, quotes=market, actions=pd.DataFrame({"cash": [0.5], "bonus": [0.0]}, index=index))
    a = create_instance(db, "a", 1e6, params={"fees": False})
    weights = {"2024-04-08": 0.9, "2024-04-09": 0.9, "2024-04-10": 0.9 * (1 - sold_share)}
    engine = SignalPreviewEngine(db, service, lambda instance, day: pd.Series({"601004.SH": weights[f"{day:%F}"]}))
    for day in weights:
        engine.run(day)
        settle(db, service, day)
    trades = _table(db, PreviewTrade, a.id)
    buys = trades[trades["side"] == "buy"].set_index("trading_day")["volume"]
    at_ex, held = buys[date(2024, 4, 8)], buys.sum()  # more is bought on the ex-day, after the dividend
    sold = trades[trades["side"] == "sell"]["volume"].sum()
    assert sold > 0 and trades.loc[trades["side"] == "dividend", "amount"].sum() == pytest.approx(0.5 * at_ex)
    due = 0.5 * at_ex * sold / held * 0.20  # the sold part of the holding's dividends, 20 %
    tax = trades[trades["side"] == "tax"]
    assert list(tax["trading_day"]) == [date(2024, 4, 10)] and list(tax["reason"]) == ["dividend_tax"]
    assert tax["amount"].iloc[0] == pytest.approx(due)
    sell = trades[trades["side"] == "sell"].iloc[0]
    accounts = _table(db, PreviewAccount, a.id).set_index("trading_day")
    assert accounts.loc[date(2024, 4, 10), "cash"] == pytest.approx(
        accounts.loc[date(2024, 4, 9), "cash"] + sell["amount"] - due)
    positions = _table(db, PreviewPosition, a.id)
    left = positions[positions["trading_day"] == date(2024, 4, 10)]
    if sold_share < 1:
        assert left["dividend"].iloc[0] == pytest.approx(0.5 * at_ex * (1 - sold / held))
        assert left["opened"].iloc[0] == date(2024, 4, 8)
    else:
        assert left.empty
    assert reconcile_values(db, service, "2024-04-10")["ok"].all()


def test_an_instance_without_targets_is_skipped_and_the_others_trade(db, service):
    from aistock_core.errors import StrategyError

    a = create_instance(db, "a", 1e6)
    b = create_instance(db, "b", 1e6, loop="run/9")
    serve = rotating_targets(service)

    def targets(instance, day):
        if instance.loop:
            raise StrategyError("no catalog loop 'run/9'")
        return serve(instance, day)

    summary = SignalPreviewEngine(db, service, targets).run(DAYS[0])
    assert summary.instances[a.id]["filled"] > 0 and b.id not in summary.instances
    assert summary.skipped[b.id] == "no targets: no catalog loop 'run/9'"
    assert _table(db, PreviewTrade, b.id).empty and _table(db, PreviewAccount, b.id).empty
