"""What the assets that keep the specs' declared instances in existence report (preview and paper instances)."""

from collections.abc import Sequence

import dagster as dg

from aistock_core.specs import InstanceDecl


def declared_result(decls: Sequence[InstanceDecl], created: Sequence[str]) -> dg.MaterializeResult:
    """How many instances the specs declare, how many this run created, and their names."""
    return dg.MaterializeResult(metadata={
        "declared": dg.MetadataValue.int(len(decls)), "created": dg.MetadataValue.int(len(created)),
        "names": dg.MetadataValue.json([d.name for d in decls])})
