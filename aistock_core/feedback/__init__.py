"""The feedback box: what live and preview trading teach research, and what we would change ourselves.

- `history`: an instance's (`aistock_core.instances`: preview ``preview-<id>``, paper/live ``trade-<name>``)
  daily account over a period, read from the preview and execution tables.
- `figures`: the period figures of that account (the daily evaluation's and LiveFeedback's, one definition).
- `analyzer`: the daily evaluation of every instance (figures, signals, patterns, divergence).
- `livefeedback`: the LiveFeedback v1 document (contract ``livefeedback.md``), validated against the
  shipped JSON Schema, written atomically under ``AISTOCK_FEEDBACK_DIR`` and optionally POSTed.
- `recompute`: the same figures computed a second, independent way from the tables (the blocking check).
- `request`: constraint breaches and the ExperimentRequest that asks research to address them.
- `optimizer` / `proposals`: parameter changes proposed from documented estimators with held-out evidence,
  applied only through a recorded approval, each approval creating a new parameter version.
"""
