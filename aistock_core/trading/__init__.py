"""Trading primitives: the one home of accounts, orders, fills, the A-share rule set, fees and corporate actions.

Every box that trades — the backtest (both modes), preview virtual accounts, the simulated broker, the pre-trade
risk engine and the order planner — builds on these modules; nothing else defines a trading rule or a fee rate.
The package imports only `aistock_core.codes` and `aistock_core.errors` (it sits below data and strategy).

Modules and what the next boxes take from them:

* `rules` — per-board rule set: ``limit_rate(s)`` (main 10%, ChiNext/STAR 20%, BJ 30%, ST 5% on the main
  boards), ``ipo_free_sessions`` (no limit on an IPO's first session(s)), ``lot_rule(s)`` (100; STAR 200 then 1),
  ``round_buy_shares``/``round_sell_shares`` (odd lots only leave as a whole holding), ``no_trade``
  (suspended: no valid close or no volume), ``TICK``.
  *Order planner*: size target shares with ``round_buy_shares``; *risk engine*: reject an order whose shares
  are not what ``round_*_shares`` would give.
* `prices` — ``price_band(codes, prev_close, st=, cash=, bonus=)`` → (reference, up, down) for a day or a
  grid; its parts ``reference_price(prev_close, cash, bonus)`` (previous close adjusted for the day's corporate
  action, on the tick) and ``limit_prices(ref, rate)`` = ``round_half_up(ref × (1 ± rate), 0.01)`` exact in
  cents; ``at_or_beyond(price, limit)``. *Simulated broker*: refuse fills at or beyond a limit; *risk engine*:
  deny limit orders priced outside the day's band; *planner*: skip names sealed at a limit.
* `fees` — ``AshareFees.cost(value, day, sell=...)`` (commission with a 5-yuan minimum, stamp duty by date on
  sells, transfer fee both sides) and ``dividend_tax_rate(opened, sold)``. *Preview* and the *simulated broker*
  bill fills with it; the *planner* reserves ``buy_rate()`` of cash for fees.
* `orders` — ``Orders`` (one day's sells then buys as arrays over instrument columns), ``Fills`` (per order:
  dealt amount, price, value, cost, reason, status) and the ``REASONS``/``STATUSES`` codes they carry.
  *Simulated broker* returns ``Fills``; *risk engine* denies orders by status ("denied" ≠ venue "rejected").
* `account` — ``Account``: cash, holdings with T+1 ``sellable`` volume, the opening day of each position, and
  ``events`` (``AccountEvents``: bonus shares, cash dividends, dividend tax — every non-trade credit with its
  reason). ``credit_actions`` applies a day's corporate actions. *Preview* keeps one per virtual account.
* `corporate_actions` — ``CorporateActions`` grids (cash and bonus shares per share, by session ×
  instrument), from the data service's ``corporate_actions`` view (a table) or derived from the adjustment
  factor by the convention documented there.
* `qlib_rules` — ``QlibExchangeConfig``: Qlib's own region-cn exchange model (``|change| ≥ 0.095`` limits,
  ``max(value × rate, min_cost)`` costs, adjusted lots), which only the Qlib-compatible backtest uses.
"""
