"""The project's default executor, chosen by ``AISTOCK_EXECUTOR``: Dagster's multiprocess one, Celery, or
Kubernetes (``k8s``: `dagster_k8s.k8s_job_executor`, one pod per step, for the Helm deployment in deploy/k8s/).

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
    """The Celery or Kubernetes executor the settings ask for; None: Dagster's default (multiprocess)."""
    if settings.executor == "k8s":
        try:
            from dagster_k8s import k8s_job_executor
        except ImportError as exc:
            raise ConfigError("AISTOCK_EXECUTOR=k8s needs the k8s extra: pip install -e '.[k8s]'") from exc
        return k8s_job_executor
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
