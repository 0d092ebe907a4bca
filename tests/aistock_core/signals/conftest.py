"""The preview tests' small synthetic market (with live quotes) and app DB on both dialects, shared as is."""

from tests.aistock_core.preview.conftest import db, market, service  # noqa: F401  (fixtures)
