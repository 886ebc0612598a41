"""Site-level views: /healthz, the login lockout page and the CSP violation report endpoint.

/healthz tells anyone whether the portal is up (200 "ok", or 503); only staff see why (hosts,
ports and error messages are for operators, not for anonymous visitors). With the SageMaker
engine it also reports AWS access as the workers last saw it (their calls and the sweep's periodic
check, stored in EngineHealth): a probe costs no AWS call, and a credentials problem shows as a
clear message. It does not turn the answer into a 503: restarting the web container does not fix
credentials.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from axes.helpers import get_client_username
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from .celery import app as celery_app

logger = logging.getLogger(__name__)


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
    from hpo_jobs.backends import get_backend
    from hpo_jobs.models import EngineHealth

    try:
        health = EngineHealth.objects.filter(backend=get_backend().name).first()
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
    """The portal's status as JSON, 503 when the database or broker is down; staff also get each check's detail."""
    from hpo_jobs.backends import get_backend

    db_ok, db_detail = _check_database()
    broker_ok, broker_detail = _check_broker()
    ok = db_ok and broker_ok
    body = {
        "status": "ok" if ok else "unavailable",
        "database": {"ok": db_ok, "detail": db_detail},
        "broker": {"ok": broker_ok, "detail": broker_detail},
    }
    if get_backend().capabilities.needs_credentials:
        aws_ok, aws_detail = _check_aws() if db_ok else (False, "unknown: the database is down")
        body["aws"] = {"ok": aws_ok, "detail": aws_detail}
        if ok and not aws_ok:
            body["status"] = "degraded"
    if body["status"] != "ok":
        logger.warning("healthz: %s", json.dumps(body))  # the detail, for operators, whoever asked
    if not request.user.is_staff:
        body = {"status": body["status"]}
    return JsonResponse(body, status=200 if ok else 503)


def login_locked_out(request: HttpRequest, original_response: HttpResponse | None = None,
                     credentials: dict[str, Any] | None = None) -> HttpResponse:
    """The login page's answer (429) once django-axes has locked out this username from this address."""
    context = {
        "username": get_client_username(request, credentials) or "",
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "lockout_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
    }
    return render(request, "registration/locked_out.html", context, status=429)


csp_logger = logging.getLogger("hpo_portal.csp")
MAX_CSP_REPORT_BYTES = 16 * 1024


@csrf_exempt  # browsers post reports without the page's CSRF token
@require_POST
@login_not_required
def csp_report(request: HttpRequest) -> HttpResponse:
    """Log a browser's Content-Security-Policy violation report; 204 whatever it holds."""
    body = request.body[:MAX_CSP_REPORT_BYTES]
    try:
        report = json.loads(body).get("csp-report", {})
    except (ValueError, AttributeError):
        report = {}
    if isinstance(report, dict) and report:
        csp_logger.warning(
            "CSP violation: %s blocked %s on %s",
            str(report.get("violated-directive") or report.get("effective-directive"))[:200],
            str(report.get("blocked-uri"))[:200], str(report.get("document-uri"))[:200],
        )
    return HttpResponse(status=204)
