"""Dagster definitions split by domain box (data, factors, research, strategy); each subpackage exposes ``defs``."""
