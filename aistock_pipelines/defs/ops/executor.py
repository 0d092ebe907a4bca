"""The project's default executor, chosen by ``AISTOCK_EXECUTOR``: Dagster's multiprocess one, or Celery.

With ``celery`` every asset job without an executor of its own (factors, training, backfills) sends its steps to
Celery workers (`dagster-celery`, the ``celery`` extra) over the broker in ``AISTOCK_CELERY_BROKER``: RabbitMQ
(``pyamqp://…``) or Redis (``redis://…``). Broker and backend URLs are passed as ``{env: …}`` so a password
never shows in the UI's run config. Every process that loads the code (gRPC server, daemon, run workers, Celery
workers) must see the same ``AISTOCK_*`` environment.
"""

import dagster as dg

from aistock_core.config import Settings
from aistock_core.errors import ConfigError


def executor_from_settings(settings: Settings) -> dg.ExecutorDefinition | None:
    """The Celery executor when ``settings.executor == "celery"``; None: Dagster's default (multiprocess)."""
    if settings.executor != "celery":
        return None
    try:
        from dagster_celery import celery_executor
    except ImportError as exc:
        raise ConfigError("AISTOCK_EXECUTOR=celery needs the celery extra: pip install -e '.[celery]'") from exc
    config: dict = {"config_source": {"task_default_queue": settings.celery_queue}}
    if settings.celery_broker:
        config["broker"] = {"env": "AISTOCK_CELERY_BROKER"}
    if settings.celery_backend:
        config["backend"] = {"env": "AISTOCK_CELERY_BACKEND"}
    return celery_executor.configured(config, name="celery_executor")
