"""The one seam between the portal and AWS: every boto3 client the portal uses comes from here.

Tests mock AWS at this seam only (moto, and botocore's Stubber on the clients returned here).
"""

from __future__ import annotations

import threading

import boto3
from botocore.config import Config
from django.conf import settings

_clients: dict[tuple[str, str, bool], object] = {}
_lock = threading.Lock()


def _config(interactive: bool) -> Config:
    if interactive:
        # A person is waiting on the page: fail fast with a clear message rather than hang.
        timeout = settings.AWS_INTERACTIVE_TIMEOUT_S
        return Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2, "mode": "standard"})
    # Workers: botocore's adaptive retries absorb throttling bursts before Celery's own backoff. A
    # poll has up to HPO_SYNC_CONCURRENCY describes in flight: a connection for each, kept for the next.
    return Config(connect_timeout=10, read_timeout=60, retries={"max_attempts": 5, "mode": "adaptive"},
                  max_pool_connections=max(10, settings.HPO_SYNC_CONCURRENCY))


def client(service_name: str, *, interactive: bool = False):
    """A boto3 client for ``service_name`` in settings.AWS_REGION, with the standard credential chain.

    Clients are thread-safe and cached per process, so a test can attach a Stubber to the same
    instance the code under test uses.
    """
    key = (service_name, settings.AWS_REGION, interactive)
    with _lock:
        if key not in _clients:
            _clients[key] = boto3.session.Session().client(
                service_name, region_name=settings.AWS_REGION, config=_config(interactive)
            )
        return _clients[key]


def reset_clients() -> None:
    """Forget cached clients (tests, and after settings change)."""
    with _lock:
        _clients.clear()
