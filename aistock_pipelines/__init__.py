"""AIstock pipelines: the Dagster face of aistock_core (assets, checks, resources, jobs, schedules, sensors)."""
