"""The demo: everything that lets the project run end to end on a laptop without RD-Agent or vendor data.

`export`: a demo RD-Agent export generated from the synthetic market (catalogs, registry, bundles, the replay
reference loop); `factors`: its RD-Agent-style factor code with their Qlib migrations; `specs`: the demo
configuration of the pipelines. Production code reaches the demo only through configuration
(`aistock_core.specs`: the default specs and research source); nothing in ``aistock_pipelines/defs`` or
``aistock_core/research`` imports it.
"""
