"""The blocking check's second opinion: every figure of a written LiveFeedback file recomputed from the tables.

Deliberately not the builder's code: the rows are read with plain SQL, aggregates (turnover, order counts,
slippage, fees) are summed by the database, and the statistics are computed by explicit formulas over Python
lists (compounded returns, running peak, sample variance). A file agrees when every number in its
``performance`` and ``execution`` blocks (the NAV series included) matches within `TOLERANCE`.
"""

from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy import text

from aistock_core.data.service import DataService
from aistock_core.db import Database
from aistock_core.instances import resolve_instance
from aistock_core.trading.fees import STAMP_DUTY_CUT, AshareFees

TOLERANCE = 1e-7
N = 238


def _rows(db: Database, sql: str, **params) -> list:
    with db.engine.connect() as conn:
        return list(conn.execute(text(sql), params))


def _day(value) -> str:
    return str(value)[:10]


def _preview_values(db: Database, pid: int, start: str, end: str, capital: float) -> tuple[float, list, float]:
    rows = _rows(db, "SELECT trading_day, total_value FROM preview_account WHERE preview_id = :p AND settled "
                     "AND trading_day BETWEEN :s AND :e ORDER BY trading_day", p=pid, s=start, e=end)
    before = _rows(db, "SELECT total_value FROM preview_account WHERE preview_id = :p AND settled AND "
                       "trading_day < :s ORDER BY trading_day DESC LIMIT 1", p=pid, s=start)
    traded = _rows(db, "SELECT COALESCE(SUM(ABS(amount)), 0) FROM preview_trade WHERE preview_id = :p AND "
                       "status = 'filled' AND side IN ('buy', 'sell') AND trading_day BETWEEN :s AND :e",
                   p=pid, s=start, e=end)[0][0]
    return (before[0][0] if before else capital), [(_day(d), float(v)) for d, v in rows], float(traded)


def _trade_values(db: Database, service: DataService, name: str, start: str, end: str,
                  capital: float) -> tuple[float, list, float]:
    snaps = _rows(db, "SELECT trading_day, cash, positions FROM trade_account_snapshots WHERE instance = :n AND "
                      "kind = 'open' AND trading_day <= :e ORDER BY trading_day", n=name, e=end)
    fills = _rows(db, "SELECT trading_day, symbol, side, volume, price, fee FROM trade_fills WHERE instance = :n "
                      "AND trading_day <= :e", n=name, e=end)
    closes: dict[tuple[str, str], float] = {}
    symbols = sorted({f[1] for f in fills} | {s for snap in snaps for s in _positions(snap[2])})
    if snaps and symbols:
        panel = service.get_panel(symbols, start=_day(snaps[0][0]), end=end, fields=["close"], adjust=None)
        for j, symbol in enumerate(panel.instruments):
            last = math.nan
            for i, date in enumerate(panel.dates):
                price = float(panel["close"][i, j])
                last = price if price == price else last
                closes[(f"{date:%Y-%m-%d}", symbol)] = last
    values = []
    for day, cash, positions in snaps:
        day, held = _day(day), {s: v[0] for s, v in _positions(positions).items()}
        total = float(cash)
        for f in fills:
            if _day(f[0]) == day:
                sign = 1 if f[2] == "buy" else -1
                total -= sign * f[3] * f[4] + f[5]
                held[f[1]] = held.get(f[1], 0) + sign * f[3]
        avg = {s: v[2] for s, v in _positions(positions).items()}
        for symbol, volume in held.items():
            price = closes.get((day, symbol), math.nan)
            total += volume * (price if price == price else avg.get(symbol, 0.0))
        values.append((day, total))
    earlier = [v for d, v in values if d < start]
    traded = sum(f[3] * f[4] for f in fills if start <= _day(f[0]) <= end)
    return (earlier[-1] if earlier else capital), [(d, v) for d, v in values if start <= d], traded


def _positions(raw) -> dict:
    import json

    return json.loads(raw) if isinstance(raw, str) else dict(raw or {})


def _performance(base: float, values: list, traded: float, capital: float, bench: list[float]) -> dict:
    chain = [base] + [v for _, v in values]
    r = [chain[i] / chain[i - 1] - 1 for i in range(1, len(chain))]
    n = len(r)
    growth = math.exp(sum(math.log1p(x) for x in r)) - 1
    mean = sum(r) / n
    var = sum((x - mean) ** 2 for x in r) / (n - 1) if n > 1 else math.nan
    sd = math.sqrt(var) if var == var else math.nan
    peak, worst = base, 0.0
    for v in chain[1:]:
        peak = max(peak, v)
        worst = min(worst, v / peak - 1)
    bench_total = bench[-1] / bench[0] - 1
    return {"total_return": growth, "annual_return": (1 + growth) ** (N / n) - 1, "volatility": sd * math.sqrt(N),
            "sharpe": mean / sd * math.sqrt(N) if sd > 0 else None, "max_drawdown": worst,
            "win_rate": sum(1 for x in r if x > 0) / n, "turnover": traded / (sum(chain[1:]) / n),
            "benchmark_return": bench_total, "excess_return": growth - bench_total,
            "nav": [(d, v / capital, b / bench[0]) for (d, v), b in zip(values, bench[1:], strict=True)]}


