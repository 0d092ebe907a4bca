"""AIstock core: pure domain logic (data, factors, models, strategies, preview, execution, feedback).

Nothing in this package imports dagster; `aistock_pipelines` is the thin orchestration layer over it.
"""

__version__ = "0.1.0"
