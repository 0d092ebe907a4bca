"""Dagster definitions split by domain box (DESIGN.md §1); each subpackage exposes ``defs``."""
