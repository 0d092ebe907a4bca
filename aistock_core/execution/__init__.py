"""Execution: target weights → orders → pre-trade risk → broker gateway, for paper and live instances.

Modules, in the order an order run uses them (`session.run_slot` strings them together):

* `instances` — instance creation and the guards in front of every submission (session day; for live an
  authoritative day, ``AISTOCK_TRADING_MODE=live`` and a recorded approval); the instance's gateway.
* `quotes` — the market view: last price, exact limit band (`trading.prices`), suspension, ST, recent volume.
* `targets` — weights from a file, or the demo momentum targets.
* `portfolio` — weights → whole-lot target shares (cap per name, cash reserve).
* `planner` — target vs holdings → limit orders, sells first, buys sized by cash incl. fees, skips with reasons.
* `intents` — deterministic intent keys and the broker-side remark digest.
* `risk` — the per-instance policy (YAML/JSON), the trading states, one verdict per order.
* `states` — the order state machine and miniQMT's status codes.
* `store` — every execution write (Alembic branch ``execution``), repeatable by natural key.
* `gateway` — the broker interface; `simulated` (paper broker with fault injection, over `feed`'s minute bars)
  and `qmt` (miniQMT's xtquant) implement it.
* `runner` — one slot: reconcile, plan, risk, persist, submit, reconcile; `reconcile` — local vs broker.
* `harness` — the seeded fault-injection harness (test and benchmark).

Nothing here imports Dagster; `aistock_pipelines/defs/execution` and `aistock_pipelines/cli/trade.py` are the faces.
"""
