"""Site-level views: /healthz.

With the SageMaker engine, /healthz also reports AWS access as the workers last saw it (their
calls and the sweep's periodic check, stored in EngineHealth): a probe costs no AWS call, and a
credentials problem shows as a clear message. It does not turn the answer into a 503: restarting
the web container does not fix credentials.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from django.contrib.auth.decorators import login_not_required

from .celery import app as celery_app


def _check_database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True, "ok"
    except Exception as exc:  # any failure means "down"; the reason is for operators
        return False, f"{type(exc).__name__}: {exc}"


def _check_broker() -> tuple[bool, str]:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True, "ok"
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"


def _check_aws() -> tuple[bool, str]:
    from hpo_jobs.models import EngineHealth

    try:
        health = EngineHealth.objects.filter(backend="sagemaker").first()
    except Exception as exc:
        return False, f"unknown: {type(exc).__name__}: {exc}"
    if health is None or health.checked_at is None:
        return True, f"not checked yet (the workers check every {settings.HPO_SWEEP_INTERVAL_S} s)"
    when = health.checked_at.isoformat(timespec="seconds")
    if health.ok:
        return True, f"ok (checked {when})"
    return False, f"{health.detail} (seen {when})"


@require_safe
@never_cache
@login_not_required
def healthz(request: HttpRequest) -> JsonResponse:
    """Database and broker reachability as JSON; 503 when either is down. With SageMaker, AWS access too."""
    db_ok, db_detail = _check_database()
    broker_ok, broker_detail = _check_broker()
    ok = db_ok and broker_ok
    body = {
        "status": "ok" if ok else "unavailable",
        "database": {"ok": db_ok, "detail": db_detail},
        "broker": {"ok": broker_ok, "detail": broker_detail},
    }
    if settings.HPO_BACKEND == "sagemaker":
        aws_ok, aws_detail = _check_aws() if db_ok else (False, "unknown: the database is down")
        body["aws"] = {"ok": aws_ok, "detail": aws_detail}
        if ok and not aws_ok:
            body["status"] = "degraded"
    return JsonResponse(body, status=200 if ok else 503)
