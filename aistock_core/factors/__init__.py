"""Factors: Qlib expressions evaluated with Qlib 0.9.7's exact semantics, Alpha158, and migrated RD-Agent code.

Public API of the expression engine (other boxes and the Dagster assets call these):

- `aistock_core.factors.parser.parse(text) -> expr.Expr` (``Expr.window()`` = sessions of look-back)
- `aistock_core.factors.engine.compute(panel, expressions)` / `FactorEngine` / `compute_frame(service, ...)`
- `aistock_core.factors.alpha158.alpha158_expressions()`, `ALPHA158_LABEL`, `alpha360_expressions()`
- `aistock_core.factors.sets.FactorSet`: a configured group of migrated factors and its reference
- alignment: `alignment.compare` (the comparison), `references` (Qlib's ``D.features``, a bundle's parquet),
  `verify.run_check` (migrated values and a reference over one window, compared)

The expression tree (`expr`) sits below both the operator table (`ops`) and the parser, so neither imports
the other.
"""
