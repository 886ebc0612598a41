"""The Celery app: configuration from Django settings (CELERY_*), tasks found in each app."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hpo_portal.settings")

app = Celery("hpo_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
def load_service_model(**kwargs) -> None:
    """Load botocore's SageMaker model once, before the pool forks: no first task pays ~0.7 s for it."""
    from hpo_jobs.sagemaker import spec

    spec.input_shape()
