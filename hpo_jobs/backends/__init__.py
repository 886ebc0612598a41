"""The engines that run tuning jobs; ``get_backend`` picks one by name (settings.HPO_BACKEND by default)."""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from .base import (  # noqa: F401  (re-exported: callers import errors from here)
    AlreadyExistsError,
    PROJECT_TAG,
    Backend,
    BackendError,
    Capabilities,
    CredentialsError,
    NotFoundError,
    PermanentBackendError,
    QuotaError,
    TransientBackendError,
)

ENGINES = {
    "local": "hpo_jobs.backends.local.LocalBackend",
    "sagemaker": "hpo_jobs.backends.sagemaker.SageMakerBackend",
}


def get_backend(name: str | None = None) -> Backend:
    """The engine called ``name`` (settings.HPO_BACKEND when omitted), built once per process."""
    return _engine(name or settings.HPO_BACKEND)


@cache
def _engine(name: str) -> Backend:
    try:
        path = ENGINES[name]
    except KeyError:
        raise ValueError(f"Unknown HPO backend {name!r}; choose one of {', '.join(ENGINES)}") from None
    return import_string(path)()
