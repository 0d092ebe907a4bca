"""Research: RD-Agent's results synced into our database (catalogs, bundles, SOTA code), browsed and marked.

Sources (`source.open_source`: the HTTP results API or an export directory) serve the shapes of the shared
contract (rdagent.md); `entries` validates them, `sync` stores them by natural key in one transaction. This box
knows nothing of strategies or the demo: the default source (the demo export) is chosen by configuration in
`aistock_core.specs`.
"""