def _execution(db: Database, name: str, start: str, end: str) -> dict:
    by_state = {s: (int(c), float(v or 0), float(f or 0)) for s, c, v, f in _rows(
        db, "SELECT o.state, COUNT(*), SUM(i.volume), SUM(o.filled_volume) FROM trade_orders o JOIN trade_intent i "
            "ON i.intent_key = o.intent_key WHERE i.instance = :n AND i.trading_day BETWEEN :s AND :e "
            "GROUP BY o.state", n=name, s=start, e=end)}
    sent = {s: v for s, v in by_state.items() if s != "denied"}
    ordered = sum(v[1] for v in sent.values())
    slip, vol, fees = _rows(
        db, "SELECT SUM(CASE WHEN f.side = 'buy' THEN 1 ELSE -1 END * (f.price - i.price) / i.price * f.volume), "
            "SUM(CASE WHEN i.price > 0 THEN f.volume ELSE 0 END), (SELECT SUM(fee) FROM trade_fills WHERE "
            "instance = :n AND trading_day BETWEEN :s AND :e) FROM trade_fills f JOIN trade_intent i ON "
            "i.intent_key = f.intent_key WHERE f.instance = :n AND f.trading_day BETWEEN :s AND :e AND i.price > 0",
        n=name, s=start, e=end)[0]
    fees_ = AshareFees()
    stamp = sum(v * p * (fees_.stamp_duty_before if _day(d) < f"{STAMP_DUTY_CUT:%Y-%m-%d}" else fees_.stamp_duty_after)
                for d, v, p in _rows(db, "SELECT trading_day, volume, price FROM trade_fills WHERE instance = :n AND "
                                         "side = 'sell' AND trading_day BETWEEN :s AND :e", n=name, s=start, e=end))
    waits = [(datetime.fromisoformat(t).replace(tzinfo=None) - datetime.fromisoformat(
        f"{_day(d)}T{slot.replace(':', '')[:2]}:{slot.replace(':', '')[2:4]}:00")).total_seconds()
        for d, t, slot in _rows(db, "SELECT f.trading_day, f.traded_at, i.slot FROM trade_fills f JOIN trade_intent "
                                    "i ON i.intent_key = f.intent_key WHERE f.instance = :n AND f.trading_day "
                                    "BETWEEN :s AND :e AND i.price > 0", n=name, s=start, e=end)]
    count = lambda s: by_state.get(s, (0, 0, 0))[0]  # noqa: E731
    return {"orders": sum(v[0] for v in sent.values()), "filled_orders": count("filled"),
            "fill_ratio": sum(v[2] for v in sent.values()) / ordered if ordered else 0.0,
            "avg_slippage_bps": (slip or 0.0) / vol * 1e4 if vol else 0.0, "order_reject_count": count("rejected"),
            "cancel_count": count("canceled"), "risk_block_count": count("denied"),
            "avg_fill_seconds": sum(waits) / len(waits) if waits else 0.0,
            "commission": float(fees or 0.0) - stamp, "stamp_duty": stamp}


def _differs(a, b) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None or (isinstance(b, float) and math.isnan(b)))
    return not math.isclose(float(a), float(b), rel_tol=TOLERANCE, abs_tol=TOLERANCE)


def recompute_mismatches(db: Database, service: DataService, doc: dict) -> list[str]:
    """Fields of ``doc`` whose value the tables do not give (empty: the file agrees)."""
    instance = resolve_instance(db, doc["strategy_instance_id"])
    start, end = doc["period"]["start_date"], doc["period"]["end_date"]
    if instance.is_preview:
        base, values, traded = _preview_values(db, instance.row_id, start, end, instance.capital)
    else:
        base, values, traded = _trade_values(db, service, instance.name, start, end, instance.capital)
    if not values:
        return [f"{instance.id}: no account rows in {start}..{end}"]
    code = doc["performance"]["benchmark"]
    panel = service.get_panel([code], start=service.calendar.previous(values[0][0]), end=end, fields=["close"],
                              adjust=None)
    by_day = {f"{d:%Y-%m-%d}": float(c) for d, c in zip(panel.dates, panel["close"][:, 0], strict=True) if c == c}
    days = [f"{service.calendar.previous(values[0][0]):%Y-%m-%d}"] + [d for d, _ in values]
    bench = [by_day[d] for d in days]
    want = _performance(base, values, traded, instance.capital, bench)
    out = []
    got = doc["performance"]
    for key, value in want.items():
        if key == "nav":
            if [(p["date"]) for p in got["nav"]] != [d for d, _, _ in value]:
                out.append("performance.nav dates")
            out += [f"performance.nav[{p['date']}]" for p, (_, nav, b) in zip(got["nav"], value, strict=False)
                    if _differs(p["nav"], nav) or _differs(p["benchmark_nav"], b)]
        elif _differs(got[key], value):
            out.append(f"performance.{key}: file {got[key]} vs tables {value}")
    if doc["period"]["sessions"] != len(values):
        out.append(f"period.sessions: file {doc['period']['sessions']} vs tables {len(values)}")
    expected = {k: 0 for k in doc["execution"]} if instance.is_preview else _execution(db, instance.name, start, end)
    out += [f"execution.{k}: file {doc['execution'][k]} vs tables {v}" for k, v in expected.items()
            if _differs(doc["execution"][k], v)]
    return out
